// The rollout driver over a real SQLite store (temp dir) and a clock the test moves: gates,
// results, halts with the failing job's output, persistence across a restart, supersession,
// operator commands, offline devices and the wake-up timer. The notifier and the device queue are
// recorders (they are the driver's outputs).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { RolloutPolicy } from '../../../schemas/kinds.ts';
import { isRolloutError } from '../core/rollout/errors.ts';
import type { RolloutDevice } from '../core/rollout/waves.ts';
import { createLogger } from '../../../schemas/log.ts';
import type { FleetEvent } from '../edges/notify/events.ts';
import type { Store } from '../edges/store/store.ts';
import { enroll, tempStore } from '../edges/store/test-support.ts';
import { createRollout, deviceFinished, deviceOnline, scheduleRollout, type RolloutState } from '../core/rollout/schedule.ts';
import { describeRollout, failureOf, recordEach, RolloutDriver, type RolloutNotice } from './rollouts.ts';

const T0 = Date.parse('2025-03-03T10:00:00.000Z');
const REVISION = 'main@sha1:1111111111111111111111111111111111111111';

interface Harness {
  store: Store;
  driver: RolloutDriver;
  clock: { t: number };
  enqueued: string[];
  notified: FleetEvent[];
  notices: RolloutNotice[];
  online: Set<string>;
  /** A driver on the same store (a restarted server). */
  restart(): Promise<RolloutDriver>;
}

async function harness(t: TestContext, options: { maxSleepMs?: number; realClock?: boolean } = {}): Promise<Harness> {
  const { store, open } = await tempStore(t);
  const clock = { t: T0 };
  const enqueued: string[] = [];
  const notified: FleetEvent[] = [];
  const notices: RolloutNotice[] = [];
  const online = new Set<string>();
  let n = 0;
  const make = (s: Store) => {
    const driver = new RolloutDriver({
      store: s,
      log: createLogger({ level: 'error', write: () => undefined }),
      now: options.realClock ? () => new Date() : () => new Date(clock.t),
      random: () => 0,
      isOnline: (id) => online.has(id),
      enqueue: (ids) => enqueued.push(...ids),
      notifier: { notify: (event) => notified.push(event) },
      onEvent: (notice) => notices.push(notice),
      newId: () => `ro-${++n}`,
      ...(options.maxSleepMs === undefined ? {} : { maxSleepMs: options.maxSleepMs }),
    });
    t.after(() => driver.stop());
    return driver;
  };
  return { store, driver: make(store), clock, enqueued, notified, notices, online, restart: async () => make(await open()) };
}

function devices(names: string[], online: Set<string>): RolloutDevice[] {
  for (const name of names) online.add(name);
  return names.map((name) => ({ name, labels: {}, facts: undefined, groups: [], online: true }));
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - started < 5_000, what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `d${String(i + 1).padStart(2, '0')}`);

const CANARY_TEN_REST: RolloutPolicy = {
  waves: [{ name: 'canary', size: 1 }, { name: 'ten', size: '10%' }, { name: 'rest', size: 'rest' }],
  failureThreshold: '10%',
  retries: 0,
};

test('a device gets its job only when the rollout started it; results move the waves; the threshold halts it', async (t) => {
  const h = await harness(t);
  const fleet = names(20);
  for (const d of fleet) await enroll(h.store, d);
  const [rollout] = await h.driver.begin(REVISION, [{ profile: 'web', policy: CANARY_TEN_REST, devices: devices(fleet, h.online) }], []);
  assert.equal(rollout!.id, 'ro-1');
  await h.driver.settled();
  assert.deepEqual(h.enqueued, ['d01'], 'the canary is started and given a pass');
  assert.deepEqual(h.driver.gate('d01'), { kind: 'run', rolloutId: 'ro-1', revision: REVISION, attempt: 1 });
  assert.deepEqual(h.driver.gate('d02'), { kind: 'hold', rolloutId: 'ro-1', state: 'converging', reason: 'waiting for rollout ro-1 wave 2 (ten)' });
  assert.deepEqual(h.driver.gate('d20'), { kind: 'hold', rolloutId: 'ro-1', state: 'converging', reason: 'waiting for rollout ro-1 wave 3 (rest)' });
  assert.deepEqual(h.driver.gate('stranger'), { kind: 'free' });

  // The loop creates the canary's job; until its result the device waits for it.
  h.driver.jobCreated('ro-1', 'd01', 'job-1', 1);
  assert.deepEqual(h.driver.gate('d01'), { kind: 'sent', rolloutId: 'ro-1', jobId: 'job-1' });
  h.enqueued.length = 0;
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd01', succeeded: true }]);
  await h.driver.settled();
  assert.deepEqual(h.driver.gate('d01'), { kind: 'free' }, 'a device that succeeded is free again (drift corrections, later changes)');
  // 10% of 20 = 2 devices: d02, d03.
  assert.deepEqual(h.enqueued, ['d02', 'd03']);
  assert.deepEqual(
    h.notified.map((e) => [e.type, e.summary]),
    [['rollout.wave.completed', 'web @ main@1111111: wave canary completed: 1/1 succeeded']],
  );

  // A failing job with output, stored as the loop stores it; retries 0 → failed → over 10% of 2 = 0.
  await h.store.createJobs([
    { id: 'job-2', deviceId: 'd02', revision: REVISION, idempotencyKey: 'k2', steps: [], createdAt: new Date(T0).toISOString(), rolloutId: 'ro-1' },
  ]);
  await h.store.recordJobResult(
    {
      jobId: 'job-2',
      idempotencyKey: 'k2',
      status: 'failed',
      steps: [{ key: 'file//etc/app.conf', action: 'file.write', status: 'failed', error: 'disk full', output: 'line 1\nline 2\nENOSPC\n', durationMs: 3 }],
      observed: [],
      startedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0).toISOString(),
    },
    new Date(T0).toISOString(),
  );
  h.driver.jobCreated('ro-1', 'd02', 'job-2', 1);
  h.driver.jobCreated('ro-1', 'd03', 'job-3', 1);
  h.enqueued.length = 0;
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd02', succeeded: false }]);
  await h.driver.settled();
  const halted = await h.driver.get('ro-1');
  assert.equal(halted?.status, 'halted');
  assert.deepEqual(h.driver.gate('d02'), { kind: 'hold', rolloutId: 'ro-1', state: 'failed', reason: 'failed in rollout ro-1 wave 2 (ten) after 1 attempt; waiting for a new revision' });
  assert.deepEqual(h.driver.gate('d10'), { kind: 'hold', rolloutId: 'ro-1', state: 'converging', reason: 'rollout ro-1 halted in wave 2 (ten); untouched until a new revision' });
  assert.deepEqual(h.driver.gate('d03'), { kind: 'sent', rolloutId: 'ro-1', jobId: 'job-3' }, 'a job already out still reports');
  const event = h.notified.find((e) => e.type === 'rollout.halted');
  assert.ok(event && event.type === 'rollout.halted');
  assert.equal(event.summary, 'rollout web halted in wave ten: 1 of 2 failed (d02)');
  assert.deepEqual(event.failedDevices, [{ device: 'd02', error: 'file//etc/app.conf: disk full', output: 'line 1\nline 2\nENOSPC' }]);
  assert.deepEqual(event.counts, { succeeded: 1, failed: 1, offline: 0, total: 20 });
  const deviceFailed = h.notified.find((e) => e.type === 'device.failed');
  assert.equal(deviceFailed?.type === 'device.failed' && deviceFailed.jobId, 'job-2');
  assert.ok(h.enqueued.includes('d10'), 'held devices get a pass so their status says halted');

  // The last running job still reports after the halt; nothing else starts.
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd03', succeeded: true }]);
  await h.driver.settled();
  const view = describeRollout((await h.driver.get('ro-1'))!);
  assert.deepEqual(view.counts, { total: 20, waiting: 17, running: 0, succeeded: 2, failed: 1, retrying: 0, offline: 0 });
  assert.deepEqual(view.halted, { wave: 1, name: 'ten', threshold: 0, devices: ['d02'] });
  assert.deepEqual(view.waves.map((w) => [w.name, w.counts.total, w.failureThreshold, w.startedAt !== null]), [
    ['canary', 1, 0, true],
    ['ten', 2, 0, true],
    ['rest', 17, 1, false],
  ]);

  // A restarted server reads the same rollout and gives the same answers.
  const again = await h.restart();
  await again.load();
  assert.equal((await again.get('ro-1'))?.status, 'halted');
  assert.deepEqual(again.gate('d10'), h.driver.gate('d10'));
  assert.deepEqual(again.gate('d01'), { kind: 'free' });
  await assert.rejects(again.command('ro-1', 'resume'), (e) => isRolloutError(e, 'rollout.finished'));
});

test('a new rollout of the profile supersedes the halted one and takes over its devices', async (t) => {
  const h = await harness(t);
  const fleet = names(4);
  const policy: RolloutPolicy = { waves: [{ size: 1 }, { size: 'rest' }], failureThreshold: 0, retries: 0 };
  await h.driver.begin(REVISION, [{ profile: 'web', policy, devices: devices(fleet, h.online) }], []);
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd01', succeeded: false }]);
  await h.driver.settled();
  assert.equal((await h.driver.get('ro-1'))?.status, 'halted');

  const fix = 'main@sha1:2222222222222222222222222222222222222222';
  const current = h.driver.current();
  assert.deepEqual(current.map((r) => [r.id, r.profile, r.status]), [['ro-1', 'web', 'halted']]);
  h.enqueued.length = 0;
  await h.driver.begin(fix, [{ profile: 'web', policy, devices: devices(fleet, h.online) }], ['ro-1']);
  assert.deepEqual(h.driver.current().map((r) => r.id), ['ro-2']);
  const old = await h.store.getRollout('ro-1');
  assert.equal(old?.status, 'superseded');
  assert.equal(old?.supersededBy, 'ro-2');
  assert.deepEqual(h.driver.gate('d01'), { kind: 'run', rolloutId: 'ro-2', revision: fix, attempt: 1 });
  assert.equal(h.driver.gate('d02').kind, 'hold');
  assert.deepEqual(
    h.notices.filter((n) => n.event.type === 'rollout.superseded' || n.event.type === 'rollout.created').map((n) => [n.rolloutId, n.event.type]),
    [
      ['ro-1', 'rollout.created'],
      ['ro-1', 'rollout.superseded'],
      ['ro-2', 'rollout.created'],
    ],
  );
  // Results of the superseded rollout's jobs change nothing.
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd01', succeeded: true }]);
  assert.deepEqual(h.driver.gate('d01'), { kind: 'run', rolloutId: 'ro-2', revision: fix, attempt: 1 });
  await assert.rejects(h.driver.command('ro-1', 'pause'), (e: unknown) => (e as { code?: string }).code === 'rollout.superseded');
  await assert.rejects(h.driver.command('ro-9', 'pause'), (e: unknown) => (e as { code?: string }).code === 'rollout.not-found');

  // The started device needs nothing: it converged.
  h.driver.converged([{ rolloutId: 'ro-2', deviceId: 'd01' }]);
  await h.driver.settled();
  h.driver.resulted(['d02', 'd03', 'd04'].map((deviceId) => ({ rolloutId: 'ro-2', deviceId, succeeded: true })));
  await h.driver.settled();
  assert.equal((await h.driver.get('ro-2'))?.status, 'completed');
  assert.deepEqual(h.notified.at(-1)?.summary, 'web @ main@2222222: 4/4 succeeded');
});

test('operator commands: promote a manual wave, pause and resume; they never start what the policy forbids', async (t) => {
  const h = await harness(t);
  const fleet = names(3);
  const policy: RolloutPolicy = { waves: [{ size: 1 }, { size: 'rest', manualPromotion: true }] };
  await h.driver.begin(REVISION, [{ profile: 'web', policy, devices: devices(fleet, h.online) }], []);
  await assert.rejects(h.driver.command('ro-1', 'promote'), (e) => isRolloutError(e, 'rollout.nothing-to-promote'));
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'd01', succeeded: true }]);
  await h.driver.settled();
  assert.equal(describeRollout((await h.driver.get('ro-1'))!).awaitingPromotion, 1);
  assert.equal(h.driver.gate('d02').kind, 'hold');

  const paused = await h.driver.command('ro-1', 'pause');
  assert.equal(paused.status, 'paused');
  assert.match((h.driver.gate('d02') as { reason: string }).reason, /^rollout ro-1 paused/);
  await h.driver.command('ro-1', 'promote');
  assert.equal(h.driver.gate('d02').kind, 'hold', 'promoted while paused: still nothing starts');
  h.enqueued.length = 0;
  const resumed = await h.driver.command('ro-1', 'resume');
  assert.equal(resumed.status, 'progressing');
  await h.driver.settled();
  assert.deepEqual(h.enqueued.filter((d) => d !== 'd01').sort(), ['d02', 'd03']);
  assert.equal(h.driver.gate('d03').kind, 'run');
  assert.equal((await h.store.getRollout('ro-1'))?.state.waves[1]?.promotedAt !== undefined, true, 'stored');
});

test('offline devices wait apart and start when they are back; the timer wakes the rollout for the next wave', async (t) => {
  const h = await harness(t, { realClock: true, maxSleepMs: 50 });
  const policy: RolloutPolicy = { waves: [{ size: 1 }, { size: 'rest' }], pauseBetweenWaves: '1s' };
  const list = devices(['a', 'b', 'c'], h.online);
  list[1]!.online = false;
  h.online.delete('b');
  await h.driver.begin(REVISION, [{ profile: 'web', policy, devices: list }], []);
  assert.equal(h.driver.gate('a').kind, 'run');
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'a', succeeded: true }]);
  assert.equal(h.driver.gate('c').kind, 'hold', 'the pause between waves');
  const started = Date.now();
  while (h.driver.gate('c').kind !== 'run') {
    assert.ok(Date.now() - started < 5_000, 'the timer starts the next wave');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(Date.now() - started >= 900, 'not before the pause ends');
  assert.match((h.driver.gate('b') as { reason: string }).reason, /^waiting for rollout ro-1 wave 2 \(offline\)$/);

  // Inputs are recorded at once; the pass that starts devices follows within milliseconds.
  h.driver.deviceOnline('b', true);
  assert.equal(h.driver.gate('b').kind, 'hold', 'recorded: waiting again');
  await waitUntil(() => h.driver.gate('b').kind === 'run', 'back online: started');
  h.driver.deviceOnline('c', false);
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'b', succeeded: true }]);
  await h.driver.settled();
  assert.equal((await h.driver.get('ro-1'))?.status, 'progressing', 'c is offline and holds its wave');
  h.driver.deviceOnline('c', true);
  await h.driver.settled();
  assert.equal(h.driver.gate('c').kind, 'run', 'c is started again: its job goes out again (idempotent)');
  h.driver.resulted([{ rolloutId: 'ro-1', deviceId: 'c', succeeded: true }]);
  await waitUntil(async () => (await h.driver.get('ro-1'))?.status === 'completed', 'completed by the next pass');
});

test('recordEach gives the state the scheduler inputs give one by one, without copying the devices per input', () => {
  const at = new Date(T0);
  const fleet = names(40);
  let state: RolloutState = createRollout({ revision: REVISION, profile: 'web', policy: { maxParallel: 30 }, devices: devices(fleet, new Set()), now: at });
  state = scheduleRollout(state, {}, at, 0).state;
  const inputs = [
    ...fleet.slice(0, 25).map((d, i) => ({ kind: 'finished' as const, device: d, ok: i % 3 !== 0 })),
    { kind: 'online' as const, device: 'd33', online: false },
    { kind: 'online' as const, device: 'd02', online: false },
    { kind: 'finished' as const, device: 'd01', ok: true },
    { kind: 'finished' as const, device: 'ghost', ok: true },
    { kind: 'online' as const, device: 'd33', online: true },
  ];
  type Input = (typeof inputs)[number];
  const apply = (one: RolloutState, input: Input) =>
    input.kind === 'finished' ? deviceFinished(one, input.device, input.ok ? 'succeeded' : 'failed', at) : deviceOnline(one, input.device, input.online, at);
  let sequential = state;
  for (const input of inputs) sequential = apply(sequential, input).state;
  const batched = recordEach(state, inputs, (i) => i.device, apply);
  assert.deepEqual(batched.state, sequential);
  assert.notEqual(batched.state, state);
  assert.equal(recordEach(state, [{ kind: 'finished' as const, device: 'ghost', ok: true }], (i) => i.device, apply).state, state, 'nothing changed: the same state');
  const mine = structuredClone(state);
  const inPlace = recordEach(mine, inputs, (i) => i.device, apply, mine.devices);
  assert.deepEqual(inPlace.state, sequential, 'written into the caller-owned map: the same state');
  assert.equal(inPlace.state.devices, mine.devices);

  // 10,000 results in one batch: linear, not 10,000 copies of a 10,000-entry map.
  const big = Array.from({ length: 10_000 }, (_, i) => `n${i}`);
  let large = createRollout({ revision: REVISION, profile: 'web', policy: {}, devices: devices(big, new Set()), now: at });
  large = scheduleRollout(large, {}, at, 0).state;
  const started = performance.now();
  const done = recordEach(large, big, (d) => d, (one, d) => deviceFinished(one, d, 'succeeded', at));
  assert.ok(performance.now() - started < 2_000, `took ${performance.now() - started} ms`);
  assert.equal(Object.values(done.state.devices).filter((d) => d.status === 'succeeded').length, 10_000);
});

test('failureOf names an interrupted script step as the failure, with its error', () => {
  const job = {
    id: 'job-1',
    result: {
      jobId: 'job-1',
      idempotencyKey: 'k',
      status: 'failed',
      steps: [
        { key: 'file//etc/motd', action: 'file.write', status: 'succeeded', durationMs: 1 },
        { key: 'script/migrate', action: 'script.run', status: 'interrupted', error: 'script.interrupted: the agent stopped', durationMs: 0 },
      ],
      observed: [],
      startedAt: '2025-01-01T00:00:00Z',
      finishedAt: '2025-01-01T00:00:01Z',
    },
  } as unknown as Parameters<typeof failureOf>[1];
  assert.deepEqual(failureOf('dev-1', job), {
    device: 'dev-1',
    error: 'script/migrate: script.interrupted: the agent stopped',
    output: 'script.interrupted: the agent stopped',
  });
});

test('a running rollout takes a changed policy from the next accepted revision: a widened window unblocks it', async (t) => {
  const h = await harness(t);
  const fleet = names(2);
  // Closed at T0 (a Monday, 10:00 UTC): Tuesdays only.
  const closed: RolloutPolicy = { waves: [{ name: 'canary', size: 1 }, { name: 'rest', size: 'rest' }], windows: [{ days: ['tue'], start: '00:00', end: '23:59' }] };
  await h.driver.begin(REVISION, [{ profile: 'web', policy: closed, devices: devices(fleet, h.online) }], []);
  await h.driver.settled();
  assert.equal(h.driver.gate('d01').kind, 'hold');
  assert.equal(describeRollout((await h.driver.get('ro-1'))!, new Date(T0)).waiting?.kind, 'window');

  // The next accepted revision widens the window to every day: the rollout takes it, keeping its waves.
  const open: RolloutPolicy = { ...closed, waves: [{ name: 'other', size: 'rest' }], windows: [{ start: '00:00', end: '23:59' }] };
  const adopted = await h.driver.adoptPolicies((profile) => (profile === 'web' ? open : undefined), 'main@sha1:2222222222222222222222222222222222222222');
  assert.deepEqual(adopted, ['ro-1']);
  await h.driver.settled();
  assert.equal(h.driver.gate('d01').kind, 'run', 'the canary starts under the new window');
  const stored = (await h.store.getRollout('ro-1'))!;
  assert.deepEqual(stored.policy.windows, open.windows, 'stored');
  assert.deepEqual(stored.policy.waves, closed.waves, 'the wave plan it started with stays');
  // The same policy again changes nothing.
  assert.deepEqual(await h.driver.adoptPolicies(() => open, 'main@sha1:3333333333333333333333333333333333333333'), []);
});
