// The loop's retry history lives in the store: a server restarted while a device waits out its
// retry backoff keeps waiting (and keeps showing why) instead of starting the count again.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { api, spawnAgent, startTestServer, tempDir, waitFor } from './harness.ts';

/** The test fleet with only the script, which always fails. */
function failingFleet() {
  const fleet = testFleet();
  fleet['scripts/mark.sh'] = '#!/bin/sh\nexit 3\n';
  fleet['profiles.yaml'] = String(fleet['profiles.yaml']).replace('files: [app-conf, motd]', 'files: []');
  return fleet;
}

async function device(server: RunningServer): Promise<{ state: string; reason: string } | undefined> {
  return (await api<{ devices: Array<{ state: string; reason: string }> }>(server, '/api/v1/devices')).devices[0];
}

async function failedJobs(server: RunningServer): Promise<number> {
  return (await server.store.listJobs({ limit: 100 })).filter((j) => j.state === 'failed').length;
}

describe('retry history across a restart', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('a restarted server keeps a device\'s failure count and backoff', async () => {
    const work = await tempDir('deployx-retry-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), failingFleet());
    const dataDir = path.join(work.dir, 'server');
    let server = await startTestServer({ repo: repo.dir, dataDir });
    const port = (server.io.httpServer.address() as AddressInfo).port;
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'retry', labels: { role: 'web' } });
    const agent = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'state'), root: path.join(work.dir, 'root') });
    cleanups.push(() => agent.kill());

    // Two failures: the second retry waits 20 s.
    await waitFor('two failed jobs', async () => (await failedJobs(server)) === 2, 40_000);
    await waitFor('the second backoff', async () => /^retry 2 in/.test((await device(server))?.reason ?? ''), 10_000);
    await server.close();
    server = await startTestServer({ repo: repo.dir, dataDir, port });
    cleanups.push(() => server.close());

    // Before any pass, and after the agent is back and its pass ran, the count is the one before.
    const shown = await device(server);
    assert.equal(shown?.state, 'failed');
    assert.match(shown?.reason ?? '', /^retry 2 in/);
    await waitFor('the agent back', () => server.gateway.connectedCount === 1, 30_000);
    await waitFor('its pass', async () => /^retry 2 in/.test((await device(server))?.reason ?? '') && server.reconciler.timings.devicePasses > 0, 10_000);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(await failedJobs(server), 2, 'no job before the backoff ends');
    assert.ok(!(await server.store.listJobs({ limit: 100 })).some((j) => j.state !== 'failed'), 'no new job while backing off');
  });
});
