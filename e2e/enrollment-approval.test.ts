// Enrollment approval (issue 12, weakness 4): an agent that claims a declared device with a token
// not bound to it waits as pending approval — connected, but given no job and its reports not
// stored — until an operator runs `deployx device approve`. A token bound to the device enrolls
// it directly. Real server, real git repo, real `deployx agent` processes, the real CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { testFleet } from './fleet.ts';
import { PROJECT_ROOT, api, spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';

const run = promisify(execFile);
const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** The device id an agent on this machine claims by its hostname (agent-gateway.ts deviceIdFrom). */
const CLAIMED = os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50);

function declaredFleet(extra = ''): ReturnType<typeof testFleet> {
  return {
    ...testFleet(),
    'devices.yaml': `apiVersion: deployx.dev/v1
kind: Device
metadata:
  name: ${CLAIMED}
  labels: { role: web }
spec: {}
`,
    ...(extra ? { 'fleet.yaml': extra } : {}),
  };
}

interface DeviceView {
  id: string;
  state: string;
  approval?: string;
}

test('a token not bound to a declared device cannot claim it until an operator approves; then it gets its jobs', async () => {
  const work = await tempDir('deployx-approval-');
  cleanups.push(work.remove);
  const repo = await makeRepo(path.join(work.dir, 'repo'), declaredFleet());
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
  cleanups.push(() => server.close());
  await waitFor('the first revision', () => server.reconciler.revision);

  const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'anyone', labels: { role: 'web' } });
  const root = path.join(work.dir, 'root');
  const agent: AgentProcess = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'agent'), root });
  cleanups.push(() => agent.kill());

  // It enrolls as the declared device it claims (its hostname), but only as pending approval.
  const pending = await waitFor('the claim to be recorded', async () => {
    const { devices } = await api<{ devices: DeviceView[] }>(server, '/api/v1/devices');
    // Listed as awaiting enrollment (declared in Git) until an agent claims it.
    return devices.find((d) => d.id === CLAIMED && d.state !== 'awaiting_enrollment');
  });
  assert.equal(pending.approval, 'pending', 'the claim of a declared device by an unbound token waits for approval');
  await waitFor('the pending agent to be connected', () => server.gateway.isOnline(CLAIMED));
  // Connected for a while: no job, nothing written, no report stored.
  await new Promise((r) => setTimeout(r, 4_000));
  assert.equal(existsSync(path.join(root, 'etc/e2e/app.conf')), false, 'a pending device runs nothing');
  assert.equal((await server.store.listJobs({ deviceId: CLAIMED, limit: 10 })).length, 0, 'no job is made for a pending device');
  assert.equal((await server.store.getDevice(CLAIMED))?.lastReportAt, undefined, 'its reports are not stored');
  assert.equal((await server.store.getObserved(CLAIMED))?.resources.length ?? 0, 0, 'its reports do not become the declared device\'s observed state');

  // `deployx device list` shows it pending; `deployx device approve` lets it in.
  const env = { ...process.env, DEPLOYX_API_TOKEN: server.apiToken };
  const list = await run(process.execPath, [CLI, 'device', 'list', '--server', server.url], { env, cwd: PROJECT_ROOT });
  assert.match(list.stdout, new RegExp(`${CLAIMED}\\s.*pending`));
  const approved = await run(process.execPath, [CLI, 'device', 'approve', CLAIMED, '--server', server.url], { env, cwd: PROJECT_ROOT });
  assert.match(approved.stdout, /approved/);
  await waitFor('the approved device to converge', () => existsSync(path.join(root, 'etc/e2e/app.conf')), 60_000);
  const after = await api<DeviceView>(server, `/api/v1/devices/${CLAIMED}`);
  assert.equal(after.approval ?? 'approved', 'approved');
});

test('a token bound to the declared device enrolls it directly; rejecting a pending claim frees the name', async () => {
  const work = await tempDir('deployx-approval-bound-');
  cleanups.push(work.remove);
  const repo = await makeRepo(path.join(work.dir, 'repo'), declaredFleet());
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
  cleanups.push(() => server.close());
  await waitFor('the first revision', () => server.reconciler.revision);
  const env = { ...process.env, DEPLOYX_API_TOKEN: server.apiToken };

  // An unbound claim, rejected: disconnected, and the declared name is free again.
  const { token: loose } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'loose' });
  const intruder = await spawnAgent({ server: server.url, token: loose, stateDir: path.join(work.dir, 'intruder'), root: path.join(work.dir, 'intruder-root') });
  cleanups.push(() => intruder.kill());
  await waitFor('the pending claim', async () => (await server.store.getDevice(CLAIMED))?.approval === 'pending');
  const rejected = await run(process.execPath, [CLI, 'device', 'reject', CLAIMED, '--server', server.url], { env, cwd: PROJECT_ROOT });
  assert.match(rejected.stdout, /rejected/);
  await waitFor('the rejected agent to be disconnected', () => !server.gateway.isOnline(CLAIMED));
  await intruder.kill();

  const { token: bound } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'bound', device: CLAIMED, labels: { role: 'web' } });
  const root = path.join(work.dir, 'root');
  const agent = await spawnAgent({ server: server.url, token: bound, stateDir: path.join(work.dir, 'agent'), root });
  cleanups.push(() => agent.kill());
  await waitFor('the bound device to converge', () => existsSync(path.join(root, 'etc/e2e/app.conf')), 60_000);
  assert.equal((await server.store.getDevice(CLAIMED))?.approval, undefined, 'a bound token needs no approval');
});
