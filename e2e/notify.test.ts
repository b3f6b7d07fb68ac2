// Fleet notifications from a running server: a webhook receiver on 127.0.0.1 hears about an
// accepted and a rejected revision; the webhook URL lives in the server's secrets, not in Git.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { startReceiver } from '../reconciler/src/edges/notify/test-receiver.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir } from './harness.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('revision accepted and rejected reach the fleet webhook', { timeout: 60_000 }, async () => {
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  const work = await tempDir('deployx-notify-');
  cleanups.push(work.remove);
  const dataDir = path.join(work.dir, 'server');
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, 'secrets.json'), JSON.stringify({ 'ops-webhook': `${receiver.url}/hooks/deployx` }), { mode: 0o600 });
  const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet({ webhookSecret: 'ops-webhook' }));
  const server = await startTestServer({ repo: repo.dir, dataDir });
  cleanups.push(() => server.close());

  await receiver.waitFor(1, 20_000);
  const accepted = JSON.parse(receiver.at('/hooks/deployx')[0]!.body) as { type: string; summary: string };
  assert.equal(accepted.type, 'revision.accepted');

  await repo.commit(testFleet({ webhookSecret: 'ops-webhook', schemaError: true }), 'Typo in the profile');
  server.reconciler.enqueueSource();
  await receiver.waitFor(2, 20_000);
  const rejected = JSON.parse(receiver.at('/hooks/deployx')[1]!.body) as { type: string; summary: string; errors: Array<{ file: string; line: number; code: string }> };
  assert.equal(rejected.type, 'revision.rejected');
  assert.deepEqual(rejected.errors.map((e) => [e.file, e.line, e.code]), [['profiles.yaml', 10, 'schema.unknown-key']]);
  assert.match(rejected.summary, /rejected: 1 error .*profiles\.yaml:10/);
});
