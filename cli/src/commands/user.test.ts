// `deployx user` and `deployx token create --api` on a real SQLite file in a temp dir, then a
// real login against that data dir.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { openSqliteStore } from '../../../reconciler/src/edges/store/sqlite-store.ts';
import { hashSecret } from '../../../reconciler/src/edges/transport/agent-gateway.ts';
import type { CommandIo } from '../io.ts';
import { runToken } from './token.ts';
import { runUser } from './user.ts';

function io(cwd: string, secret = 'a long enough password'): CommandIo & { lines: string[]; errors: string[]; prompts: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  const prompts: string[] = [];
  return {
    lines,
    errors,
    prompts,
    out: (l) => lines.push(...l.split('\n')),
    err: (l) => errors.push(...l.split('\n')),
    cwd,
    readSecret: async (prompt) => {
      prompts.push(prompt);
      return secret;
    },
  };
}

describe('deployx user', () => {
  it('creates, refuses duplicates and weak input, resets, lists and deletes', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployx-user-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = ['--data', 'srv'];

    const first = io(dir);
    assert.equal(await runUser(['create', '--name', 'ada', '--role', 'admin', ...data], first), 0);
    assert.deepEqual(first.prompts, ['password for ada: ']);
    assert.deepEqual(first.lines, [], 'nothing secret on stdout');

    const dup = io(dir);
    assert.equal(await runUser(['create', '--name', 'ada', '--role', 'viewer', ...data], dup), 1);
    assert.match(dup.errors.join('\n'), /--reset/);

    const weak = io(dir, 'short');
    assert.equal(await runUser(['create', '--name', 'bob', '--role', 'viewer', ...data], weak), 1);
    assert.match(weak.errors.join('\n'), /at least 10 characters/);

    const badRole = io(dir);
    assert.equal(await runUser(['create', '--name', 'bob', '--role', 'root', ...data], badRole), 1);
    assert.match(badRole.errors.join('\n'), /use viewer, operator, admin/);

    assert.equal(await runUser(['create', '--name', 'ada', '--role', 'operator', '--reset', ...data], io(dir, 'another long password')), 0);
    const listed = io(dir);
    assert.equal(await runUser(['list', ...data], listed), 0);
    assert.match(listed.lines[0]!, /^ada\s+operator /);

    const store = await openSqliteStore({ file: path.join(dir, 'srv', 'deployx.sqlite') });
    try {
      const ada = await store.getUser('ada');
      assert.ok(await bcrypt.compare('another long password', ada!.passwordHash));
    } finally {
      await store.close();
    }
    assert.equal(await runUser(['delete', 'ada', ...data], io(dir)), 0);
    assert.equal(await runUser(['delete', 'ada', ...data], io(dir)), 1);
    assert.equal(await runUser(['create', '--name', 'x', ...data], io(dir)), 2, 'usage');
  });

  it('token create --api prints the token once and stores its hash with the role', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployx-apitoken-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const created = io(dir);
    assert.equal(await runToken(['create', '--api', '--role', 'operator', '--name', 'chatops', '--expires', '30d', '--data', 'srv'], created), 0);
    const token = created.lines[0]!;
    assert.match(token, /^dxa_[\w-]{43}$/);
    assert.equal(await runToken(['create', '--api', '--name', 'x', '--data', 'srv'], io(dir)), 2, '--role is required');
    assert.equal(await runToken(['create', '--role', 'viewer', '--name', 'x', '--data', 'srv'], io(dir)), 2, '--role needs --api');

    const store = await openSqliteStore({ file: path.join(dir, 'srv', 'deployx.sqlite') });
    try {
      const found = await store.findApiToken(hashSecret(token), new Date().toISOString());
      assert.equal(found?.role, 'operator');
      assert.ok(found?.expiresAt);
    } finally {
      await store.close();
    }
    const listed = io(dir);
    assert.equal(await runToken(['list', '--data', 'srv'], listed), 0);
    assert.match(listed.lines.join('\n'), /api\s+chatops\s+active\s+role operator/);
    assert.ok(!listed.lines.join('\n').includes(token), 'list never shows the secret');
  });
});
