// The rollout scheduler: which devices of a rollout get their job now.
//
// Pure and synchronous: the clock comes in as `now`, randomness as `jitter` (a number in 0–1), and
// the state is a plain JSON object the caller stores between passes. States are values: no
// function mutates one; each returns a new state, which may share unchanged parts with its input
// (so callers must not mutate them either). Inputs only RECORD what was observed (`deviceFinished`,
// `deviceOnline`) or what an operator asked (`promote`, `pause`, `resume`); `scheduleRollout`
// recomputes everything else from the state, the policy and `now` — run it after every input and
// at `retryAt`. A lost call costs latency, never correctness.
//
// States
// - Rollout: `progressing` → `paused` ⇄ `progressing`; → `halted` (a wave over its failure
//   threshold); → `completed` (every device succeeded), `partial` (some failed within thresholds,
//   or were left behind offline), `failed` (every device failed). The last four are final.
// - Device: `waiting` (not started) → `running` → `succeeded` | `retrying` → `running` … →
//   `failed`; `offline` while a waiting or running device is disconnected (back to `waiting` when
//   it reconnects; its job is dispatched again, which the job's idempotency key makes safe).
// - Wave: `startedAt`, `completedAt`, `promotedAt` (manual promotion) are set once each.
//
// Rules
// 1. One wave at a time, in order. A wave starts when the previous non-empty wave has completed,
//    `pauseBetweenWaves` (default none) has passed since then, an operator has promoted it if it
//    has `manualPromotion`, the rollout is `progressing`, and a maintenance window is open. Empty
//    waves are skipped: no pause, no promotion. A wave starts even when all its devices are
//    offline, so that `offlineTimeout` starts counting.
// 2. Within a wave at most `maxParallel` devices run at once: a count, or a percentage of the
//    wave's devices rounded UP, at least 1; default the whole wave. A device waiting for its retry
//    keeps its slot (a failing device slows its wave rather than letting it spread faster); due
//    retries go before devices not yet started; then devices by name.
// 3. A failed attempt is retried after base·2^(n−1)·(0.5 + jitter/2), n = failures so far, base
//    30 s, the exponential part capped at 10 min before jitter (so jitter keeps spreading retries
//    at the cap); jitter 0 gives the lower bound, 1 the upper. After `retries` retries (default 2,
//    so 3 attempts) the device is `failed` and counts against the threshold. The jitter of the
//    pass that first sees a failure is the one used.
// 4. A wave halts the rollout when its failed devices EXCEED `failureThreshold` (the wave's own,
//    else the policy's): a count, or a percentage of the wave's devices rounded DOWN; default
//    "10%" — halting on the first failure is too strict for fleets, and 10 % of a 1-device canary
//    is still 0, so a failing canary halts. Halted is final: nothing starts again, retries are
//    dropped (those devices become `failed`), devices not yet started stay `waiting`
//    (untouched); results of jobs still running are recorded. A fixing commit starts a new rollout.
// 5. A wave completes when each of its devices succeeded, failed (within the threshold), or is
//    offline and has held the wave for `offlineTimeout` (default 1 h), counted from the later of
//    the wave's start and the moment the device went offline. Offline devices are counted apart,
//    never as failures. A device left behind that reconnects while the rollout still progresses
//    is started then (its failure still counts for its wave); after the rollout ends it belongs
//    to the next rollout.
// 6. Maintenance windows (windows.ts): outside them no job starts, no retry starts and no wave
//    starts; running jobs continue and their results are recorded. The one exception is a wave an
//    operator started now (`startNow`, with a reason): it starts without its pause and runs to its
//    end outside the windows; the waves after it wait again. `rolloutWaiting` says what a rollout
//    waits for and until when.
// 7. `pause` stops new jobs and waves (not running ones; results are recorded, a wave can still
//    complete, a threshold can still halt); `resume` continues. Once nothing is left to run the
//    rollout ends even while paused.
// 8. Every wave done, nothing running, nothing online left to start → `completed` when every
//    device succeeded (or there were none), `failed` when every device failed, else `partial`.
//
// Worked examples (each one a row of schedule.test.ts):
//   maxParallel 2, wave of 5                  → a, b start; c starts when a finishes
//   maxParallel "25%", wave of 10 = 2.5       → 3 at once;  "10%" of 3 = 0.3 → 1 (never 0)
//   failureThreshold 1, wave of 5             → 1st failure tolerated, 2nd halts
//   failureThreshold "20%", wave of 10 = 2    → 2 tolerated, 3rd halts
//   default "10%", wave of 15 = 1.5 → 1       → 1 tolerated, 2nd halts
//   default "10%", 1-device canary = 0.1 → 0  → the canary's failure halts; later waves untouched
//   retries 2, jitter 0: fails at 0 s → retried at 15 s; fails again → 30 s later; third → failed
//   backoff bounds (jitter 0 … 1): n=1 15–30 s, n=2 30–60 s, n=3 60–120 s, n=5 240–480 s,
//                                  n=6 30·2^5 = 960 s capped at 600 → 300–600 s
//   canary 1 of a 1-device fleet              → canary succeeds → completed; the empty waves skipped
//   a wave whose every device is offline      → starts, starts nothing, completes 1 h later with
//                                               0 failures; the next wave starts
//   pauseBetweenWaves 5m                      → wave 1 done at +10m → wave 2 starts at +15m
//   manualPromotion on the second wave        → after the canary, nothing starts until `promote`
//   offline device b in a wave with a         → a runs; b holds the wave; b reconnects → b starts
//   window fri 22:00–02:00 UTC                → Sat 01:00 starts jobs; Sat 03:00 starts none and
//                                               asks to be run again at the next opening
//   5/5 succeeded → completed; 4 + 1 failed within threshold → partial; 4 + 1 offline → partial;
//   3/3 failed (threshold "100%") → failed; 3 failed + 1 offline → partial; 0 devices → completed
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import { backoffDelay } from '../../../../schemas/backoff.ts';
import { readDuration } from '../../../../schemas/duration.ts';
import { RolloutError } from './errors.ts';
import { compareStrings, planWaves, resolveQuantity, type RolloutDevice, type Wave } from './waves.ts';
import { isWindowOpen, nextWindowOpening } from './windows.ts';

/** ISO-8601 UTC with milliseconds, as `Date.prototype.toISOString` writes it. */
export type IsoTime = string;

export type RolloutStatus = 'progressing' | 'paused' | 'halted' | 'completed' | 'partial' | 'failed';
export type RolloutDeviceStatus = 'waiting' | 'running' | 'succeeded' | 'failed' | 'retrying' | 'offline';
export type DeviceOutcome = 'succeeded' | 'failed';

export interface RolloutWaveState extends Wave {
  startedAt?: IsoTime;
  completedAt?: IsoTime;
  promotedAt?: IsoTime;
  /**
   * An operator started this wave now (`startNow`): it starts without waiting for the pause
   * between waves, and it and its devices start outside the maintenance windows, until it ends.
   */
  startedNow?: { at: IsoTime; reason: string };
}

export interface RolloutDeviceState {
  /** Index of the device's wave in `RolloutState.waves`. */
  wave: number;
  status: RolloutDeviceStatus;
  online: boolean;
  /** When the device was last seen going offline (the rollout's creation for one offline then). */
  offlineSince?: IsoTime;
  /** Jobs dispatched to the device by this rollout. */
  attempts: number;
  /** Attempts that failed. */
  failures: number;
  startedAt?: IsoTime;
  finishedAt?: IsoTime;
  /**
   * While `retrying`: when the retry may start. Absent between `deviceFinished` recording a failure
   * and the next `scheduleRollout` deciding between a retry and `failed`.
   */
  retryAt?: IsoTime;
}

export interface RolloutState {
  revision: string;
  /** The profile whose rollout this is; absent for the fleet-wide default policy. */
  profile?: string;
  status: RolloutStatus;
  createdAt: IsoTime;
  pausedAt?: IsoTime;
  /** When the rollout became halted, completed, partial or failed. */
  finishedAt?: IsoTime;
  /** Set when halted: the wave over its threshold and its failed devices. */
  halted?: { wave: number; devices: string[]; threshold: number };
  waves: RolloutWaveState[];
  /** By device name. */
  devices: Record<string, RolloutDeviceState>;
}

/** Devices by status; `total` is their sum. */
export type DeviceCounts = Record<RolloutDeviceStatus, number> & { total: number };

export type RolloutEvent =
  | { type: 'rollout.wave.started'; at: IsoTime; wave: number; name: string; devices: number }
  | {
      type: 'rollout.wave.completed';
      at: IsoTime;
      wave: number;
      name: string;
      counts: DeviceCounts;
      /** Devices the wave completed without: offline past `offlineTimeout`. */
      offline: string[];
      /** The next non-empty wave waits for `promote`. */
      nextAwaitsPromotion: boolean;
    }
  | { type: 'rollout.wave.promoted'; at: IsoTime; wave: number; name: string }
  | { type: 'rollout.wave.started-now'; at: IsoTime; wave: number; name: string; reason: string }
  | { type: 'rollout.paused'; at: IsoTime }
  | { type: 'rollout.resumed'; at: IsoTime }
  | { type: 'rollout.halted'; at: IsoTime; wave: number; name: string; failed: string[]; threshold: number }
  | { type: 'rollout.completed' | 'rollout.partial' | 'rollout.failed'; at: IsoTime; counts: DeviceCounts }
  | { type: 'device.retrying'; at: IsoTime; device: string; wave: number; failures: number; retryAt: IsoTime }
  | { type: 'device.failed'; at: IsoTime; device: string; wave: number; attempts: number };

export interface ScheduleResult {
  state: RolloutState;
  /** Devices to dispatch the rollout's job to now, in order. */
  start: string[];
  /**
   * The earliest time this rollout can change without an input: a retry falls due, a pause
   * between waves ends, an offline device stops holding its wave, a window opens. Run
   * `scheduleRollout` again then (controller-runtime's RequeueAfter). Absent when only an input
   * can move it on.
   */
  retryAt?: IsoTime;
  events: RolloutEvent[];
}

export interface RolloutTransition {
  state: RolloutState;
  events: RolloutEvent[];
}

export interface NewRollout {
  revision: string;
  profile?: string;
  policy: RolloutPolicy;
  devices: readonly RolloutDevice[];
  now: Date;
}

export const RETRY_BASE_MS = 30_000;
export const RETRY_CAP_MS = 600_000;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_FAILURE_THRESHOLD = '10%';
export const DEFAULT_OFFLINE_TIMEOUT_MS = 3_600_000;

/** A new rollout, `progressing`, with its waves planned and no wave started. */
export function createRollout(input: NewRollout): RolloutState {
  const at = input.now.toISOString();
  const waves = planWaves(input.policy, input.devices);
  const online = new Map(input.devices.map((d) => [d.name, d.online]));
  const entries: Array<[string, RolloutDeviceState]> = [];
  waves.forEach((wave, index) => {
    for (const name of wave.devices) {
      const isOnline = online.get(name) === true;
      const device: RolloutDeviceState = { wave: index, status: isOnline ? 'waiting' : 'offline', online: isOnline, attempts: 0, failures: 0 };
      if (!isOnline) device.offlineSince = at;
      entries.push([name, device]);
    }
  });
  entries.sort(([a], [b]) => compareStrings(a, b));
  const state: RolloutState = {
    revision: input.revision,
    status: 'progressing',
    createdAt: at,
    waves: waves.map((wave) => ({ ...wave, devices: [...wave.devices] })),
    devices: Object.fromEntries(entries),
  };
  if (input.profile !== undefined) state.profile = input.profile;
  return state;
}

/**
 * Delay before retry number `failures` (1 for the first retry) with `jitter` in 0–1:
 * min(10 min, 30 s·2^(failures−1))·(0.5 + jitter/2), in whole milliseconds. A jitter outside 0–1
 * is clamped; NaN counts as 1 (the longer wait).
 */
export function retryDelayMs(failures: number, jitter: number): number {
  return backoffDelay(failures - 1, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, jitter: 'equal' }, () => jitter);
}

/** How many of a wave's `waveSize` devices may run at once under `policy` (at least 1). */
export function maxParallelOf(policy: RolloutPolicy, waveSize: number): number {
  const resolved = policy.maxParallel === undefined ? undefined : resolveQuantity(policy.maxParallel, waveSize, 'up');
  return Math.max(1, resolved ?? waveSize);
}

/** How many failed devices a wave tolerates; one more halts the rollout. */
export function failureThresholdOf(policy: RolloutPolicy, wave: Pick<Wave, 'failureThreshold' | 'devices'>): number {
  const size = wave.devices.length;
  const own = wave.failureThreshold === undefined ? undefined : resolveQuantity(wave.failureThreshold, size, 'down');
  const policyWide = policy.failureThreshold === undefined ? undefined : resolveQuantity(policy.failureThreshold, size, 'down');
  return own ?? policyWide ?? resolveQuantity(DEFAULT_FAILURE_THRESHOLD, size, 'down')!;
}

/** One scheduling pass; see the module comment for the rules. */
export function scheduleRollout(state: RolloutState, policy: RolloutPolicy, now: Date, jitter: number): ScheduleResult {
  const s = copyForPass(state);
  const at = now.toISOString();
  const t = now.getTime();
  const events: RolloutEvent[] = [];
  const settings = resolveSettings(policy);

  classifyFailures(s, settings, t, at, jitter, events);
  if (isFinal(s.status)) return { state: s, start: [], events };

  if (haltIfOverThreshold(s, policy, at, events)) return { state: s, start: [], events };
  completeWaves(s, settings, t, at, events);

  const open = isWindowOpen(policy.windows, now);
  const start: string[] = [];
  if (s.status === 'progressing') {
    // Outside the windows only a wave an operator started now moves (rule 6's one exception).
    startNextWave(s, settings, t, at, events, open);
    start.push(...startDevices(s, policy, t, at, open));
  }
  finishIfDone(s, at, events);

  const result: ScheduleResult = { state: s, start, events };
  if (!isFinal(s.status)) {
    const wake = nextWake(s, policy, settings, t, open);
    if (wake !== undefined) result.retryAt = new Date(wake).toISOString();
  }
  return result;
}

/**
 * Records a job's outcome. Accepted for a device this rollout started whose attempt has no
 * outcome yet (running, or disconnected since); anything else — a duplicate, a device never
 * started, an unknown device — leaves the state as it is. A result means the device is connected.
 * A failure shows as `retrying` until the next `scheduleRollout` decides between a retry and
 * `failed`.
 */
export function deviceFinished(state: RolloutState, device: string, outcome: DeviceOutcome, now: Date): RolloutTransition {
  const current = deviceOf(state, device);
  if (current === undefined || current.attempts === 0) return { state, events: [] };
  if (current.status !== 'running' && current.status !== 'offline' && current.status !== 'waiting') {
    return { state, events: [] };
  }
  const d: RolloutDeviceState = { ...current, online: true, finishedAt: now.toISOString() };
  delete d.offlineSince;
  delete d.retryAt;
  if (outcome === 'succeeded') {
    d.status = 'succeeded';
  } else {
    d.status = 'retrying';
    d.failures += 1;
  }
  return { state: withDevice(state, device, d), events: [] };
}

/**
 * Records that a device connected (`online`) or disconnected. A waiting or running device that
 * disconnects becomes `offline`; an offline one that connects becomes `waiting` and is started
 * again when its wave allows. Other statuses keep their status. Unknown devices and repeats change
 * nothing.
 */
export function deviceOnline(state: RolloutState, device: string, online: boolean, now: Date): RolloutTransition {
  const current = deviceOf(state, device);
  if (current === undefined || current.online === online) return { state, events: [] };
  const d: RolloutDeviceState = { ...current, online };
  if (online) {
    delete d.offlineSince;
    if (d.status === 'offline') d.status = 'waiting';
  } else {
    d.offlineSince = now.toISOString();
    if (d.status === 'waiting' || d.status === 'running') d.status = 'offline';
  }
  return { state: withDevice(state, device, d), events: [] };
}

/**
 * Promotes the wave waiting for promotion: the next non-empty wave has `manualPromotion` and every
 * wave before it has completed. Promoting it again before it starts changes nothing. It still
 * waits for `pauseBetweenWaves`, a window and `resume`. Throws `rollout.finished` on a final
 * rollout and `rollout.nothing-to-promote` when no wave waits for promotion.
 */
export function promote(state: RolloutState, now: Date): RolloutTransition {
  assertNotFinal(state, 'promote');
  const next = nextWave(state);
  if (next !== undefined && next.blockedBy === undefined && state.waves[next.index]!.manualPromotion) {
    const wave = state.waves[next.index]!;
    if (wave.promotedAt !== undefined) return { state, events: [] };
    const at = now.toISOString();
    const waves = state.waves.map((w, i) => (i === next.index ? { ...w, promotedAt: at } : w));
    return { state: { ...state, waves }, events: [{ type: 'rollout.wave.promoted', at, wave: next.index, name: wave.name }] };
  }
  throw new RolloutError('rollout.nothing-to-promote', 'no wave is waiting for promotion');
}

/**
 * An operator starts the wave a closed maintenance window or the pause between waves holds, now,
 * with a reason (audited by the caller). The wave then runs to its end outside the windows; later
 * waves wait again. Throws `rollout.finished`, and `rollout.nothing-to-start` when no wave is held
 * by a window or a pause.
 */
export function startNow(state: RolloutState, now: Date, reason: string, policy?: RolloutPolicy): RolloutTransition {
  assertNotFinal(state, 'start now');
  const waiting = policy === undefined ? undefined : rolloutWaiting(state, policy, now);
  const next = nextWave(state);
  const active = activeWave(state);
  // The running wave held by the window, else the next wave (held by the window or the pause).
  const index = active !== undefined && state.waves[active]!.startedNow === undefined && (waiting === undefined || waiting.kind === 'window') ? active : next?.blockedBy === undefined ? next?.index : undefined;
  const held = index !== undefined && state.waves[index]!.startedNow === undefined && (waiting === undefined ? true : waiting.kind === 'window' || waiting.kind === 'pause');
  if (!held || state.status !== 'progressing') {
    throw new RolloutError('rollout.nothing-to-start', waiting ? `nothing for start now to override: ${waiting.reason}` : 'no wave waits for a maintenance window or a pause between waves');
  }
  const at = now.toISOString();
  const waves = state.waves.map((w, i) => (i === index ? { ...w, startedNow: { at, reason } } : w));
  return { state: { ...state, waves }, events: [{ type: 'rollout.wave.started-now', at, wave: index!, name: state.waves[index!]!.name, reason }] };
}

/** Pauses a progressing rollout; pausing a paused one changes nothing. Throws `rollout.finished`. */
export function pause(state: RolloutState, now: Date): RolloutTransition {
  assertNotFinal(state, 'pause');
  if (state.status === 'paused') return { state, events: [] };
  const at = now.toISOString();
  return { state: { ...state, status: 'paused', pausedAt: at }, events: [{ type: 'rollout.paused', at }] };
}

/** Resumes a paused rollout; resuming a progressing one changes nothing. Throws `rollout.finished`. */
export function resume(state: RolloutState, now: Date): RolloutTransition {
  assertNotFinal(state, 'resume');
  if (state.status === 'progressing') return { state, events: [] };
  const s: RolloutState = { ...state, status: 'progressing' };
  delete s.pausedAt;
  return { state: s, events: [{ type: 'rollout.resumed', at: now.toISOString() }] };
}

/**
 * Why a rollout that is not finished starts nothing now, and until when (rule 1, 6, 7): what the
 * API, `deployx rollout list/show` and the dashboard say. Undefined while it is running a wave
 * (or has finished). `until` is when it may move on by itself; absent when a person must act.
 */
export type RolloutWaiting =
  | { kind: 'paused'; wave?: number; since: IsoTime; reason: string }
  | { kind: 'window'; wave?: number; until?: IsoTime; timeZone: string; reason: string }
  | { kind: 'pause'; wave: number; until: IsoTime; reason: string }
  | { kind: 'promotion'; wave: number; reason: string }
  | { kind: 'offline'; wave: number; devices: string[]; until?: IsoTime; reason: string };

export function rolloutWaiting(state: RolloutState, policy: RolloutPolicy, now: Date): RolloutWaiting | undefined {
  if (isFinal(state.status)) return undefined;
  const settings = resolveSettings(policy);
  const t = now.getTime();
  const next = nextWave(state);
  const active = activeWave(state);
  const waveName = (index: number | undefined) => (index === undefined ? 'the next wave' : `wave ${index + 1} (${state.waves[index]!.name})`);
  if (state.status === 'paused') {
    const wave = active ?? next?.index;
    return { kind: 'paused', ...(wave === undefined ? {} : { wave }), since: state.pausedAt ?? state.createdAt, reason: `paused by an operator; ${waveName(wave)} waits for resume` };
  }
  // A wave (or a device of the running one) would start but the window is closed.
  const wouldStart =
    (next !== undefined && next.blockedBy === undefined) ||
    (active !== undefined && state.waves[active]!.devices.some((name) => {
      const d = state.devices[name]!;
      return d.online && (d.status === 'waiting' || d.status === 'retrying');
    }));
  const forced = (index: number | undefined) => index !== undefined && state.waves[index]!.startedNow !== undefined;
  if (wouldStart && !isWindowOpen(policy.windows, now) && !forced(active ?? next?.index)) {
    const opening = nextWindowOpening(policy.windows, now);
    const zone = policy.windows?.[0]?.timeZone ?? 'UTC';
    const wave = active ?? next?.index;
    return {
      kind: 'window',
      ...(wave === undefined ? {} : { wave }),
      ...(opening ? { until: opening.toISOString() } : {}),
      timeZone: zone,
      reason: opening
        ? `outside its maintenance windows; ${waveName(wave)} starts when one opens: ${wallTime(opening, zone)} (${opening.toISOString()})`
        : 'outside its maintenance windows, and none of them can open (check their days, times and time zone)',
    };
  }
  if (next !== undefined && next.blockedBy === undefined) {
    const wave = state.waves[next.index]!;
    if (wave.manualPromotion && wave.promotedAt === undefined) {
      return { kind: 'promotion', wave: next.index, reason: `${waveName(next.index)} waits for an operator to promote it` };
    }
    const ends = pauseEnds(next, settings);
    if (ends > t && wave.startedNow === undefined) {
      return { kind: 'pause', wave: next.index, until: new Date(ends).toISOString(), reason: `pause between waves: ${waveName(next.index)} starts in ${minutesLeft(ends - t)}` };
    }
  }
  if (active !== undefined) {
    const wave = state.waves[active]!;
    const pending = wave.devices.filter((name) => {
      const d = state.devices[name]!;
      return d.status !== 'succeeded' && d.status !== 'failed';
    });
    if (pending.length > 0 && pending.every((name) => !state.devices[name]!.online && state.devices[name]!.status !== 'running')) {
      const deadlines = pending.map((name) => offlineDeadline(state, name, settings)).filter((d): d is number => d !== undefined);
      const until = deadlines.length > 0 ? Math.max(...deadlines) : undefined;
      return {
        kind: 'offline',
        wave: active,
        devices: pending,
        ...(until === undefined ? {} : { until: new Date(until).toISOString() }),
        reason: `${waveName(active)} waits for ${pending.length} offline device${pending.length === 1 ? '' : 's'} (${pending.slice(0, 3).join(', ')}${pending.length > 3 ? ', …' : ''})${until === undefined ? '' : `; it moves on without them in ${minutesLeft(until - t)}`}`,
      };
    }
  }
  return undefined;
}

function minutesLeft(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  return minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

/** `Mon 20:00 Europe/Amsterdam`: the wall clock of the window's own time zone. */
function wallTime(at: Date, timeZone: string): string {
  try {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
    return `${parts} ${timeZone}`;
  } catch {
    return at.toISOString();
  }
}

/** The index of the wave that waits for `promote`, if one does. */
export function waveAwaitingPromotion(state: RolloutState): number | undefined {
  if (isFinal(state.status)) return undefined;
  const next = nextWave(state);
  if (next === undefined || next.blockedBy !== undefined) return undefined;
  const wave = state.waves[next.index]!;
  return wave.manualPromotion && wave.promotedAt === undefined ? next.index : undefined;
}

/** The index of the wave started and not completed, if any. */
export function activeWave(state: RolloutState): number | undefined {
  const index = state.waves.findIndex((w) => w.startedAt !== undefined && w.completedAt === undefined);
  return index === -1 ? undefined : index;
}

/** Devices by status, over the whole rollout or one wave. */
export function countDevices(state: RolloutState, wave?: number): DeviceCounts {
  const counts: DeviceCounts = { total: 0, waiting: 0, running: 0, succeeded: 0, failed: 0, retrying: 0, offline: 0 };
  for (const name in state.devices) {
    const device = state.devices[name]!;
    if (wave !== undefined && device.wave !== wave) continue;
    counts[device.status] += 1;
    counts.total += 1;
  }
  return counts;
}

function deviceOf(state: RolloutState, name: string): RolloutDeviceState | undefined {
  return Object.hasOwn(state.devices, name) ? state.devices[name] : undefined;
}

/** A copy of `state` with one device replaced; the other devices are shared, not copied. */
function withDevice(state: RolloutState, name: string, device: RolloutDeviceState): RolloutState {
  return { ...state, devices: { ...state.devices, [name]: device } };
}

export function isFinal(status: RolloutStatus): boolean {
  return status === 'halted' || status === 'completed' || status === 'partial' || status === 'failed';
}

// ---- the pass ----

/**
 * The copy of `state` a pass changes, so the caller's state is never modified: the top level and
 * the waves are copied; the device map is copied when the pass first writes a device, and that
 * device's own (flat) object with it (`ownDevice`). A pass over 10,000 devices that changes none
 * of them copies none. Wave `devices` lists and `halted` are never written, only replaced.
 */
function copyForPass(state: RolloutState): RolloutState {
  return { ...state, waves: state.waves.map((wave) => ({ ...wave })) };
}

/** Top-level copies (made by `copyForPass` in this module) whose device map is their own. */
const ownsDeviceMap = new WeakSet<RolloutState>();

/** The device's object in the pass's copy, made the pass's own before it is written. */
function ownDevice(s: RolloutState, name: string): RolloutDeviceState {
  if (!ownsDeviceMap.has(s)) {
    s.devices = { ...s.devices };
    ownsDeviceMap.add(s);
  }
  const copy = { ...s.devices[name]! };
  s.devices[name] = copy;
  return copy;
}

interface Settings {
  retries: number;
  pauseMs: number;
  offlineTimeoutMs: number;
}

function resolveSettings(policy: RolloutPolicy): Settings {
  const retries = policy.retries;
  return {
    retries: typeof retries === 'number' && Number.isInteger(retries) && retries >= 0 ? retries : DEFAULT_RETRIES,
    pauseMs: (policy.pauseBetweenWaves === undefined ? undefined : readDuration(policy.pauseBetweenWaves)) ?? 0,
    offlineTimeoutMs:
      (policy.offlineTimeout === undefined ? undefined : readDuration(policy.offlineTimeout)) ?? DEFAULT_OFFLINE_TIMEOUT_MS,
  };
}

/** Failures `deviceFinished` recorded become a scheduled retry, or `failed` once retries run out. */
function classifyFailures(s: RolloutState, settings: Settings, t: number, at: IsoTime, jitter: number, events: RolloutEvent[]): void {
  for (const name in s.devices) {
    const seen = s.devices[name]!;
    if (seen.status !== 'retrying' || seen.retryAt !== undefined) continue;
    const d = ownDevice(s, name);
    if (d.failures > settings.retries || isFinal(s.status)) {
      d.status = 'failed';
      events.push({ type: 'device.failed', at, device: name, wave: d.wave, attempts: d.attempts });
      continue;
    }
    const failedAt = d.finishedAt === undefined ? t : Date.parse(d.finishedAt);
    d.retryAt = new Date(failedAt + retryDelayMs(d.failures, jitter)).toISOString();
    events.push({ type: 'device.retrying', at, device: name, wave: d.wave, failures: d.failures, retryAt: d.retryAt });
  }
}

function haltIfOverThreshold(s: RolloutState, policy: RolloutPolicy, at: IsoTime, events: RolloutEvent[]): boolean {
  for (let index = 0; index < s.waves.length; index++) {
    const wave = s.waves[index]!;
    if (wave.startedAt === undefined) continue;
    const threshold = failureThresholdOf(policy, wave);
    if (wave.devices.filter((name) => s.devices[name]!.status === 'failed').length <= threshold) continue;
    s.status = 'halted';
    s.finishedAt = at;
    delete s.pausedAt;
    // No retry happens any more: a device waiting for one keeps the outcome of its last attempt.
    for (const [name, seen] of Object.entries(s.devices)) {
      if (seen.status !== 'retrying') continue;
      const d = ownDevice(s, name);
      d.status = 'failed';
      delete d.retryAt;
      events.push({ type: 'device.failed', at, device: name, wave: d.wave, attempts: d.attempts });
    }
    const failed = wave.devices.filter((name) => s.devices[name]!.status === 'failed');
    s.halted = { wave: index, devices: failed, threshold };
    events.push({ type: 'rollout.halted', at, wave: index, name: wave.name, failed, threshold });
    return true;
  }
  return false;
}

/** When an unfinished offline device stops holding its wave, or undefined when it does not hold one. */
function offlineDeadline(s: RolloutState, name: string, settings: Settings): number | undefined {
  const d = s.devices[name]!;
  if (d.online || d.status === 'succeeded' || d.status === 'failed') return undefined;
  const startedAt = s.waves[d.wave]!.startedAt;
  if (startedAt === undefined) return undefined;
  const since = Math.max(Date.parse(startedAt), d.offlineSince === undefined ? 0 : Date.parse(d.offlineSince));
  return since + settings.offlineTimeoutMs;
}

function completeWaves(s: RolloutState, settings: Settings, t: number, at: IsoTime, events: RolloutEvent[]): void {
  s.waves.forEach((wave, index) => {
    if (wave.startedAt === undefined || wave.completedAt !== undefined) return;
    const offline: string[] = [];
    for (const name of wave.devices) {
      const d = s.devices[name]!;
      if (d.status === 'succeeded' || d.status === 'failed') continue;
      const deadline = offlineDeadline(s, name, settings);
      if (deadline === undefined || deadline > t) return;
      offline.push(name);
    }
    wave.completedAt = at;
    const next = nextWave(s);
    const nextAwaitsPromotion =
      next !== undefined && next.blockedBy === undefined && s.waves[next.index]!.manualPromotion && s.waves[next.index]!.promotedAt === undefined;
    events.push({ type: 'rollout.wave.completed', at, wave: index, name: wave.name, counts: countDevices(s, index), offline, nextAwaitsPromotion });
  });
}

/**
 * The first non-empty wave not started, and what it waits for besides promotion: `wave` when an
 * earlier wave has not completed; `completedAt` is when the previous non-empty wave completed.
 */
function nextWave(s: RolloutState): { index: number; blockedBy?: 'wave'; previousCompletedAt?: number } | undefined {
  let previous: RolloutWaveState | undefined;
  for (let index = 0; index < s.waves.length; index++) {
    const wave = s.waves[index]!;
    if (wave.devices.length === 0) continue;
    if (wave.startedAt === undefined) {
      if (previous === undefined) return { index };
      if (previous.completedAt === undefined) return { index, blockedBy: 'wave' };
      return { index, previousCompletedAt: Date.parse(previous.completedAt) };
    }
    previous = wave;
  }
  return undefined;
}

/** When the next wave may start as far as the pause between waves goes. */
function pauseEnds(next: { previousCompletedAt?: number }, settings: Settings): number {
  return next.previousCompletedAt === undefined ? -Infinity : next.previousCompletedAt + settings.pauseMs;
}

function startNextWave(s: RolloutState, settings: Settings, t: number, at: IsoTime, events: RolloutEvent[], open: boolean): void {
  const next = nextWave(s);
  if (next === undefined || next.blockedBy !== undefined) return;
  const wave = s.waves[next.index]!;
  if (wave.manualPromotion && wave.promotedAt === undefined) return;
  if (wave.startedNow === undefined && (!open || pauseEnds(next, settings) > t)) return;
  wave.startedAt = at;
  events.push({ type: 'rollout.wave.started', at, wave: next.index, name: wave.name, devices: wave.devices.length });
}

/**
 * Starts due retries, then waiting devices, in every started wave, within each wave's maxParallel;
 * outside the windows, only in a wave an operator started now.
 */
function startDevices(s: RolloutState, policy: RolloutPolicy, t: number, at: IsoTime, open: boolean): string[] {
  const start: string[] = [];
  for (const wave of s.waves) {
    if (wave.startedAt === undefined) continue;
    if (!open && wave.startedNow === undefined) continue;
    let running = 0;
    let heldForRetry = 0;
    const dueRetries: Array<[string, number]> = [];
    const waiting: string[] = [];
    for (const name of wave.devices) {
      const d = s.devices[name]!;
      if (d.status === 'running') running += 1;
      else if (d.status === 'retrying' && d.online && d.retryAt !== undefined) {
        const due = Date.parse(d.retryAt);
        if (due <= t) dueRetries.push([name, due]);
        else heldForRetry += 1;
      } else if (d.status === 'waiting' && d.online) waiting.push(name);
    }
    dueRetries.sort(([a, x], [b, y]) => x - y || compareStrings(a, b));
    let slots = maxParallelOf(policy, wave.devices.length) - running - heldForRetry;
    for (const name of [...dueRetries.map(([n]) => n), ...waiting]) {
      if (slots <= 0) break;
      const d = ownDevice(s, name);
      d.status = 'running';
      d.attempts += 1;
      d.startedAt = at;
      delete d.retryAt;
      delete d.finishedAt;
      start.push(name);
      slots -= 1;
    }
  }
  return start;
}

function finishIfDone(s: RolloutState, at: IsoTime, events: RolloutEvent[]): void {
  if (s.waves.some((w) => w.devices.length > 0 && w.completedAt === undefined)) return;
  for (const name in s.devices) {
    const d = s.devices[name]!;
    if (d.status === 'running') return;
    if (d.online && (d.status === 'waiting' || d.status === 'retrying')) return;
  }
  const counts = countDevices(s);
  const status: 'completed' | 'partial' | 'failed' =
    counts.succeeded === counts.total ? 'completed' : counts.failed > 0 && counts.failed === counts.total ? 'failed' : 'partial';
  s.status = status;
  s.finishedAt = at;
  delete s.pausedAt;
  events.push({ type: `rollout.${status}`, at, counts });
}

function nextWake(s: RolloutState, policy: RolloutPolicy, settings: Settings, t: number, open: boolean): number | undefined {
  const candidates: number[] = [];
  const progressing = s.status === 'progressing';
  for (const name in s.devices) {
    const d = s.devices[name]!;
    if (progressing && d.status === 'retrying' && d.online && d.retryAt !== undefined) {
      candidates.push(Date.parse(d.retryAt));
    }
    if (s.waves[d.wave]!.completedAt === undefined) {
      const deadline = offlineDeadline(s, name, settings);
      if (deadline !== undefined) candidates.push(deadline);
    }
  }
  const next = nextWave(s);
  if (progressing && next !== undefined && next.blockedBy === undefined) {
    const wave = s.waves[next.index]!;
    if (!wave.manualPromotion || wave.promotedAt !== undefined) candidates.push(pauseEnds(next, settings));
  }
  if (progressing && !open) {
    const opening = nextWindowOpening(policy.windows, new Date(t));
    if (opening !== undefined) candidates.push(opening.getTime());
  }
  let earliest: number | undefined;
  for (const c of candidates) {
    if (c > t && (earliest === undefined || c < earliest)) earliest = c;
  }
  return earliest;
}

function assertNotFinal(state: RolloutState, command: string): void {
  if (isFinal(state.status)) {
    throw new RolloutError('rollout.finished', `cannot ${command}: the rollout is ${state.status}`);
  }
}
