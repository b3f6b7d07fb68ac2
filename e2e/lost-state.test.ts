// An agent that loses its state (state dir wiped, simulator restarted): the server asks on every
// connection which of its open jobs the device holds, requeues the ones it does not, and never
// shows a device whose observed state vanished as in sync.
import assert from 'node:assert/strict';
import { readFile, readdir, rm } from 'node:fs/promises';
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
  reason?: string;
}

async function jobsOf(server: RunningServer): Promise<JobView[]> {
  return (await api<{ jobs: JobView[] }>(server, '/api/v1/jobs?limit=1000')).jobs;
}

async function deviceState(server: RunningServer): Promise<string | undefined> {
  const { devices } = await api<{ devices: Array<{ state: string }> }>(server, '/api/v1/devices');
  return devices[0]?.state;
}

/** Empties the state dir as a wipe would, keeping only the machine's identity (as /etc/machine-id survives). */
async function wipeState(stateDir: string): Promise<void> {
  for (const entry of await readdir(stateDir)) {
    if (entry !== 'machine-id') await rm(path.join(stateDir, entry), { recursive: true, force: true });
  }
}

describe('an agent that lost its state', { timeout: 150_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('a running job the wiped agent no longer holds is requeued and the device is never in sync meanwhile', async () => {
    const work = await tempDir('deployx-wiped-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'wipe', labels: { role: 'web' }, maxUses: 2 });
    const root = path.join(work.dir, 'root');
    const state = path.join(work.dir, 'state');
    let agent: AgentProcess = await spawnAgent({ server: server.url, token, stateDir: state, root });
    cleanups.push(() => agent.kill());
    await waitFor('in sync', async () => (await deviceState(server)) === 'in_sync', 60_000);

    await repo.commit(testFleet({ scriptSeconds: 8, appConf: 'listen = 3\n' }), 'slow script');
    server.reconciler.enqueueSource();
    const started = path.join(root, 'var/lib/e2e/started');
    await waitFor('the script to start', async () => (await readFile(started, 'utf8').catch(() => '')).length > 0, 30_000);
    const lost = await waitFor('the job running', async () => (await jobsOf(server)).find((j) => j.state === 'running'), 15_000);
    await agent.kill('SIGKILL');
    await wipeState(state);

    agent = await spawnAgent({ server: server.url, token, stateDir: state, root });
    const seen: string[] = [];
    const requeued = await waitFor('the lost job requeued', async () => {
      const state = await deviceState(server);
      if (state !== undefined) seen.push(state);
      const job = (await jobsOf(server)).find((j) => j.id === lost.id);
      return job !== undefined && job.state !== 'running' ? job : undefined;
    }, 20_000);
    assert.equal(requeued.state, 'failed');
    assert.match(requeued.reason ?? '', /agent/);
    const fresh = await waitFor('a fresh job for the same revision succeeded', async () => {
      // The state first: when no fresh job had succeeded after it was read, none had before.
      const state = await deviceState(server);
      const done = (await jobsOf(server)).find((j) => j.id !== lost.id && j.revision === lost.revision && j.state === 'succeeded');
      if (!done && state !== undefined) seen.push(state);
      return done;
    }, 60_000);
    assert.ok(fresh);
    assert.ok(!seen.includes('in_sync'), `never in sync while its job was lost: ${seen.join(',')}`);
    await waitFor('in sync again', async () => (await deviceState(server)) === 'in_sync', 30_000);
    assert.equal(await readFile(path.join(root, 'etc/e2e/app.conf'), 'utf8'), 'listen = 3\n');
  });

  test('a device whose observed state vanished is not in sync until its resources are applied again', async () => {
    const work = await tempDir('deployx-vanished-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'vanish', labels: { role: 'web' }, maxUses: 2 });
    const root = path.join(work.dir, 'root');
    const state = path.join(work.dir, 'state');
    let agent: AgentProcess = await spawnAgent({ server: server.url, token, stateDir: state, root });
    cleanups.push(() => agent.kill());
    await waitFor('in sync', async () => (await deviceState(server)) === 'in_sync', 60_000);
    const before = await jobsOf(server);
    await agent.kill('SIGKILL');
    await wipeState(state);
    await rm(path.join(root, 'etc/e2e/motd'));

    agent = await spawnAgent({ server: server.url, token, stateDir: state, root });
    // The wiped agent reports an empty observed set; what DeployX applied must be applied again
    // (files are re-adopted), not taken for converged.
    const again = await waitFor('a job that applies the files again', async () => {
      const jobs = await jobsOf(server);
      return jobs.length > before.length && jobs.find((j) => !before.some((b) => b.id === j.id) && j.state === 'succeeded');
    }, 30_000);
    assert.ok(again);
    await waitFor('in sync again', async () => (await deviceState(server)) === 'in_sync', 30_000);
    assert.equal(await readFile(path.join(root, 'etc/e2e/motd'), 'utf8'), 'Managed by DeployX\n');
  });
});
