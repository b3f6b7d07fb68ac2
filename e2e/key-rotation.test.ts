// Server key rotation reaching a REAL `deployx agent` process through the real AgentGateway:
// after `deployx keys rotate` (the real command, on the data dir of a running gateway), the
// connected agent — which trusts only the old key — still verifies jobs (each carries both
// signatures during the grace period); after reconnecting it trusts the new key (learnt from a
// hello signed by the old one); once the grace period is over the old key signs nothing and the
// agent's next hello drops it from what it trusts.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Server } from 'socket.io';
import { silentLogger } from '../schemas/log.ts';
import { formatEnrollmentToken } from '../schemas/enrollment-token.ts';
import type { Job } from '../schemas/protocol.ts';
import { openSqliteStore } from '../reconciler/src/edges/store/sqlite-store.ts';
import { loadServerKeys } from '../reconciler/src/edges/keys/server-keys.ts';
import { AgentGateway, hashSecret } from '../reconciler/src/edges/transport/agent-gateway.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a key rotation reaches a connected real agent; the old key is dropped after the grace period', { timeout: 120_000 }, async () => {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-rotation-')));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'server');
  const store = await openSqliteStore({ file: join(dataDir, 'deployx.sqlite') }).catch(async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    return openSqliteStore({ file: join(dataDir, 'deployx.sqlite') });
  });
  cleanups.push(() => store.close());
  const keys = loadServerKeys(dataDir, { create: true, recheckMs: 100 });
  const oldKey = keys.current;
  await store.createEnrollmentToken({ id: 't1', name: 'rotation', tokenHash: hashSecret('dxe_rotation-secret'), labels: {} });

  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  const gateway = new AgentGateway(io, {
    store,
    log: silentLogger,
    now: () => new Date(),
    keys,
    hooks: { connected: () => {}, disconnected: () => {}, reported: () => {}, resulted: async () => {}, declaredDeviceFor: () => undefined },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await gateway.close();
    io.disconnectSockets(true);
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const stateDir = join(dir, 'agent');
  const env = { ...process.env };
  delete env.DEPLOYX_ENROLLMENT_TOKEN;
  const agent = spawn(
    process.execPath,
    [CLI, 'agent', '--server', url, '--token', formatEnrollmentToken('dxe_rotation-secret', oldKey), '--state', stateDir, '--root', join(dir, 'root'), '--heartbeat', '60s'],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  agent.stdout.setEncoding('utf8').on('data', (c: string) => lines.push(c));
  agent.stderr.setEncoding('utf8').on('data', (c: string) => lines.push(c));
  cleanups.push(() => agent.kill('SIGKILL'));

  const deviceId = await until(() => gateway.onlineDevices()[0], 30_000, 'the agent to enroll');
  // Online at the gateway before the agent has stored its key and begun its session: a job sent
  // then would find no session to take it.
  await until(() => lines.join('').includes('"msg":"connected"'), 30_000, "the agent's session");
  const trustedByAgent = async () => (JSON.parse(await readFile(join(stateDir, 'server-keys.json'), 'utf8')) as { keys: Array<{ keyid: string }> }).keys.map((k) => k.keyid);
  await until(async () => (await trustedByAgent())[0] === oldKey && (await trustedByAgent()).length === 1, 5_000, 'the agent to store the pinned key');
  let n = 0;
  const job = (): Job => ({ id: `job-${++n}`, deviceId, revision: 'main@sha1:1', idempotencyKey: `key-${n}`, steps: [], createdAt: new Date().toISOString() });
  assert.deepEqual(await gateway.sendJobs([job()], 10_000), [{ outcome: 'acked' }]);

  // Rotate with the real command while the agent stays connected; grace 6 s.
  const rotated = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [CLI, 'keys', 'rotate', '--grace', '6s', '--data', dataDir], { cwd: ROOT }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))),
  );
  const rotatedAt = Date.now();
  const newKey = await until(() => (keys.current !== oldKey ? keys.current : undefined), 5_000, 'the gateway to notice the rotation');
  assert.equal(newKey, rotated);
  assert.deepEqual(keys.signers().map((k) => k.keyid), [newKey, oldKey], 'both sign during the grace period');
  // The agent still trusts only the old key, and verifies the doubly signed job.
  assert.deepEqual(await trustedByAgent(), [oldKey]);
  assert.deepEqual(await gateway.sendJobs([job()], 10_000), [{ outcome: 'acked' }], lines.join(''));

  // Reconnect: the hello (signed by both) teaches it the new key.
  gateway.disconnect(deviceId);
  await until(async () => (await trustedByAgent()).join() === [newKey, oldKey].join(), 20_000, 'the agent to learn the new key');
  await until(() => gateway.isOnline(deviceId), 10_000, 'the agent to be back');
  assert.deepEqual(await gateway.sendJobs([job()], 10_000), [{ outcome: 'acked' }]);

  // After the grace period: only the new key signs, and after its next hello the agent trusts only it.
  await new Promise((r) => setTimeout(r, Math.max(0, rotatedAt + 6_500 - Date.now())));
  assert.deepEqual(keys.signers().map((k) => k.keyid), [newKey], 'the old key signs nothing');
  assert.deepEqual(await gateway.sendJobs([job()], 10_000), [{ outcome: 'acked' }], 'signed by the new key alone, verified');
  gateway.disconnect(deviceId);
  await until(async () => (await trustedByAgent()).join() === newKey, 20_000, 'the agent to drop the old key');
  assert.doesNotMatch(lines.join(''), /job refused|server not trusted/);
});
