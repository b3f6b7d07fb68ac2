// `deployx keys rotate` is an operator action: on a real data dir it rotates the key ring and
// records who did it in the audit log (actor `cli:<login>`), with both fingerprints.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadServerKeys } from '../../../reconciler/src/edges/keys/server-keys.ts';
import { openSqliteStore } from '../../../reconciler/src/edges/store/sqlite-store.ts';
import { runKeys } from './keys.ts';

test('keys rotate records the rotation in the audit log', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'deployx-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const before = loadServerKeys(dir, { create: true }).current;
  (await openSqliteStore({ file: path.join(dir, 'deployx.sqlite') })).close();
  const out: string[] = [];
  const err: string[] = [];
  const code = await runKeys(['rotate', '--grace', '1h', '--data', dir], { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, readSecret: async () => '' });
  assert.equal(code, 0, err.join('\n'));
  const store = await openSqliteStore({ file: path.join(dir, 'deployx.sqlite') });
  t.after(() => store.close());
  const entries = await store.listAudit({ limit: 10 });
  const rotation = entries.find((e) => e.action === 'server-key.rotate');
  assert.ok(rotation, `audit entries: ${JSON.stringify(entries)}`);
  assert.equal(rotation.actor, `cli:${userInfo().username}`);
  assert.equal(rotation.target, `server-key:${out[0]}`);
  assert.equal(rotation.outcome, 'success');
  assert.deepEqual(rotation.details, { retired: before, validUntil: rotation.details?.validUntil });
});
