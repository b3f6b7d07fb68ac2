// `deployx audit verify` on a real SQLite file: the CLI's own user and token changes are entries
// (actor `cli:<login>`), and an attacker with the file — the sqlite3 package, triggers dropped —
// who edits one row, removes one in the middle, or removes the last one, is named.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import sqlite3 from 'sqlite3';
import { openSqliteStore } from '../../../reconciler/src/edges/store/sqlite-store.ts';
import type { CommandIo } from '../io.ts';
import { runAudit } from './audit.ts';
import { runToken } from './token.ts';
import { runUser } from './user.ts';

function io(cwd: string): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(...l.split('\n')),
    err: (l) => errors.push(...l.split('\n')),
    cwd,
    readSecret: async () => 'a long enough password',
  };
}

/** What an attacker with the file does: plain SQL through the sqlite3 package. */
async function tamper(file: string, sql: string): Promise<void> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
  });
  await new Promise<void>((resolve, reject) =>
    db.exec(`DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; ${sql}`, (err) => (err ? reject(err) : resolve())),
  );
  await new Promise<void>((resolve) => db.close(() => resolve()));
}

describe('deployx audit', () => {
  it('records the CLI user and token changes with the CLI user as actor, and verifies the chain', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployx-audit-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = ['--data', 'srv'];
    assert.equal(await runUser(['create', '--name', 'ada', '--role', 'viewer', ...data], io(dir)), 0);
    assert.equal(await runUser(['create', '--name', 'ada', '--role', 'admin', '--reset', ...data], io(dir)), 0);
    const api = io(dir);
    assert.equal(await runToken(['create', '--api', '--role', 'operator', '--name', 'chatops', ...data], api), 0);
    const enroll = io(dir);
    assert.equal(await runToken(['create', '--name', 'lab', ...data], enroll), 0);
    const listed = io(dir);
    await runToken(['list', ...data], listed);
    const apiId = listed.lines.find((l) => l.includes(' api '))!.split(' ')[0]!;
    assert.equal(await runToken(['revoke', apiId, ...data], io(dir)), 0);
    assert.equal(await runUser(['delete', 'ada', ...data], io(dir)), 0);

    const file = path.join(dir, 'srv', 'deployx.sqlite');
    const store = await openSqliteStore({ file });
    const entries = (await store.listAudit({ limit: 100 })).reverse();
    await store.close();
    const actor = `cli:${userInfo().username}`;
    assert.deepEqual(
      entries.map((e) => [e.actor, e.action, e.target, e.outcome]),
      [
        [actor, 'user.create', 'user:ada', 'success'],
        [actor, 'user.update', 'user:ada', 'success'],
        [actor, 'api-token.create', `api-token:${apiId}`, 'success'],
        [actor, 'enrollment-token.create', entries[3]!.target, 'success'],
        [actor, 'api-token.revoke', `api-token:${apiId}`, 'success'],
        [actor, 'user.delete', 'user:ada', 'success'],
      ],
    );
    assert.deepEqual(entries[1]!.details, { role: 'admin' });
    assert.ok(!JSON.stringify(entries).includes(api.lines[0]!), 'the token itself is not in the log');

    const ok = io(dir);
    assert.equal(await runAudit(['verify', ...data], ok), 0, ok.errors.join('\n'));
    assert.match(ok.lines.join('\n'), /^audit log intact: 6 entries, head 6 [0-9a-f]{64}$/);
  });

  it('fails naming the first edited entry, a removed entry and a removed last entry', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployx-audit-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = ['--data', 'srv'];
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5']) assert.equal(await runUser(['create', '--name', name, '--role', 'viewer', ...data], io(dir)), 0);
    const file = path.join(dir, 'srv', 'deployx.sqlite');

    // The last entry removed: the head record still names 5.
    await tamper(file, 'DELETE FROM audit_log WHERE seq = 5');
    const truncated = io(dir);
    assert.equal(await runAudit(['verify', ...data], truncated), 1);
    assert.equal(truncated.errors.length, 1);
    assert.match(truncated.errors[0]!, /audit entry 5 .*removed/);

    // An edited row (the actor rewritten), further up: named, not the missing tail.
    await tamper(file, "UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 2");
    const edited = io(dir);
    assert.equal(await runAudit(['verify', ...data], edited), 1);
    assert.equal(edited.errors.length, 1);
    assert.match(edited.errors[0]!, /audit entry 2 .*edited/);

    // A removed row in the middle.
    await tamper(file, 'DELETE FROM audit_log WHERE seq = 2');
    const gap = io(dir);
    assert.equal(await runAudit(['verify', ...data], gap), 1);
    assert.match(gap.errors[0]!, /audit entry 2 .*removed/);
  });

  it('answers --help and refuses a missing data dir', async () => {
    const help = io(tmpdir());
    assert.equal(await runAudit(['verify', '--help'], help), 0);
    assert.match(help.lines.join('\n'), /deployx audit verify/);
    const missing = io(tmpdir());
    assert.equal(await runAudit(['verify', '--data', '/nonexistent/deployx'], missing), 2);
    assert.equal(missing.errors.length, 1);
  });
});
