// Table-driven tests of the rollout scheduler: each row is a worked example of schedule.ts's
// module comment or one of its rules, played as a script of inputs and passes against a clock.
// Every pass also checks the invariants: the input state is not mutated, the state survives a
// JSON round trip, at most one wave is active, no wave runs more than maxParallel devices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import { readDuration } from '../../../../schemas/duration.ts';
import { isRolloutError, type RolloutErrorCode } from './errors.ts';
import type { RolloutDevice } from './waves.ts';
import {
  activeWave,
  createRollout,
  deviceFinished,
  deviceOnline,
  maxParallelOf,
  pause,
  promote,
  resume,
  retryDelayMs,
  scheduleRollout,
  waveAwaitingPromotion,
  type RolloutDeviceStatus,
  type RolloutState,
  type RolloutStatus,
  type ScheduleResult,
} from './schedule.ts';

// ---- builders ----

/** Monday 2024-06-03 12:00 UTC. */
const MONDAY_NOON = '2024-06-03T12:00:00.000Z';

function dev(name: string, parts: Partial<Omit<RolloutDevice, 'name'>> = {}): RolloutDevice {
  return { name, labels: {}, facts: undefined, groups: [], online: true, ...parts };
}
const online = (...names: string[]): RolloutDevice[] => names.map((n) => dev(n));
const offline = (name: string, groups: string[] = []): RolloutDevice => dev(name, { online: false, groups });
const numbered = (n: number): RolloutDevice[] => Array.from({ length: n }, (_, i) => dev(`d${String(i + 1).padStart(2, '0')}`));

interface Want {
  start?: string[];
  status?: RolloutStatus;
  /** Offset from the row's t0 (`15s`, `1h5m`), or null for none. */
  retryAt?: string | null;
  /** Event types, in order. */
  events?: string[];
  devices?: Record<string, RolloutDeviceStatus>;
  halted?: string[];
  check?: (result: ScheduleResult) => void;
}

type Step =
  | { at: string; tick: Want; jitter?: number }
  | { at: string; finish: string[]; outcome: 'succeeded' | 'failed' }
  | { at: string; device: string; online: boolean }
  | { at: string; command: 'promote' | 'pause' | 'resume'; events?: string[]; error?: RolloutErrorCode };

const tick = (at: string, want: Want = {}, jitter = 0): Step => ({ at, tick: want, jitter });
const ok = (at: string, ...finish: string[]): Step => ({ at, finish, outcome: 'succeeded' });
const fail = (at: string, ...finish: string[]): Step => ({ at, finish, outcome: 'failed' });
const up = (at: string, device: string): Step => ({ at, device, online: true });
const down = (at: string, device: string): Step => ({ at, device, online: false });
const command = (at: string, name: 'promote' | 'pause' | 'resume', outcome: { events?: string[]; error?: RolloutErrorCode } = {}): Step => ({
  at,
  command: name,
  ...outcome,
});

interface Row {
  name: string;
  policy: RolloutPolicy;
  devices: RolloutDevice[];
  t0?: string;
  steps: Step[];
}

function offset(t0: string, at: string): Date {
  const ms = at === '0' || at === '0s' ? 0 : readDuration(at);
  assert.ok(ms !== undefined, `bad offset ${at}`);
  return new Date(Date.parse(t0) + ms);
}

/** Plays a row; returns every pass's result, for the determinism rows. */
function play(row: Row): ScheduleResult[] {
  const t0 = row.t0 ?? MONDAY_NOON;
  let state = createRollout({ revision: 'main@sha1:1111111111111111111111111111111111111111', profile: 'web', policy: row.policy, devices: row.devices, now: new Date(t0) });
  const results: ScheduleResult[] = [];
  for (const [i, step] of row.steps.entries()) {
    const now = offset(t0, step.at);
    const where = `step ${i} at ${step.at}`;
    const input = state;
    const before = structuredClone(state);
    if ('tick' in step) {
      const result = scheduleRollout(state, row.policy, now, step.jitter ?? 0);
      results.push(result);
      state = result.state;
      const want = step.tick;
      if (want.start !== undefined) assert.deepEqual(result.start, want.start, `${where}: start`);
      if (want.events !== undefined) assert.deepEqual(result.events.map((e) => e.type), want.events, `${where}: events`);
      if (want.status !== undefined) assert.equal(result.state.status, want.status, `${where}: status`);
      if (want.retryAt !== undefined) {
        assert.equal(result.retryAt, want.retryAt === null ? undefined : offset(t0, want.retryAt).toISOString(), `${where}: retryAt`);
      }
      for (const [name, status] of Object.entries(want.devices ?? {})) {
        assert.equal(result.state.devices[name]?.status, status, `${where}: device ${name}`);
      }
      if (want.halted !== undefined) assert.deepEqual(result.state.halted?.devices, want.halted, `${where}: halted devices`);
      want.check?.(result);
    } else if ('finish' in step) {
      for (const name of step.finish) state = deviceFinished(state, name, step.outcome, now).state;
    } else if ('device' in step) {
      state = deviceOnline(state, step.device, step.online, now).state;
    } else {
      const run = { promote, pause, resume }[step.command];
      if (step.error !== undefined) {
        assert.throws(() => run(state, now), (err: unknown) => isRolloutError(err, step.error), `${where}: ${step.command} throws ${step.error}`);
      } else {
        const transition = run(state, now);
        if (step.events !== undefined) assert.deepEqual(transition.events.map((e) => e.type), step.events, `${where}: events`);
        state = transition.state;
      }
    }
    assert.deepEqual(input, before, `${where}: input state not mutated`);
    checkInvariants(state, row.policy, where);
  }
  return results;
}

function checkInvariants(state: RolloutState, policy: RolloutPolicy, where: string): void {
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state, `${where}: state is plain JSON`);
  const active = state.waves.filter((w) => w.startedAt !== undefined && w.completedAt === undefined);
  assert.ok(active.length <= 1, `${where}: one wave at a time`);
  state.waves.forEach((wave, index) => {
    const running = wave.devices.filter((n) => state.devices[n]!.status === 'running').length;
    assert.ok(running <= maxParallelOf(policy, wave.devices.length), `${where}: wave ${index} runs ${running}`);
    if (wave.startedAt === undefined) {
      for (const name of wave.devices) assert.equal(state.devices[name]!.attempts, 0, `${where}: ${name} untouched before its wave`);
    }
  });
}

// ---- rows ----

const canaryThenRest: RolloutPolicy = { waves: [{ name: 'canary', size: 1 }, { name: 'rest', size: 'rest' }] };

const rows: Row[] = [
  // maxParallel
  {
    name: 'maxParallel 2, wave of 5 → a, b start; c starts when a finishes',
    policy: { maxParallel: 2 },
    devices: online('a', 'b', 'c', 'd', 'e'),
    steps: [tick('0', { start: ['a', 'b'], events: ['rollout.wave.started'] }), tick('10s', { start: [] }), ok('1m', 'a'), tick('1m', { start: ['c'] })],
  },
  {
    name: 'maxParallel "25%" of a wave of 10 = 2.5 → 3 at once',
    policy: { maxParallel: '25%' },
    devices: numbered(10),
    steps: [tick('0', { start: ['d01', 'd02', 'd03'] })],
  },
  {
    name: 'maxParallel "10%" of a wave of 3 = 0.3 → 1 (never 0)',
    policy: { maxParallel: '10%' },
    devices: online('a', 'b', 'c'),
    steps: [tick('0', { start: ['a'] })],
  },
  {
    name: 'maxParallel defaults to the whole wave',
    policy: {},
    devices: online('a', 'b', 'c'),
    steps: [tick('0', { start: ['a', 'b', 'c'] })],
  },

  // one wave at a time
  {
    name: 'one wave at a time: the next wave waits for the canary even with free slots',
    policy: { ...canaryThenRest, maxParallel: 5 },
    devices: online('a', 'b', 'c'),
    steps: [tick('0', { start: ['a'] }), tick('1m', { start: [] }), ok('2m', 'a'), tick('2m', { start: ['b', 'c'], events: ['rollout.wave.completed', 'rollout.wave.started'] })],
  },

  // failure thresholds
  {
    name: 'failureThreshold 1, wave of 5: 1st failure tolerated, 2nd halts',
    policy: { failureThreshold: 1, retries: 0 },
    devices: online('a', 'b', 'c', 'd', 'e'),
    steps: [
      tick('0', { start: ['a', 'b', 'c', 'd', 'e'] }),
      fail('1m', 'a'),
      tick('1m', { events: ['device.failed'], status: 'progressing' }),
      fail('2m', 'b'),
      tick('2m', { events: ['device.failed', 'rollout.halted'], status: 'halted', halted: ['a', 'b'] }),
    ],
  },
  {
    name: 'failureThreshold "20%" of a wave of 10 = 2: 2 tolerated, 3rd halts',
    policy: { failureThreshold: '20%', retries: 0 },
    devices: numbered(10),
    steps: [tick('0'), fail('1m', 'd01', 'd02'), tick('1m', { status: 'progressing' }), fail('2m', 'd03'), tick('2m', { status: 'halted', halted: ['d01', 'd02', 'd03'] })],
  },
  {
    name: 'default threshold "10%" of a wave of 15 = 1.5 → 1: 2nd failure halts',
    policy: { retries: 0 },
    devices: numbered(15),
    steps: [tick('0'), fail('1m', 'd01'), tick('1m', { status: 'progressing' }), fail('2m', 'd02'), tick('2m', { status: 'halted' })],
  },
  {
    name: 'default "10%" of a 1-device canary = 0.1 → 0: the canary failure halts; later waves untouched',
    policy: { ...canaryThenRest, retries: 0 },
    devices: online('a', 'b', 'c', 'd'),
    steps: [
      tick('0', { start: ['a'] }),
      fail('1m', 'a'),
      tick('1m', { status: 'halted', halted: ['a'], devices: { a: 'failed', b: 'waiting', c: 'waiting', d: 'waiting' }, events: ['device.failed', 'rollout.halted'] }),
    ],
  },
  {
    name: 'a wave failureThreshold overrides the policy',
    policy: { waves: [{ size: 2, failureThreshold: 0 }, { size: 'rest' }], failureThreshold: '100%', retries: 0 },
    devices: online('a', 'b', 'c'),
    steps: [tick('0', { start: ['a', 'b'] }), fail('1m', 'a'), tick('1m', { status: 'halted' })],
  },
  {
    name: 'halting stops everything: no retry, no new job, no wave; running results are recorded; commands refused',
    policy: { waves: [{ size: 3 }, { size: 'rest' }], failureThreshold: 0, retries: 1 },
    devices: online('a', 'b', 'c', 'd', 'e'),
    steps: [
      tick('0', { start: ['a', 'b', 'c'] }),
      fail('0', 'a'),
      tick('0', { events: ['device.retrying'], retryAt: '15s' }),
      fail('5s', 'b'),
      tick('5s', { events: ['device.retrying'], retryAt: '15s' }),
      tick('15s', { start: ['a'] }),
      fail('20s', 'a'),
      tick('20s', { status: 'halted', halted: ['a', 'b'], events: ['device.failed', 'device.failed', 'rollout.halted'], devices: { b: 'failed', c: 'running' } }),
      ok('30s', 'c'),
      tick('1h', { start: [], status: 'halted', retryAt: null, devices: { a: 'failed', b: 'failed', c: 'succeeded', d: 'waiting', e: 'waiting' } }),
      command('1h', 'resume', { error: 'rollout.finished' }),
      command('1h', 'pause', { error: 'rollout.finished' }),
      command('1h', 'promote', { error: 'rollout.finished' }),
    ],
  },

  // retries
  {
    name: 'retries 2 at jitter 0 (lower bound): retried after 15 s, then 30 s, then failed',
    policy: { retries: 2, failureThreshold: 1 },
    devices: online('a'),
    steps: [
      tick('0', { start: ['a'] }),
      fail('0', 'a'),
      tick('0', { events: ['device.retrying'], devices: { a: 'retrying' }, retryAt: '15s' }, 0),
      tick('14s', { start: [] }),
      tick('15s', { start: ['a'] }),
      fail('20s', 'a'),
      tick('20s', { retryAt: '50s' }, 0),
      tick('50s', { start: ['a'] }),
      fail('1m', 'a'),
      tick('1m', { events: ['device.failed', 'rollout.wave.completed', 'rollout.failed'], status: 'failed', check: (r) => assert.equal(r.state.devices['a']!.attempts, 3) }, 0),
    ],
  },
  {
    name: 'retries at jitter 1 (upper bound): retried after 30 s, then 60 s',
    policy: { retries: 2 },
    devices: online('a'),
    steps: [tick('0'), fail('0', 'a'), tick('0', { retryAt: '30s' }, 1), tick('29s', { start: [] }), tick('30s', { start: ['a'] }), fail('40s', 'a'), tick('40s', { retryAt: '1m40s' }, 1)],
  },
  {
    name: 'retries 0: the first failure is final',
    policy: { retries: 0, failureThreshold: 1 },
    devices: online('a', 'b'),
    steps: [tick('0'), fail('1m', 'a'), tick('1m', { events: ['device.failed'], devices: { a: 'failed' } })],
  },
  {
    name: 'a device waiting for its retry keeps its slot',
    policy: { maxParallel: 1 },
    devices: online('a', 'b'),
    steps: [tick('0', { start: ['a'] }), fail('0', 'a'), tick('5s', { start: [] }, 0), tick('20s', { start: ['a'] }), ok('30s', 'a'), tick('30s', { start: ['b'] })],
  },

  // offline devices
  {
    name: 'an offline device is counted apart and started when it reconnects',
    policy: {},
    devices: [dev('a'), offline('b')],
    steps: [
      tick('0', { start: ['a'], devices: { b: 'offline' }, check: (r) => assert.equal(r.state.devices['b']!.offlineSince, MONDAY_NOON) }),
      ok('1m', 'a'),
      tick('1m', { start: [], status: 'progressing', retryAt: '1h' }),
      up('10m', 'b'),
      tick('10m', { start: ['b'] }),
      ok('11m', 'b'),
      tick('11m', { status: 'completed' }),
    ],
  },
  {
    name: 'a wave whose every device is offline completes after offlineTimeout with 0 failures',
    policy: { waves: [{ group: 'lab' }, { size: 'rest' }] },
    devices: [offline('a', ['lab']), offline('b', ['lab']), dev('c')],
    steps: [
      tick('0', { start: [], events: ['rollout.wave.started'], retryAt: '1h' }),
      tick('59m', { start: [] }),
      tick('1h', {
        start: ['c'],
        events: ['rollout.wave.completed', 'rollout.wave.started'],
        check: (r) => {
          const completed = r.events[0]!;
          assert.ok(completed.type === 'rollout.wave.completed');
          assert.deepEqual(completed.offline, ['a', 'b']);
          assert.equal(completed.counts.failed, 0);
          assert.equal(completed.counts.offline, 2);
        },
      }),
      ok('1h1m', 'c'),
      tick('1h1m', { status: 'partial', events: ['rollout.wave.completed', 'rollout.partial'] }),
    ],
  },
  {
    name: 'offlineTimeout counts from the later of the wave start and going offline',
    policy: { offlineTimeout: '10m' },
    devices: online('a', 'b'),
    steps: [tick('0', { start: ['a', 'b'] }), down('5m', 'b'), ok('6m', 'a'), tick('6m', { retryAt: '15m', devices: { b: 'offline' } }), tick('14m', { status: 'progressing' }), tick('15m', { status: 'partial' })],
  },
  {
    name: 'a running device that disconnects is offline, not failed, and is started again when it reconnects',
    policy: {},
    devices: online('a'),
    steps: [
      tick('0', { start: ['a'] }),
      down('1m', 'a'),
      tick('1m', { start: [], devices: { a: 'offline' } }),
      up('2m', 'a'),
      tick('2m', { start: ['a'], check: (r) => assert.equal(r.state.devices['a']!.attempts, 2) }),
      ok('3m', 'a'),
      tick('3m', { status: 'completed' }),
    ],
  },
  {
    name: 'a device left behind that reconnects while the rollout progresses is started then',
    policy: { waves: [{ size: 2 }, { size: 'rest' }] },
    devices: online('a', 'b', 'c'),
    steps: [
      down('0', 'a'),
      tick('0', { start: ['b'] }),
      ok('1m', 'b'),
      tick('1h', { start: ['c'], events: ['rollout.wave.completed', 'rollout.wave.started'] }),
      up('1h5m', 'a'),
      tick('1h5m', { start: ['a'] }),
      ok('1h6m', 'a', 'c'),
      tick('1h6m', { status: 'completed' }),
    ],
  },
  {
    name: 'a device left behind that reconnects outside a window holds the end of the rollout until it ran',
    policy: { waves: [{ size: 2 }, { size: 'rest' }], windows: [{ start: '12:00', end: '14:00' }] },
    devices: online('a', 'b', 'c'),
    steps: [
      down('0', 'a'),
      tick('0', { start: ['b'] }),
      ok('1m', 'b'),
      tick('1h', { start: ['c'] }),
      up('1h30m', 'a'),
      ok('1h50m', 'c'),
      tick('2h10m', { start: [], status: 'progressing', devices: { a: 'waiting' }, retryAt: '24h' }),
      tick('24h', { start: ['a'] }),
      ok('24h1m', 'a'),
      tick('24h1m', { status: 'completed' }),
    ],
  },

  // pause / resume
  {
    name: 'pause stops new jobs, not running ones; resume continues',
    policy: { maxParallel: 1 },
    devices: online('a', 'b'),
    steps: [
      tick('0', { start: ['a'] }),
      command('1m', 'pause', { events: ['rollout.paused'] }),
      command('1m', 'pause', { events: [] }),
      ok('2m', 'a'),
      tick('2m', { start: [], status: 'paused', devices: { a: 'succeeded', b: 'waiting' }, retryAt: null }),
      command('3m', 'resume', { events: ['rollout.resumed'] }),
      command('3m', 'resume', { events: [] }),
      tick('3m', { start: ['b'], status: 'progressing' }),
    ],
  },

  // manual promotion
  {
    name: 'manual promotion: the next wave waits for promote, then starts',
    policy: { waves: [{ size: 1 }, { size: 'rest', manualPromotion: true }] },
    devices: online('a', 'b', 'c'),
    steps: [
      tick('0', { start: ['a'] }),
      command('0', 'promote', { error: 'rollout.nothing-to-promote' }),
      ok('1m', 'a'),
      tick('1m', {
        start: [],
        events: ['rollout.wave.completed'],
        retryAt: null,
        check: (r) => {
          assert.ok(r.events[0]!.type === 'rollout.wave.completed' && r.events[0]!.nextAwaitsPromotion);
          assert.equal(waveAwaitingPromotion(r.state), 1);
        },
      }),
      tick('1h', { start: [] }),
      command('2h', 'promote', { events: ['rollout.wave.promoted'] }),
      command('2h', 'promote', { events: [] }),
      tick('2h', { start: ['b', 'c'], check: (r) => assert.equal(activeWave(r.state), 1) }),
    ],
  },
  {
    name: 'manual promotion of the first wave',
    policy: { waves: [{ size: 'rest', manualPromotion: true }] },
    devices: online('a'),
    steps: [tick('0', { start: [], events: [] }), command('1m', 'promote', { events: ['rollout.wave.promoted'] }), tick('1m', { start: ['a'] })],
  },

  // pause between waves
  {
    name: 'pauseBetweenWaves 5m: wave 1 done at +10m → wave 2 starts at +15m',
    policy: { ...canaryThenRest, pauseBetweenWaves: '5m' },
    devices: online('a', 'b', 'c'),
    steps: [tick('0', { start: ['a'] }), ok('10m', 'a'), tick('10m', { start: [], events: ['rollout.wave.completed'], retryAt: '15m' }), tick('14m', { start: [] }), tick('15m', { start: ['b', 'c'] })],
  },

  // 1-device fleet, empty waves
  {
    name: 'canary 1 of a 1-device fleet: canary succeeds → completed; empty waves skipped, even with manualPromotion',
    policy: { waves: [{ size: 1 }, { size: '10%', manualPromotion: true }, { size: 'rest' }], pauseBetweenWaves: '1h' },
    devices: online('a'),
    steps: [tick('0', { start: ['a'] }), ok('1m', 'a'), tick('1m', { status: 'completed', events: ['rollout.wave.completed', 'rollout.completed'] })],
  },
  {
    name: 'a rollout of 0 devices is completed at its first pass',
    policy: canaryThenRest,
    devices: [],
    steps: [tick('0', { status: 'completed', events: ['rollout.completed'], start: [] })],
  },

  // maintenance windows
  {
    name: 'window: inside → jobs start',
    policy: { windows: [{ days: ['mon'], start: '11:00', end: '13:00' }] },
    devices: online('a'),
    steps: [tick('0', { start: ['a'] })],
  },
  {
    name: 'window: outside → no wave and no job starts; asked to run again at the opening',
    policy: { windows: [{ days: ['mon'], start: '13:00', end: '14:00' }] },
    devices: online('a'),
    steps: [tick('0', { start: [], events: [], retryAt: '1h' }), tick('1h', { start: ['a'], events: ['rollout.wave.started'] })],
  },
  {
    name: 'window: a job running when the window closes continues; the next waits for the next opening',
    policy: { maxParallel: 1, windows: [{ start: '12:00', end: '12:30' }] },
    devices: online('a', 'b'),
    steps: [tick('0', { start: ['a'] }), ok('40m', 'a'), tick('40m', { start: [], devices: { a: 'succeeded' }, retryAt: '24h' }), tick('24h', { start: ['b'] })],
  },
  {
    name: 'window: a due retry waits for the window too',
    policy: { windows: [{ start: '12:00', end: '12:01' }] },
    devices: online('a'),
    steps: [tick('0', { start: ['a'] }), fail('30s', 'a'), tick('30s', { retryAt: '45s' }), tick('1m', { start: [], retryAt: '24h' }), tick('24h', { start: ['a'] })],
  },
  {
    name: 'window crossing midnight: fri 22:00–02:00 → Sat 01:00 starts jobs, Sat 03:00 does not',
    policy: { maxParallel: 1, windows: [{ days: ['fri'], start: '22:00', end: '02:00' }] },
    devices: online('a', 'b'),
    t0: '2024-06-07T12:00:00.000Z',
    steps: [tick('13h', { start: ['a'] }), ok('14h', 'a'), tick('15h', { start: [], retryAt: '7d10h' })],
  },
  {
    name: 'window in another time zone: mon 02:00–04:00 Asia/Tokyo is open at Sun 18:00Z',
    policy: { windows: [{ days: ['mon'], start: '02:00', end: '04:00', timeZone: 'Asia/Tokyo' }] },
    devices: online('a'),
    t0: '2024-06-02T18:00:00.000Z',
    steps: [tick('0', { start: ['a'] })],
  },
  {
    name: 'window across a DST change: daily 03:00 New York from Sat 07:00 EST opens Sun 03:00 EDT = 07:00Z',
    policy: { windows: [{ start: '03:00', end: '05:00', timeZone: 'America/New_York' }] },
    devices: online('a'),
    t0: '2024-03-09T12:00:00.000Z',
    steps: [tick('0', { start: [], retryAt: '19h' }), tick('19h', { start: ['a'] })],
  },

  // final statuses
  {
    name: 'final: 5/5 succeeded → completed',
    policy: {},
    devices: online('a', 'b', 'c', 'd', 'e'),
    steps: [tick('0'), ok('1m', 'a', 'b', 'c', 'd', 'e'), tick('1m', { status: 'completed', events: ['rollout.wave.completed', 'rollout.completed'], retryAt: null })],
  },
  {
    name: 'final: 4 succeeded + 1 failed within threshold → partial',
    policy: { failureThreshold: 1, retries: 0 },
    devices: online('a', 'b', 'c', 'd', 'e'),
    steps: [tick('0'), fail('1m', 'a'), ok('1m', 'b', 'c', 'd', 'e'), tick('1m', { status: 'partial', events: ['device.failed', 'rollout.wave.completed', 'rollout.partial'] })],
  },
  {
    name: 'final: 4 succeeded + 1 offline past offlineTimeout → partial, never failed',
    policy: {},
    devices: [...online('a', 'b', 'c', 'd'), offline('e')],
    steps: [tick('0'), ok('1m', 'a', 'b', 'c', 'd'), tick('1m', { status: 'progressing' }), tick('1h', { status: 'partial', devices: { e: 'offline' } })],
  },
  {
    name: 'final: 3/3 failed (threshold "100%") → failed',
    policy: { failureThreshold: '100%', retries: 0 },
    devices: online('a', 'b', 'c'),
    steps: [tick('0'), fail('1m', 'a', 'b', 'c'), tick('1m', { status: 'failed', events: ['device.failed', 'device.failed', 'device.failed', 'rollout.wave.completed', 'rollout.failed'] })],
  },
  {
    name: 'final: 3 failed + 1 offline → partial (offline is not a failure)',
    policy: { failureThreshold: '100%', retries: 0 },
    devices: [...online('a', 'b', 'c'), offline('d')],
    steps: [tick('0'), fail('1m', 'a', 'b', 'c'), tick('1h', { status: 'partial' })],
  },
  {
    name: 'a rollout whose last job finishes while paused ends',
    policy: {},
    devices: online('a'),
    steps: [tick('0'), command('1m', 'pause'), ok('2m', 'a'), tick('2m', { status: 'completed' })],
  },

  // recording
  {
    name: 'results for devices not started, duplicates and unknown devices change nothing',
    policy: { maxParallel: 1 },
    devices: online('a', 'b'),
    steps: [tick('0', { start: ['a'] }), ok('1m', 'b', 'zz', 'constructor'), ok('1m', 'a'), fail('1m', 'a'), tick('1m', { start: ['b'], devices: { a: 'succeeded' }, events: [] })],
  },
];

for (const row of rows) {
  test(`scheduleRollout: ${row.name}`, () => {
    play(row);
  });
}

// ---- backoff arithmetic ----

const backoffCases: Array<{ failures: number; jitter: number; want: number }> = [
  { failures: 1, jitter: 0, want: 15_000 },
  { failures: 1, jitter: 1, want: 30_000 },
  { failures: 2, jitter: 0, want: 30_000 },
  { failures: 2, jitter: 1, want: 60_000 },
  { failures: 3, jitter: 0, want: 60_000 },
  { failures: 3, jitter: 1, want: 120_000 },
  { failures: 5, jitter: 0, want: 240_000 },
  { failures: 5, jitter: 1, want: 480_000 },
  { failures: 6, jitter: 0, want: 300_000 },
  { failures: 6, jitter: 1, want: 600_000 },
  { failures: 40, jitter: 1, want: 600_000 },
  { failures: 1, jitter: 0.5, want: 22_500 },
  { failures: 1, jitter: 7, want: 30_000 },
  { failures: 1, jitter: -1, want: 15_000 },
  { failures: 1, jitter: Number.NaN, want: 30_000 },
];

for (const c of backoffCases) {
  test(`retryDelayMs: retry ${c.failures} at jitter ${c.jitter} → ${c.want / 1000} s`, () => {
    assert.equal(retryDelayMs(c.failures, c.jitter), c.want);
  });
}

// ---- determinism ----

const busy: Row = {
  name: 'busy',
  policy: { waves: [{ size: 1 }, { size: '25%' }, { group: 'late', manualPromotion: true }], maxParallel: 2, failureThreshold: 2, retries: 1 },
  devices: [...numbered(9), offline('x1', ['late']), dev('x2', { groups: ['late'] })],
  steps: [
    tick('0'),
    ok('1m', 'd01'),
    tick('1m', {}, 0.3),
    fail('2m', 'd02'),
    ok('2m', 'd03'),
    tick('2m', {}, 0.7),
    tick('3m', {}, 0.1),
    ok('4m', 'd02', 'd04'),
    tick('4m', {}, 0.9),
    ok('5m', 'd05', 'd06'),
    tick('5m'),
    command('6m', 'promote'),
    tick('6m'),
  ],
};

test('scheduleRollout: deterministic — the same inputs give the same passes', () => {
  assert.deepEqual(play(busy), play(busy));
});

test('scheduleRollout: deterministic — the order devices are given in does not matter', () => {
  assert.deepEqual(play(busy), play({ ...busy, devices: [...busy.devices].reverse() }));
});
