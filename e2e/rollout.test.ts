// Rollouts end to end: a real server (SQLite, a local Git repository), 50 simulated devices
// speaking the real protocol, a webhook receiver on 127.0.0.1, and `deployx rollout`.
//
// Every device gets /etc/rollout/greeting from the profile `web`, rolled out in waves canary (1),
// early (10 % = 5) and rest (44), halting when a wave has more than 10 % failed (rounded down: a
// single failure in the canary or in early halts). Devices are taken by name: sim-1 is the canary,
// sim-10 … sim-14 are early. Ten devices (20 %) fail every job: sim-10 and sim-11 in early, sim-2
// … sim-9 in rest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startSimulation, type Simulation, type SimulationOptions } from '../agent/src/simulator/index.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { runRollout } from '../cli/src/commands/rollout.ts';
import type { CommandIo } from '../cli/src/io.ts';
import { makeRepo, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import { startReceiver, type Receiver } from '../reconciler/src/edges/notify/test-receiver.ts';
import { io as connectUi } from 'socket.io-client';
import { UI_NAMESPACE, type RolloutDelta, type UiNotification } from '../schemas/protocol.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { api, startTestServer, tempDir, waitFor } from './harness.ts';

const GREETING = '/etc/rollout/greeting';
const FAILING = ['sim-10', 'sim-11', 'sim-2', 'sim-3', 'sim-4', 'sim-5', 'sim-6', 'sim-7', 'sim-8', 'sim-9'];
const CANARY = ['sim-1'];
const EARLY = ['sim-10', 'sim-11', 'sim-12', 'sim-13', 'sim-14'];

interface Policy {
  waves: string;
  failureThreshold?: string;
}

const POLICY: Policy = {
  waves: `
      - { name: canary, size: 1 }
      - { name: early, size: "10%" }
      - { name: rest, size: rest }`,
  failureThreshold: '"10%"',
};

function fleet(greeting: string, policy: Policy = POLICY): FileTree {
  return {
    'fleet.yaml': `apiVersion: deployx.dev/v1
kind: Fleet
metadata:
  name: rollout-e2e
spec:
  notifiers:
    - name: ops
      type: webhook
      urlSecret: ops-webhook
`,
    'groups.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: web
spec:
  selector:
    matchLabels: { role: web }
`,
    'files.yaml': `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: greeting
spec:
  path: ${GREETING}
  content: ${JSON.stringify(greeting)}
  mode: "0644"
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: web
spec:
  targets: [web]
  files: [greeting]
  rollout:
    waves:${policy.waves}
${policy.failureThreshold ? `    failureThreshold: ${policy.failureThreshold}\n` : ''}    pauseBetweenWaves: 1s
    retries: 0
`,
  };
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

interface Counts {
  total: number;
  waiting: number;
  running: number;
  succeeded: number;
  failed: number;
  retrying: number;
  offline: number;
}

interface RolloutView {
  id: string;
  revision: string;
  profile: string | null;
  status: string;
  supersededBy: string | null;
  counts: Counts;
  awaitingPromotion: number | null;
  halted: { wave: number; name: string; threshold: number; devices: string[]; failedDevices: Array<{ device: string; error?: string; output?: string }> } | null;
  waves: Array<{ name: string; counts: Counts; startedAt: string | null; completedAt: string | null }>;
  devices?: Array<{ name: string; wave: number; status: string }>;
}

interface Event {
  type: string;
  summary: string;
  rolloutId?: string;
  failedDevices?: Array<{ device: string; error?: string; output?: string }>;
  counts?: { succeeded: number; failed: number; total: number };
}

function recordingIo(): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(...l.split('\n')), err: (l) => errors.push(...l.split('\n')), cwd: process.cwd() };
}

async function rolloutFor(server: RunningServer, revision: string): Promise<RolloutView | undefined> {
  const { rollouts } = await api<{ rollouts: RolloutView[] }>(server, '/api/v1/rollouts');
  return rollouts.find((r) => r.revision.endsWith(revision));
}

const fileOf = (sim: Simulation, name: string) => sim.device(name)?.host.files.get(GREETING)?.sha256;

const FAST: Partial<SimulationOptions> = {
  heartbeatMs: 60_000,
  batchSize: 50,
  backoff: { baseMs: 50, capMs: 500 },
  resultBackoff: { baseMs: 50, capMs: 500 },
};

describe('rollouts', { timeout: 240_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function setup(prefix: string, files: FileTree): Promise<{ server: RunningServer; receiver: Receiver; token: string; stateDir: string; repo: Awaited<ReturnType<typeof makeRepo>> }> {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const work = await tempDir(prefix);
    cleanups.push(work.remove);
    const dataDir = path.join(work.dir, 'server');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'secrets.json'), JSON.stringify({ 'ops-webhook': `${receiver.url}/hooks` }), { mode: 0o600 });
    const repo = await makeRepo(path.join(work.dir, 'repo'), files);
    const server = await startTestServer({ repo: repo.dir, dataDir });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'sim', labels: { role: 'web' } });
    return { server, receiver, token, stateDir: path.join(work.dir, 'sim'), repo };
  }

  const events = (receiver: Receiver) => receiver.at('/hooks').map((r) => JSON.parse(r.body) as Event);

  test('50 devices, 20 % failing: the canary passes, the next wave halts the rollout, the rest stay untouched; a fix rolls out to completion', async () => {
    const { server, receiver, token, stateDir, repo } = await setup('deployx-rollout-', fleet('hello v1\n'));
    let sim = await startSimulation({ server: server.url, agents: 50, token, stateDir, labels: { role: 'web' }, failDevices: FAILING, ...FAST });
    cleanups.push(() => sim.stop());
    await sim.ready;

    // The first revision is no rollout: every device converges at once (the failing ones fail).
    await waitFor('40 devices holding v1', () => sim.devices.filter((d) => fileOf(sim, d.name) === sha('hello v1\n')).length === 40, 60_000);
    await waitFor('the failing devices to have failed', () => FAILING.every((name) => sim.device(name)!.counters.jobsFailed >= 1), 30_000);
    assert.deepEqual((await api<{ rollouts: unknown[] }>(server, '/api/v1/rollouts')).rollouts, []);
    assert.equal(server.gateway.connectedCount, 50);

    // The dashboard's feed, watched as a tool with the admin token.
    const ui = connectUi(server.url + UI_NAMESPACE, { transports: ['websocket'], auth: { token: server.apiToken }, reconnection: false });
    cleanups.push(async () => void ui.close());
    const uiNotes: UiNotification[] = [];
    const uiRollouts: RolloutDelta[] = [];
    ui.on('notification', (n: UiNotification) => uiNotes.push(n));
    ui.on('rollout', (r: RolloutDelta) => uiRollouts.push(r));
    await new Promise<void>((resolve, reject) => {
      ui.once('connect', resolve);
      ui.once('connect_error', reject);
    });

    // The change: a rollout of profile web over every device.
    const second = await repo.commit(fleet('hello v2\n'), 'greeting v2');
    server.reconciler.enqueueSource();
    const halted = await waitFor('the rollout halted with every early job finished', async () => {
      const r = await rolloutFor(server, second);
      if (r?.status !== 'halted') return undefined;
      const detail = await api<RolloutView>(server, `/api/v1/rollouts/${r.id}?devices=true`);
      return detail.waves[1]!.counts.running === 0 ? detail : undefined;
    }, 60_000);
    assert.equal(halted.profile, 'web');
    assert.deepEqual(halted.waves.map((w) => [w.name, w.counts.total]), [['canary', 1], ['early', 5], ['rest', 44]]);
    const byWave = (i: number) => halted.devices!.filter((d) => d.wave === i).map((d) => d.name).sort();
    assert.deepEqual(byWave(0), CANARY);
    assert.deepEqual(byWave(1), EARLY);
    assert.equal(halted.waves[0]!.counts.succeeded, 1, 'the canary passed');
    assert.ok(halted.waves[0]!.completedAt !== null);
    assert.deepEqual(halted.waves[1]!.counts, { total: 5, waiting: 0, running: 0, succeeded: 3, failed: 2, retrying: 0, offline: 0 });
    assert.deepEqual(halted.halted?.devices, ['sim-10', 'sim-11'], 'the failing devices of the halting wave');
    assert.equal(halted.halted?.threshold, 0);
    assert.deepEqual(halted.halted?.failedDevices.map((f) => f.device), ['sim-10', 'sim-11']);
    for (const failure of halted.halted!.failedDevices) {
      assert.match(failure.error ?? '', /simulated failure: sim-1[01] is in failDevices/);
      assert.match(failure.output ?? '', /simulated failure/);
    }
    assert.equal(halted.waves[2]!.startedAt, null);
    assert.deepEqual(halted.waves[2]!.counts, { total: 44, waiting: 44, running: 0, succeeded: 0, failed: 0, retrying: 0, offline: 0 });

    // The remaining devices are untouched: no job of the new revision, still the old content.
    await new Promise((r) => setTimeout(r, 1_500));
    const rest = byWave(2);
    assert.equal(rest.length, 44);
    const { jobs } = await api<{ jobs: Array<{ deviceId: string; revision: string; rolloutId?: string }> }>(server, '/api/v1/jobs?limit=1000');
    const touched = new Set(jobs.filter((j) => j.revision.endsWith(second)).map((j) => j.deviceId));
    assert.deepEqual([...touched].sort(), [...CANARY, ...EARLY].sort(), 'only the canary and early waves got jobs of the change');
    for (const name of rest) {
      const expected = FAILING.includes(name) ? undefined : sha('hello v1\n');
      assert.equal(fileOf(sim, name), expected, `${name} untouched`);
    }
    for (const name of ['sim-1', 'sim-12', 'sim-13', 'sim-14']) assert.equal(fileOf(sim, name), sha('hello v2\n'), `${name} got the change`);
    const { devices } = await api<{ devices: Array<{ id: string; state: string; reason: string }> }>(server, '/api/v1/devices');
    const sim20 = devices.find((d) => d.id === 'sim-20')!;
    assert.equal(sim20.reason, `rollout ${halted.id} halted in wave 2 (early); untouched until a new revision`);
    const sim10 = devices.find((d) => d.id === 'sim-10')!;
    assert.equal(sim10.state, 'failed');
    assert.equal(sim10.reason, `failed in rollout ${halted.id} wave 2 (early) after 1 attempt; waiting for a new revision`);

    // The webhook heard about the canary wave and the halt, with the failing devices and their output.
    await waitFor('rollout.halted at the webhook', () => events(receiver).some((e) => e.type === 'rollout.halted'), 10_000);
    const heard = events(receiver);
    assert.ok(heard.some((e) => e.type === 'rollout.wave.completed' && e.rolloutId === halted.id && /wave canary completed: 1\/1 succeeded/.test(e.summary)));
    const haltedEvent = heard.find((e) => e.type === 'rollout.halted')!;
    assert.equal(haltedEvent.rolloutId, halted.id);
    assert.match(haltedEvent.summary, /^rollout web halted in wave early: [12] of 5 failed \(sim-1[01]/);
    assert.ok(haltedEvent.failedDevices!.length >= 1);
    for (const failure of haltedEvent.failedDevices!) {
      assert.ok(['sim-10', 'sim-11'].includes(failure.device));
      assert.match(failure.output ?? '', /simulated failure/);
    }

    // The same events reached the dashboard's /ui namespace.
    const uiHalted = await waitFor('rollout.halted on /ui', () => uiNotes.find((n) => n.kind === 'rollout.halted'), 10_000);
    assert.equal(uiHalted.level, 'error');
    assert.equal(uiHalted.message, haltedEvent.summary);
    assert.equal(uiHalted.subject, `rollout:${halted.id}`);
    assert.ok(uiNotes.some((n) => n.kind === 'rollout.wave.completed' && /wave canary completed: 1\/1 succeeded/.test(n.message)));
    assert.ok(uiRollouts.some((r) => r.rolloutId === halted.id && r.status === 'halted'), 'rollout deltas carry the status');

    // The CLI shows it, and refuses to resume a halted rollout.
    const env = { DEPLOYX_API_TOKEN: server.apiToken };
    const list = recordingIo();
    assert.equal(await runRollout(['list', '--server', server.url], list, env), 0);
    assert.match(list.lines[1]!, new RegExp(`^${halted.id}\\s+web\\s+main@${second.slice(0, 7)}\\s+halted\\s+2/3 early\\s+50\\s+4\\s+2\\s+44\\s`));
    const show = recordingIo();
    assert.equal(await runRollout(['show', halted.id, '--server', server.url], show, env), 0);
    assert.ok(show.lines.includes('  halted in wave 2 (early): 2 failed, 0 tolerated'), show.lines.join('\n'));
    assert.ok(show.lines.some((l) => /^ {4}sim-10 \(wave 2, 1 attempt\): file\/\/etc\/rollout\/greeting: simulated failure/.test(l)), show.lines.join('\n'));
    const resume = recordingIo();
    assert.equal(await runRollout(['resume', halted.id, '--server', server.url], resume, env), 1);
    assert.match(resume.errors.join('\n'), /rollout\.finished/);

    // The fix: the failing devices are repaired (the simulator restarted without faults, as the
    // same devices), then a fixing commit starts a new rollout that reaches every device.
    await sim.stop();
    sim = await startSimulation({ server: server.url, agents: 50, stateDir, labels: { role: 'web' }, ...FAST });
    cleanups.push(() => sim.stop());
    await sim.ready;
    await waitFor('50 devices back', () => server.gateway.connectedCount === 50, 30_000);
    const third = await repo.commit(fleet('hello v3\n'), 'greeting v3');
    server.reconciler.enqueueSource();
    const done = await waitFor('the fix rolled out', async () => {
      const r = await rolloutFor(server, third);
      return r?.status === 'completed' ? r : undefined;
    }, 90_000);
    assert.deepEqual(done.counts, { total: 50, waiting: 0, running: 0, succeeded: 50, failed: 0, retrying: 0, offline: 0 });
    await waitFor('every device holding v3', () => sim.devices.every((d) => fileOf(sim, d.name) === sha('hello v3\n')), 30_000);
    const old = await api<RolloutView>(server, `/api/v1/rollouts/${halted.id}`);
    assert.equal(old.status, 'superseded');
    assert.equal(old.supersededBy, done.id);
    await waitFor('rollout.completed at the webhook', () => events(receiver).some((e) => e.type === 'rollout.completed' && e.rolloutId === done.id), 10_000);
    const completed = events(receiver).find((e) => e.type === 'rollout.completed')!;
    assert.equal(completed.summary, `web @ main@${third.slice(0, 7)}: 50/50 succeeded`);
    assert.ok(!events(receiver).some((e) => e.type === 'rollout.halted' && e.rolloutId === done.id));
  });

  /**
   * Six devices converged on `one`, then a commit of `two` under `policy`, whose last wave waits
   * for promotion: returns once the rollout is waiting there.
   */
  async function waitingForPromotion(prefix: string, policy: Policy) {
    const { server, token, stateDir, repo } = await setup(prefix, fleet('one\n', policy));
    const sim = await startSimulation({ server: server.url, agents: 6, token, stateDir, labels: { role: 'web' }, ...FAST });
    cleanups.push(() => sim.stop());
    await sim.ready;
    await waitFor('6 devices holding one', () => sim.devices.every((d) => fileOf(sim, d.name) === sha('one\n')), 30_000);

    const second = await repo.commit(fleet('two\n', policy), 'two');
    server.reconciler.enqueueSource();
    const waiting = await waitFor('the rest waiting for promotion', async () => {
      const r = await rolloutFor(server, second);
      return r?.awaitingPromotion === 1 ? r : undefined;
    }, 30_000);
    return { server, sim, second, waiting };
  }

  test('a wave that selects on a fact takes exactly the devices reporting it', async () => {
    // `labels.index` is a fact the simulated devices report (their number); no group selects on it.
    const byFact: Policy = {
      waves: `
      - { name: picked, selector: { matchFacts: [{ key: labels.index, operator: In, values: ["3", "5"] }] } }
      - { name: rest, size: rest, manualPromotion: true }`,
    };
    const { sim, waiting } = await waitingForPromotion('deployx-rollout-facts-', byFact);
    assert.deepEqual(waiting.waves.map((w) => [w.name, w.counts.total]), [['picked', 2], ['rest', 4]]);
    assert.deepEqual(
      sim.devices.filter((d) => fileOf(sim, d.name) === sha('two\n')).map((d) => d.name),
      ['sim-3', 'sim-5'],
    );
  });

  test('operator commands through the CLI: pause, promote a manual wave, resume; desired state never changes', async () => {
    const manual: Policy = {
      waves: `
      - { name: canary, size: 1 }
      - { name: rest, size: rest, manualPromotion: true }`,
    };
    const { server, sim, second, waiting } = await waitingForPromotion('deployx-rollout-ops-', manual);
    const env = { DEPLOYX_API_TOKEN: server.apiToken };
    const run = async (...args: string[]) => {
      const io = recordingIo();
      const code = await runRollout([...args, '--server', server.url], io, env);
      return { code, io };
    };
    assert.equal(fileOf(sim, 'sim-1'), sha('two\n'));
    assert.equal(fileOf(sim, 'sim-2'), sha('one\n'));
    const revisionBefore = server.reconciler.revision;

    const paused = await run('pause', waiting.id);
    assert.equal(paused.code, 0, paused.io.errors.join('\n'));
    assert.equal(paused.io.lines[0], `paused ${waiting.id}`);
    assert.match(paused.io.lines[1]!, /: paused$/);
    const promoted = await run('promote', waiting.id);
    assert.equal(promoted.code, 0, promoted.io.errors.join('\n'));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(fileOf(sim, 'sim-2'), sha('one\n'), 'promoted while paused: nothing starts');
    const again = await run('promote', waiting.id);
    assert.equal(again.code, 0, 'promoting a promoted wave changes nothing');

    const resumed = await run('resume', waiting.id);
    assert.equal(resumed.code, 0, resumed.io.errors.join('\n'));
    await waitFor('the rollout completed', async () => (await rolloutFor(server, second))?.status === 'completed', 30_000);
    assert.ok(sim.devices.every((d) => fileOf(sim, d.name) === sha('two\n')));
    assert.equal(server.reconciler.revision, revisionBefore, 'commands never change desired state');

    const finished = await run('pause', waiting.id);
    assert.equal(finished.code, 1);
    assert.match(finished.io.errors.join('\n'), /rollout\.finished/);
    const unknown = await run('promote', 'ro-nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.io.errors.join('\n'), /rollout\.not-found/);
    const json = await run('list', '--json', '--status', 'completed');
    assert.equal(json.code, 0);
    assert.deepEqual((JSON.parse(json.io.lines.join('\n')) as { rollouts: RolloutView[] }).rollouts.map((r) => r.id), [waiting.id]);
    const badStatus = await run('list', '--status', 'bogus');
    assert.equal(badStatus.code, 2);
    const noToken = recordingIo();
    assert.equal(await runRollout(['list', '--server', server.url], noToken, {}), 2);
    assert.match(noToken.errors[0]!, /DEPLOYX_API_TOKEN/);
  });
});
