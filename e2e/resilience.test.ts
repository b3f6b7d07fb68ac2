// Crashes: an agent killed with SIGKILL in the middle of a job, and the server restarted while
// jobs run. Results must arrive exactly once and nothing may be applied twice.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { api, spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';

interface JobView {
  id: string;
  deviceId: string;
  state: string;
  revision: string;
  idempotencyKey: string;
  rolloutId?: string;
  result?: { status: string };
}

const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

async function jobsOf(server: RunningServer): Promise<JobView[]> {
  return (await api<{ jobs: JobView[] }>(server, '/api/v1/jobs?limit=1000')).jobs;
}

async function inSync(server: RunningServer, count: number): Promise<void> {
  await waitFor(`${count} devices in sync`, async () => {
    const { devices } = await api<{ devices: Array<{ state: string }> }>(server, '/api/v1/devices');
    return devices.length === count && devices.every((d) => d.state === 'in_sync');
  }, 60_000);
}

describe('crash safety', { timeout: 180_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('an agent killed with SIGKILL mid-job and restarted delivers the result exactly once', async () => {
    const work = await tempDir('deployx-kill-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'kill', labels: { role: 'web' } });
    const root = path.join(work.dir, 'root');
    const state = path.join(work.dir, 'state');
    let agent: AgentProcess = await spawnAgent({ server: server.url, token, stateDir: state, root });
    cleanups.push(() => agent.kill());
    await inSync(server, 1);

    await repo.commit(testFleet({ scriptSeconds: 3, appConf: 'listen = 1\n' }), 'slow script');
    server.reconciler.enqueueSource();
    const started = path.join(root, 'var/lib/e2e/started');
    await waitFor('the script to start', async () => (await lines(started)).length === 1, 30_000);
    const job = (await jobsOf(server)).find((j) => j.state !== 'succeeded')!;
    assert.ok(job, 'the slow job is open');
    await agent.kill('SIGKILL');

    agent = await spawnAgent({ server: server.url, stateDir: state, root });
    const done = await waitFor('the job to finish', async () => {
      const j = (await jobsOf(server)).find((x) => x.id === job.id);
      return j?.state === 'succeeded' ? j : undefined;
    }, 60_000);
    assert.equal(done.result?.status, 'succeeded');
    await inSync(server, 1);
    const all = await jobsOf(server);
    assert.equal(all.filter((j) => j.revision === job.revision).length, 1, 'no second job for the same revision');
    assert.deepEqual(await lines(path.join(root, 'var/lib/e2e/marker')), ['ran 2', 'ran 1'], 'the script completed once per revision');
    // The killed agent's script was waited for, not started a second time (issue 11 item 1).
    assert.deepEqual(await lines(started), ['started'], 'the slow script started once');
    assert.equal((await readFile(path.join(root, 'etc/e2e/app.conf'), 'utf8')), 'listen = 1\n');
  });

  test('a change for an offline device waits in its rollout and goes out when it reconnects', async () => {
    const work = await tempDir('deployx-offline-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'offline', labels: { role: 'web' } });
    const root = path.join(work.dir, 'root');
    const state = path.join(work.dir, 'state');
    let agent = await spawnAgent({ server: server.url, token, stateDir: state, root });
    cleanups.push(() => agent.kill());
    await inSync(server, 1);
    await agent.kill('SIGTERM');
    await waitFor('the device offline', async () => server.gateway.connectedCount === 0);

    const before = (await jobsOf(server)).length;
    await repo.commit(testFleet({ appConf: 'offline change\n' }), 'while offline');
    server.reconciler.enqueueSource();
    // The change is a rollout; an offline device is counted apart (waiting), never as a failure,
    // and gets no job until it is back.
    const rollout = await waitFor('the rollout', async () => {
      const { rollouts } = await api<{ rollouts: Array<{ id: string; counts: { offline: number; failed: number; total: number } }> }>(server, '/api/v1/rollouts');
      return rollouts[0]?.counts.offline === 1 ? rollouts[0] : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await jobsOf(server)).length, before, 'no job while the device is offline');
    const { devices } = await api<{ devices: Array<{ state: string; reason: string }> }>(server, '/api/v1/devices');
    assert.equal(devices[0]?.state, 'converging');
    assert.match(devices[0]!.reason, new RegExp(`waiting for rollout ${rollout.id} .*\\(offline\\)`));

    agent = await spawnAgent({ server: server.url, stateDir: state, root });
    await waitFor('the change delivered', async () => (await jobsOf(server)).some((j) => j.rolloutId === rollout.id && j.state === 'succeeded'), 30_000);
    assert.equal(await readFile(path.join(root, 'etc/e2e/app.conf'), 'utf8'), 'offline change\n');
    await waitFor('the rollout completed', async () => (await api<{ status: string }>(server, `/api/v1/rollouts/${rollout.id}`)).status === 'completed', 30_000);
  });

  test('the server restarted mid-rollout: state persists, agents reconnect, nothing is lost or run twice', async () => {
    const work = await tempDir('deployx-restart-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const dataDir = path.join(work.dir, 'server');
    let server = await startTestServer({ repo: repo.dir, dataDir });
    const port = (server.io.httpServer.address() as AddressInfo).port;
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'restart', labels: { role: 'web' }, maxUses: 3 });
    const roots = [0, 1, 2].map((i) => path.join(work.dir, `root-${i}`));
    const agents = await Promise.all(roots.map((root, i) => spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, `state-${i}`), root })));
    cleanups.push(() => Promise.all(agents.map((a) => a.kill())));
    await inSync(server, 3);
    const devicesBefore = (await api<{ devices: Array<{ id: string }> }>(server, '/api/v1/devices')).devices.map((d) => d.id).sort();

    await repo.commit(testFleet({ scriptSeconds: 2, appConf: 'listen = 2\n' }), 'slow rollout');
    server.reconciler.enqueueSource();
    await waitFor('every script to start', async () => {
      const counts = await Promise.all(roots.map((r) => lines(path.join(r, 'var/lib/e2e/started'))));
      return counts.every((c) => c.length === 1);
    }, 30_000);
    await server.close();
    await new Promise((r) => setTimeout(r, 1_000));
    server = await startTestServer({ repo: repo.dir, dataDir, port });
    cleanups.push(() => server.close());

    await inSync(server, 3);
    const devicesAfter = (await api<{ devices: Array<{ id: string }> }>(server, '/api/v1/devices')).devices.map((d) => d.id).sort();
    assert.deepEqual(devicesAfter, devicesBefore, 'the same devices, no re-enrollment');
    const revisions = await api<{ revisions: unknown[] }>(server, '/api/v1/revisions');
    assert.equal(revisions.revisions.length, 2, 'both revisions remembered');
    const all = await jobsOf(server);
    assert.equal(all.length, 6, 'one job per device per revision');
    assert.ok(all.every((j) => j.state === 'succeeded' && j.result?.status === 'succeeded'), JSON.stringify(all.map((j) => j.state)));
    for (const root of roots) {
      assert.deepEqual(await lines(path.join(root, 'var/lib/e2e/marker')), ['ran 2', 'ran 1']);
      assert.deepEqual(await lines(path.join(root, 'var/lib/e2e/started')), ['started'], 'the slow script ran once');
    }
  });
});
