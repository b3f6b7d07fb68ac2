// Reports that change nothing cost nothing: a real server (SQLite, a local Git repository) and
// simulated devices speaking the real protocol.
//
// A device gets a pass when its report observed something new or changed a fact compile reads (a
// group selector's path, the package manager); a heartbeat that changes neither is stored and
// skipped. What heartbeats used to drive by accident — a `run: {every}` script falling due — the
// loop now does on time by itself, with heartbeats an hour apart.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startSimulation, type Simulation, type SimulationOptions } from '../agent/src/simulator/index.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';

const SITE = '/etc/quiet/site.conf';
const GOLD = '/etc/quiet/gold.conf';

/** Everyone at the lab gets SITE; devices whose `labels.tier` fact is gold also get GOLD; `tick` runs every 2 s where given. */
function fleet(options: { tick?: boolean } = {}): FileTree {
  return {
    'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: quiet }\nspec: {}\n',
    'groups.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata: { name: lab }
spec:
  selector: { matchLabels: { site: lab } }
---
apiVersion: deployx.dev/v1
kind: Group
metadata: { name: gold }
spec:
  selector:
    matchFacts: [{ key: labels.tier, operator: In, values: [gold] }]
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata: { name: site }
spec: { path: ${SITE}, content: "lab\\n" }
---
apiVersion: deployx.dev/v1
kind: FileDeployment
metadata: { name: gold }
spec: { path: ${GOLD}, content: "gold\\n" }
---
apiVersion: deployx.dev/v1
kind: Profile
metadata: { name: lab }
spec:
  targets: [lab]
  files: [site]
${options.tick ? '  scripts: [tick]\n' : ''}---
apiVersion: deployx.dev/v1
kind: Profile
metadata: { name: gold }
spec:
  targets: [gold]
  files: [gold]
${
  options.tick
    ? `---
apiVersion: deployx.dev/v1
kind: Script
metadata: { name: tick }
spec:
  interpreter: sh
  content: "true\\n"
  run: { every: 2s }
`
    : ''
}`,
  };
}

describe('quiet reports', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function setup(prefix: string, files: FileTree, simulation: Partial<SimulationOptions>): Promise<{ server: RunningServer; sim: Simulation }> {
    const work = await tempDir(prefix);
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), files);
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'sim', labels: { site: 'lab' } });
    const sim = await startSimulation({ server: server.url, agents: 10, token, stateDir: path.join(work.dir, 'sim'), labels: { site: 'lab' }, batchSize: 10, ...simulation });
    cleanups.push(() => sim.stop());
    await sim.ready;
    return { server, sim };
  }

  test('heartbeats that observe the same and change no fact compile reads get no pass; a changed fact does', async () => {
    const { server, sim } = await setup('deployx-quiet-', fleet(), { heartbeatMs: 1_000 });
    await waitFor('every device holding the site file', () => sim.devices.every((d) => d.host.files.has(SITE)), 30_000);
    await waitFor('every device in sync', () => [...server.reconciler.statuses.values()].filter((s) => s.state === 'in_sync').length === 10, 30_000);
    // Quiet: every device's report after its job (which observed the new file) is stored, two more
    // heartbeats each say so; and no pass for longer than the ack deadline a pass that saw a job
    // still open may have armed (3 s in the harness).
    const acked = () => sim.devices.map((d) => d.counters.reportsAcked);
    const base = acked();
    await waitFor('two more heartbeats from every device', () => acked().every((n, i) => n >= base[i]! + 2), 15_000);
    let seen = -1;
    await waitFor('no device pass for 3.5 s', async () => {
      const now = server.reconciler.timings.devicePasses;
      const quiet = now === seen && server.reconciler.pendingDevices === 0;
      seen = now;
      if (!quiet) await new Promise((resolve) => setTimeout(resolve, 3_500));
      return quiet;
    }, 30_000);

    // Three seconds of heartbeats from ten devices, one with a fact compile does not read changing.
    const passes = server.reconciler.timings.devicePasses;
    const planned = () => new Map([...server.reconciler.statuses].map(([id, s]) => [id, s.updatedAt]));
    const before = planned();
    const stored = server.gateway.ingest.reportsStored;
    const disk = sim.device('sim-2')!.facts.disks![0]!;
    disk.freeBytes -= 1024 ** 3;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.ok(server.gateway.ingest.reportsStored - stored >= 20, `heartbeats stored: ${server.gateway.ingest.reportsStored - stored}`);
    const replanned = [...planned()].filter(([id, at]) => before.get(id) !== at).map(([id]) => id);
    assert.deepEqual(replanned, [], 'no device planned again for heartbeats that change nothing a plan reads');
    assert.equal(server.reconciler.timings.devicePasses, passes);
    assert.equal((await server.store.getDevice('sim-2'))?.facts.disks?.[0]?.freeBytes, disk.freeBytes, 'the facts are stored all the same');

    // A fact a group selects on: sim-1 joins `gold` with its next heartbeat and gets its file.
    (sim.device('sim-1')!.facts.labels as Record<string, string>).tier = 'gold';
    await waitFor('sim-1 holding the gold file', () => sim.device('sim-1')!.host.files.has(GOLD), 15_000);
    assert.ok(server.reconciler.timings.devicePasses > passes);
    assert.deepEqual(server.reconciler.memberships.get('sim-1')?.groups, ['gold', 'lab']);
    assert.ok(sim.devices.filter((d) => d.name !== 'sim-1').every((d) => !d.host.files.has(GOLD)));
  });

  test('a `run: {every: 2s}` script runs again on time with heartbeats an hour apart', async () => {
    const { sim } = await setup('deployx-quiet-every-', fleet({ tick: true }), { heartbeatMs: 3_600_000 });
    await waitFor('every device holding the site file', () => sim.devices.every((d) => d.host.files.has(SITE)), 30_000);
    const runs = () => sim.devices.map((d) => d.counters.jobsSucceeded);
    const first = runs();
    // The loop wakes each device when its schedule falls due (every 2 s): a few more runs each.
    await waitFor('every device running the schedule three more times', () => runs().every((n, i) => n >= first[i]! + 3), 20_000);
  });
});
