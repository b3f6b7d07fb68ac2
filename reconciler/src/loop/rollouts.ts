// The rollout driver: runs the pure scheduler (core/rollout/schedule.ts) for the server. It holds
// the current rollouts in memory, feeds them what the loop observes, persists them, wakes them up
// on time, and answers the device loop's one question: may this device get its job now (`gate`)?
//
// Contract
// - Rollouts are created by `begin` when a revision is accepted, for the devices and profiles
//   core/rollout/membership.ts assigns; the rollouts they replace are marked `superseded` in the
//   same write. Only current (not superseded) rollouts live in memory; `load` reads them back at
//   start, before the first revision is accepted.
// - Inputs only record: `resulted` (a rollout job's result), `converged` (a started device whose
//   plan is empty), `deviceOnline`, and the operator's `command` (promote, pause, resume — they
//   never touch desired state). Inputs are recorded at once (a burst of them in one copy of the
//   state, `recordEach`); the touched rollouts are scheduled again in the next pass — at once for
//   a new rollout, a command or the timer, otherwise after a short delay that collects a burst.
//   The devices a pass starts are given a device pass once the new state is stored.
// - A timer runs a pass over every unfinished rollout at the earliest `retryAt` the scheduler
//   asked for (a retry, the end of a pause, an offline timeout, a window opening), sleeping at
//   most `maxSleepMs` (30 s) at a time; it is unref'd.
// - `gate(device)`: the newest current rollout listing the device decides while it owes the
//   device a job (membership.ts `owes`): `run` when the scheduler has started it and its job for
//   that attempt does not exist yet, `sent` when it does, `hold` otherwise (with the reason the
//   device status shows). A device no rollout owes anything is `free`: its changes, drift
//   corrections included, go out at once under the loop's own retry backoff.
// - Persistence: every change is written (whole state, batched) on one serial chain; a failed
//   write is logged and tried again with the next change or after 5 s. A crash between an
//   accepted revision's record and its rollouts' first write leaves that revision's devices
//   ungated (the restarted server serves it as already accepted) — the window is one write.
// - Events go to `onEvent` (every scheduler event, plus `rollout.created` / `rollout.superseded`)
//   and, for the names a Fleet's notifiers know (`rollout.wave.completed`, `rollout.halted`,
//   `rollout.completed|partial|failed`, `device.failed`), to the notifier — failed devices with
//   the error and output tail of their last job for the rollout.
import { randomBytes } from 'node:crypto';
import type { RolloutPolicy } from '../../../schemas/kinds.ts';
import type { RolloutView, RolloutWaveView } from '../../../schemas/protocol.ts';
import { isStepFailure } from '../../../schemas/step-status.ts';
import { owes, type CurrentRollout } from '../core/rollout/membership.ts';
import {
  activeWave,
  countDevices,
  deviceFinished,
  deviceOnline,
  failureThresholdOf,
  isFinal,
  maxParallelOf,
  pause,
  promote,
  resume,
  scheduleRollout,
  rolloutWaiting,
  startNow,
  waveAwaitingPromotion,
  createRollout,
  type DeviceCounts,
  type RolloutEvent,
  type RolloutState,
  type RolloutTransition,
} from '../core/rollout/schedule.ts';
import type { RolloutDevice } from '../core/rollout/waves.ts';
import type { Logger } from '../../../schemas/log.ts';
import { createEvent, outputTail, type FailedDevice, type RolloutCounts } from '../edges/notify/events.ts';
import type { Notifier } from '../edges/notify/notifier.ts';
import type { JobRecord, ListRolloutsQuery, RolloutRecord, RolloutRecordStatus, Store } from '../edges/store/store.ts';

export const DEFAULT_MAX_SLEEP_MS = 30_000;
const SAVE_RETRY_MS = 5_000;
const ONLINE_BATCH_MS = 20;
const MIN_PASS_DELAY_MS = 10;
const MAX_PASS_DELAY_MS = 2_000;
/**
 * Input-driven passes wait this many times what the last pass cost — scheduling plus writing the
 * rollouts it changed — so rollouts take at most a fifth of the loop. (A 10,000-device state is
 * ~1.7 MB of JSON per write: leaving the write out made passes far more frequent than intended.)
 */
const PASS_SPACING = 4;
/** Failed devices looked up (job output) for one event or one API answer. */
const MAX_FAILED_DETAILS = 50;

export type RolloutCommand = 'promote' | 'pause' | 'resume' | 'start-now';

/** Typed errors of the driver's own (the scheduler's are `RolloutError`s). */
export class RolloutLookupError extends Error {
  override readonly name = 'RolloutLookupError';
  constructor(
    readonly code: 'rollout.not-found' | 'rollout.superseded',
    message: string,
  ) {
    super(message);
  }
}

/** What the device loop may do for a device, see the module comment. */
export type RolloutGate =
  | { kind: 'free' }
  /** `attempt`: the scheduler's attempt number the job to create is for (`jobCreated`). */
  | { kind: 'run'; rolloutId: string; revision: string; attempt: number }
  | { kind: 'sent'; rolloutId: string; jobId: string }
  | { kind: 'hold'; rolloutId: string; state: 'converging' | 'failed'; reason: string };

/** Events the driver adds to the scheduler's. */
export type RolloutNoticeEvent =
  | RolloutEvent
  | { type: 'rollout.created'; at: string; devices: number; waves: number }
  | { type: 'rollout.superseded'; at: string; by: string };

export interface RolloutNotice {
  rolloutId: string;
  profile?: string;
  revision: string;
  status: RolloutRecordStatus;
  event: RolloutNoticeEvent;
}

export interface NewRolloutInput {
  profile: string;
  policy: RolloutPolicy;
  devices: readonly RolloutDevice[];
}

export interface RolloutDriverDeps {
  store: Pick<Store, 'saveRollouts' | 'getRollout' | 'listRollouts' | 'currentRollouts' | 'rolloutJobsMany'>;
  log: Logger;
  now: () => Date;
  /** In [0, 1]: the jitter of retry backoff. */
  random: () => number;
  isOnline: (deviceId: string) => boolean;
  /** Gives devices a device pass: the scheduler started them, or what holds them changed. */
  enqueue: (deviceIds: readonly string[]) => void;
  notifier?: Pick<Notifier, 'notify'>;
  onEvent?: (notice: RolloutNotice) => void;
  /** Longest sleep of the wake-up timer; default 30 s. */
  maxSleepMs?: number;
  newId?: () => string;
}

interface Entry {
  record: RolloutRecord;
  /** Epoch ms of the scheduler's last `retryAt`. */
  wakeAt?: number;
  /** The rollout's status after the last pass. */
  passStatus?: RolloutState['status'];
  /**
   * `record.state.devices` is a map only this driver holds (from the store, `createRollout` or
   * the scheduler's copy), so inputs may be recorded into it in place (`recordEach`). Cleared
   * when the record is handed out (`get`, `command`, `begin`); the next change copies it again.
   */
  owned?: boolean;
}

export class RolloutDriver {
  /** Current rollouts by id, in creation order. */
  readonly #entries = new Map<string, Entry>();
  /** Device → the newest current rollout listing it. */
  #holders = new Map<string, Entry>();
  /** `rollout\ndevice` → the job created for the device's attempt number `attempt`. */
  readonly #sent = new Map<string, { attempt: number; jobId: string }>();
  /** Records waiting to be written, by id (the latest version of each). */
  readonly #unsaved = new Map<string, RolloutRecord>();
  #writing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #retrySave: NodeJS.Timeout | undefined;
  /** Background work (event details); awaited by `settled`. */
  #background: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #pendingOnline = new Map<string, boolean>();
  #onlineTimer: NodeJS.Timeout | undefined;
  /** Rollouts whose inputs changed since their last scheduling pass. */
  readonly #due = new Set<string>();
  #passTimer: NodeJS.Timeout | undefined;
  #passDelayMs = MIN_PASS_DELAY_MS;

  constructor(private readonly deps: RolloutDriverDeps) {}

  /** Reads the current rollouts back (at start) and brings their devices' online flags up to date. */
  async load(): Promise<void> {
    const records = await this.deps.store.currentRollouts();
    const now = this.deps.now();
    for (const stored of records) {
      const entry: Entry = { record: stored, owned: true };
      this.#entries.set(stored.id, entry);
      if (isFinal(stored.state.status)) continue;
      const inputs = Object.keys(stored.state.devices).map((device) => ({ device, online: this.deps.isOnline(device) }));
      this.#record(entry, inputs, (i) => i.device, (one, { device, online }) => deviceOnline(one, device, online, now));
    }
    this.#reindex();
    this.#advance([...this.#entries.keys()], true);
    if (records.length > 0) this.deps.log.info('rollouts loaded', { current: records.length });
  }

  /** The current rollouts, oldest first, as membership.ts reads them. */
  current(): CurrentRollout[] {
    this.#flushOnline();
    return [...this.#entries.values()].map(({ record }) => ({
      id: record.id,
      profile: record.profile,
      status: record.state.status,
      devices: record.state.devices,
    }));
  }

  /**
   * Starts the rollouts of an accepted revision and supersedes the ones they replace, in one
   * write; resolves once it is stored, so the caller can serve the revision only then.
   */
  async begin(revision: string, rollouts: readonly NewRolloutInput[], superseded: readonly string[]): Promise<RolloutRecord[]> {
    this.#flushOnline();
    const now = this.deps.now();
    const at = now.toISOString();
    const created: RolloutRecord[] = [];
    for (const input of rollouts) {
      const id = this.deps.newId?.() ?? `ro-${randomBytes(6).toString('hex')}`;
      // Online as the gateway sees it now: later changes come in through `deviceOnline`.
      const devices = input.devices.map((d) => ({ ...d, online: this.deps.isOnline(d.name) }));
      const state = createRollout({ revision, profile: input.profile, policy: input.policy, devices, now });
      created.push({ id, revision, profile: input.profile, status: state.status, policy: input.policy, state, createdAt: at, updatedAt: at });
    }
    for (const id of superseded) {
      const entry = this.#entries.get(id);
      if (entry === undefined) continue;
      this.#entries.delete(id);
      for (const key of this.#sent.keys()) if (key.startsWith(`${id}\n`)) this.#sent.delete(key);
      const successor = created.find((c) => c.profile === entry.record.profile);
      const record: RolloutRecord = { ...entry.record, status: 'superseded', updatedAt: at };
      if (successor !== undefined) record.supersededBy = successor.id;
      this.#unsaved.set(id, record);
      this.#notice(record, { type: 'rollout.superseded', at, by: successor?.id ?? '' });
      this.deps.log.info('rollout superseded', { rollout: id, by: successor?.id });
    }
    for (const record of created) {
      this.#entries.set(record.id, { record, owned: true });
      this.#unsaved.set(record.id, record);
      const devices = Object.keys(record.state.devices).length;
      this.#notice(record, { type: 'rollout.created', at, devices, waves: record.state.waves.length });
      this.deps.log.info('rollout created', { rollout: record.id, profile: record.profile, revision, devices });
    }
    this.#reindex();
    this.#advance(created.map((c) => c.id), true);
    await this.#save();
    return created.map((c) => {
      const entry = this.#entries.get(c.id);
      if (entry === undefined) return c;
      entry.owned = false;
      return entry.record;
    });
  }

  /** May `deviceId` get a job now? See the module comment. */
  gate(deviceId: string): RolloutGate {
    this.#flushOnline();
    const entry = this.#holders.get(deviceId);
    if (entry === undefined) return { kind: 'free' };
    const { record } = entry;
    const state = record.state;
    if (!owes(state, deviceId)) return { kind: 'free' };
    const device = state.devices[deviceId]!;
    const wave = waveLabel(state, device.wave);
    if (device.status === 'running') {
      const sent = this.#sent.get(sentKey(record.id, deviceId));
      if (sent !== undefined && sent.attempt === device.attempts) return { kind: 'sent', rolloutId: record.id, jobId: sent.jobId };
      if (state.status === 'halted') {
        return { kind: 'hold', rolloutId: record.id, state: 'converging', reason: `rollout ${record.id} halted in ${haltedWave(state)}; untouched until a new revision` };
      }
      return { kind: 'run', rolloutId: record.id, revision: record.revision, attempt: device.attempts };
    }
    if (device.status === 'failed') {
      const attempts = `${device.attempts} attempt${device.attempts === 1 ? '' : 's'}`;
      return { kind: 'hold', rolloutId: record.id, state: 'failed', reason: `failed in rollout ${record.id} ${wave} after ${attempts}; waiting for a new revision` };
    }
    if (device.status === 'retrying') {
      const when = device.retryAt === undefined ? 'soon' : `at ${device.retryAt}`;
      return { kind: 'hold', rolloutId: record.id, state: 'failed', reason: `failed ${device.failures} times in rollout ${record.id}; retry ${when}` };
    }
    if (state.status === 'halted') {
      return { kind: 'hold', rolloutId: record.id, state: 'converging', reason: `rollout ${record.id} halted in ${haltedWave(state)}; untouched until a new revision` };
    }
    if (state.status === 'paused') {
      return { kind: 'hold', rolloutId: record.id, state: 'converging', reason: `rollout ${record.id} paused; waiting in ${wave}` };
    }
    const offline = device.status === 'offline' ? ' (offline)' : '';
    return { kind: 'hold', rolloutId: record.id, state: 'converging', reason: `waiting for rollout ${record.id} ${wave}${offline}` };
  }

  /** The device loop stored `jobId` for the attempt a `run` gate gave it. */
  jobCreated(rolloutId: string, deviceId: string, jobId: string, attempt: number): void {
    if (this.#entries.has(rolloutId)) this.#sent.set(sentKey(rolloutId, deviceId), { attempt, jobId });
  }

  /**
   * The device no longer holds the job made for its attempt (its state was wiped): the attempt is
   * owed again, so the next device pass makes a fresh job. Not a failure: the device never ran it.
   */
  jobLost(rolloutId: string, deviceId: string, jobId: string): void {
    const key = sentKey(rolloutId, deviceId);
    if (this.#sent.get(key)?.jobId === jobId) this.#sent.delete(key);
  }

  /** Results of rollout jobs (first deliveries). Results for superseded or unknown rollouts are ignored. */
  resulted(results: ReadonlyArray<{ rolloutId: string; deviceId: string; succeeded: boolean }>): void {
    this.#flushOnline();
    const now = this.deps.now();
    const byRollout = new Map<string, Array<{ deviceId: string; succeeded: boolean }>>();
    for (const { rolloutId, deviceId, succeeded } of results) {
      if (!this.#entries.has(rolloutId)) continue;
      this.#sent.delete(sentKey(rolloutId, deviceId));
      let list = byRollout.get(rolloutId);
      if (list === undefined) byRollout.set(rolloutId, (list = []));
      list.push({ deviceId, succeeded });
    }
    const touched: string[] = [];
    for (const [id, list] of byRollout) {
      const entry = this.#entries.get(id)!;
      if (this.#record(entry, list, (r) => r.deviceId, (one, r) => deviceFinished(one, r.deviceId, r.succeeded ? 'succeeded' : 'failed', now))) touched.push(id);
    }
    this.#advance(touched);
  }

  /** Devices their rollout started that need nothing (their plan is empty): they succeeded. */
  converged(devices: ReadonlyArray<{ rolloutId: string; deviceId: string }>): void {
    this.resulted(
      devices
        .filter(({ rolloutId, deviceId }) => this.#entries.get(rolloutId)?.record.state.devices[deviceId]?.status === 'running')
        .map((d) => ({ ...d, succeeded: true })),
    );
  }

  /**
   * A device connected or disconnected. Recorded within 20 ms, together with the others of a
   * burst (a reconnect storm costs one scheduling pass per rollout, not one per device); every
   * read of the driver records what is pending first.
   */
  deviceOnline(deviceId: string, online: boolean): void {
    this.#pendingOnline.set(deviceId, online);
    this.#onlineTimer ??= setTimeout(() => this.#flushOnline(), ONLINE_BATCH_MS);
  }

  #flushOnline(): void {
    clearTimeout(this.#onlineTimer);
    this.#onlineTimer = undefined;
    if (this.#pendingOnline.size === 0) return;
    const pending = [...this.#pendingOnline];
    this.#pendingOnline.clear();
    const now = this.deps.now();
    const touched: string[] = [];
    for (const [id, entry] of this.#entries) {
      const state = entry.record.state;
      if (isFinal(state.status)) continue;
      const mine = pending.filter(([device]) => Object.hasOwn(state.devices, device));
      if (mine.length === 0) continue;
      if (this.#record(entry, mine, ([device]) => device, (one, [device, online]) => deviceOnline(one, device, online, now))) touched.push(id);
    }
    this.#advance(touched);
  }

  /**
   * An operator's command. Throws `RolloutLookupError` (`rollout.not-found`, `rollout.superseded`)
   * and the scheduler's `RolloutError`s (`rollout.finished`, `rollout.nothing-to-promote`).
   */
  async command(id: string, command: RolloutCommand, reason = ''): Promise<RolloutRecord> {
    this.#flushOnline();
    const entry = this.#entries.get(id);
    if (entry === undefined) {
      const stored = this.#unsaved.get(id) ?? (await this.deps.store.getRollout(id));
      if (stored?.status === 'superseded') {
        throw new RolloutLookupError('rollout.superseded', `rollout ${id} was superseded by ${stored.supersededBy ?? 'a newer rollout'}; it accepts no command`);
      }
      throw new RolloutLookupError('rollout.not-found', `no rollout ${id}`);
    }
    const now = this.deps.now();
    const state = entry.record.state;
    const transition = command === 'start-now' ? startNow(state, now, reason, entry.record.policy) : { promote, pause, resume }[command](state, now);
    this.#apply(entry, transition);
    this.deps.log.info(`rollout ${command}`, { rollout: id, ...(reason ? { reason } : {}) });
    this.#advance([id], true);
    await this.#save();
    entry.owned = false;
    return entry.record;
  }

  /** A rollout by id: the live one when current, else the stored one. */
  async get(id: string): Promise<RolloutRecord | undefined> {
    this.#flushOnline();
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      entry.owned = false;
      return entry.record;
    }
    return this.#unsaved.get(id) ?? (await this.deps.store.getRollout(id));
  }

  /** Newest first, as stored once pending writes are done. */
  async list(query: ListRolloutsQuery): Promise<RolloutRecord[]> {
    await this.#save();
    return this.deps.store.listRollouts(query);
  }

  /** The rollout's failed devices (at most 50), with the error and output tail of their last job. */
  async failedDevices(record: RolloutRecord, devices?: readonly string[]): Promise<Array<FailedDevice & { wave: number; attempts: number; jobId?: string }>> {
    const names = (devices ?? Object.keys(record.state.devices).filter((d) => record.state.devices[d]!.status === 'failed')).slice(0, MAX_FAILED_DETAILS);
    const jobs = names.length === 0 ? new Map<string, JobRecord>() : await this.deps.store.rolloutJobsMany(record.id, [...names]);
    return names.map((device) => {
      const state = record.state.devices[device];
      return { ...failureOf(device, jobs.get(device)), wave: state?.wave ?? -1, attempts: state?.attempts ?? 0, ...(jobs.has(device) ? { jobId: jobs.get(device)!.id } : {}) };
    });
  }

  /**
   * A new revision was accepted: each unfinished rollout takes its profile's policy at that
   * revision (windows, pauses, parallelism, thresholds, retries, offline timeout) and keeps the
   * wave plan it started with (which devices are in which wave). Widening a window in Git thus
   * unblocks a rollout already waiting for it. Returns the ids of the rollouts whose policy changed.
   */
  async adoptPolicies(policyOf: (profile: string | undefined) => RolloutPolicy | undefined, revision: string): Promise<string[]> {
    this.#flushOnline();
    const changed: string[] = [];
    for (const [id, entry] of this.#entries) {
      const record = entry.record;
      if (isFinal(record.state.status)) continue;
      const fresh = policyOf(record.profile);
      if (fresh === undefined) continue;
      const policy: RolloutPolicy = { ...fresh, ...(record.policy.waves === undefined ? {} : { waves: record.policy.waves }) };
      if (record.policy.waves === undefined) delete policy.waves;
      if (JSON.stringify(policy) === JSON.stringify(record.policy)) continue;
      entry.record = { ...record, policy, updatedAt: this.deps.now().toISOString() };
      this.#unsaved.set(id, entry.record);
      this.deps.log.info('rollout takes the policy of the accepted revision', { rollout: id, revision });
      changed.push(id);
    }
    if (changed.length === 0) return changed;
    this.#advance(changed, true);
    await this.#save();
    for (const id of changed) {
      const entry = this.#entries.get(id);
      if (entry) entry.owned = false;
    }
    return changed;
  }

  /** Runs a scheduling pass over every unfinished rollout now (the timer does this on time). */
  tick(): void {
    this.#flushOnline();
    this.#advance([...this.#entries.keys()].filter((id) => !isFinal(this.#entries.get(id)!.record.state.status)), true);
  }

  /** Resolves when pending writes and event lookups are done (tests, shutdown). */
  async settled(): Promise<void> {
    this.#flushOnline();
    this.#runPass();
    await this.#save();
    await this.#background;
  }

  stop(): void {
    this.#stopped = true;
    this.#flushOnline();
    this.#runPass();
    clearTimeout(this.#timer);
    clearTimeout(this.#retrySave);
  }

  // ---- internals ----

  /** Records inputs for many devices with `recordEach`; true when the state changed. */
  #record<I>(entry: Entry, inputs: Iterable<I>, deviceOf: (input: I) => string, record: (one: RolloutState, input: I) => RolloutTransition): boolean {
    const transition = recordEach(entry.record.state, inputs, deviceOf, record, entry.owned ? entry.record.state.devices : undefined);
    if (transition.state !== entry.record.state) entry.owned = true;
    return this.#apply(entry, transition);
  }

  /** Applies an input's transition; true when the state changed. */
  #apply(entry: Entry, transition: RolloutTransition): boolean {
    const changed = transition.state !== entry.record.state;
    if (changed) {
      entry.record = { ...entry.record, state: transition.state, status: transition.state.status, updatedAt: this.deps.now().toISOString() };
      this.#unsaved.set(entry.record.id, entry.record);
    }
    this.#publish(entry, transition.events);
    return changed || transition.events.length > 0;
  }

  /**
   * Schedules the given rollouts: at once (`immediate`: a new rollout, a command, the timer), or
   * in the next pass, which collects the inputs of a burst. A pass on a 10,000-device rollout
   * costs tens of milliseconds (the scheduler copies the state), so passes driven by inputs are
   * spaced by four times the last pass's duration (10 ms to 2 s): the scheduler never takes more
   * than a fifth of the loop's time. Inputs are recorded at once; only starting devices waits.
   */
  #advance(ids: Iterable<string>, immediate = false): void {
    for (const id of ids) this.#due.add(id);
    if (immediate) {
      this.#runPass();
      return;
    }
    if (this.#due.size > 0 && this.#passTimer === undefined && !this.#stopped) {
      this.#passTimer = setTimeout(() => this.#runPass(), this.#passDelayMs);
      this.#passTimer.unref();
    }
  }

  /** One scheduling pass over the due rollouts; stores them, then gives the started devices a pass. */
  #runPass(): void {
    clearTimeout(this.#passTimer);
    this.#passTimer = undefined;
    if (this.#due.size === 0) return;
    const began = performance.now();
    const ids = [...this.#due];
    this.#due.clear();
    const now = this.deps.now();
    const start: string[] = [];
    const released: string[] = [];
    let changed = false;
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry === undefined) continue;
      const result = scheduleRollout(entry.record.state, entry.record.policy, now, this.deps.random());
      entry.wakeAt = result.retryAt === undefined ? undefined : Date.parse(result.retryAt);
      // The scheduler changes nothing without starting a device or saying so in an event; the
      // copy it returns is then dropped, so an idle pass costs no write.
      if (result.start.length > 0 || result.events.length > 0) {
        entry.owned = true; // the scheduler's copy
        entry.record = { ...entry.record, state: result.state, status: result.state.status, updatedAt: now.toISOString() };
        this.#unsaved.set(id, entry.record);
        start.push(...result.start);
        // A device whose retry was scheduled or that failed for good: its status says so.
        for (const event of result.events) if (event.type === 'device.retrying' || event.type === 'device.failed') released.push(event.device);
        this.#publish(entry, result.events);
      }
      if (this.#unsaved.has(id)) changed = true;
      const status = entry.record.state.status;
      if (entry.passStatus !== undefined && entry.passStatus !== status) {
        // What holds the rollout's other devices changed (paused, halted, finished): their status says so.
        const devices = entry.record.state.devices;
        released.push(...Object.keys(devices).filter((d) => devices[d]!.status !== 'succeeded'));
      }
      entry.passStatus = status;
    }
    const scheduledMs = performance.now() - began;
    this.#passDelayMs = Math.min(MAX_PASS_DELAY_MS, Math.max(MIN_PASS_DELAY_MS, PASS_SPACING * scheduledMs));
    if (changed) {
      const saving = performance.now();
      void this.#save().then(() => {
        // The next input-driven pass also waits for what this write cost.
        this.#passDelayMs = Math.min(MAX_PASS_DELAY_MS, Math.max(this.#passDelayMs, PASS_SPACING * (scheduledMs + performance.now() - saving)));
        if (start.length > 0 || released.length > 0) this.deps.enqueue([...new Set([...start, ...released])]);
      });
    }
    this.#arm();
  }

  #save(): Promise<void> {
    if (this.#unsaved.size === 0) return this.#writing;
    this.#writing = this.#writing.then(async () => {
      if (this.#unsaved.size === 0) return;
      const batch = new Map(this.#unsaved);
      this.#unsaved.clear();
      try {
        await this.deps.store.saveRollouts([...batch.values()]);
      } catch (error) {
        this.deps.log.error('saving rollouts failed; will retry', { rollouts: batch.size, error });
        for (const [id, record] of batch) if (!this.#unsaved.has(id)) this.#unsaved.set(id, record);
        if (!this.#stopped) {
          clearTimeout(this.#retrySave);
          this.#retrySave = setTimeout(() => void this.#save(), SAVE_RETRY_MS);
          this.#retrySave.unref();
        }
      }
    });
    return this.#writing;
  }

  /** One timer at the earliest wake-up of any unfinished rollout, at most `maxSleepMs` away. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    let earliest: number | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.wakeAt !== undefined && !isFinal(entry.record.state.status) && (earliest === undefined || entry.wakeAt < earliest)) earliest = entry.wakeAt;
    }
    if (earliest === undefined) return;
    const delay = Math.min(this.deps.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS, Math.max(0, earliest - this.deps.now().getTime()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.tick();
    }, delay);
    this.#timer.unref();
  }

  /** Device → the newest current rollout listing it (membership.ts `holders`). */
  #reindex(): void {
    const byDevice = new Map<string, Entry>();
    for (const entry of this.#entries.values()) {
      for (const device of Object.keys(entry.record.state.devices)) byDevice.set(device, entry);
    }
    this.#holders = byDevice;
  }

  #notice(record: RolloutRecord, event: RolloutNoticeEvent): void {
    const notice: RolloutNotice = { rolloutId: record.id, revision: record.revision, status: record.status, event };
    if (record.profile !== undefined) notice.profile = record.profile;
    this.deps.onEvent?.(notice);
  }

  /** Scheduler events → the dashboard, and the ones notifiers know → the notifier. */
  #publish(entry: Entry, events: readonly RolloutEvent[]): void {
    const record = entry.record;
    for (const event of events) {
      this.#notice(record, event);
      if (event.type.startsWith('rollout.') && event.type !== 'rollout.wave.completed') {
        this.deps.log.info(event.type, { rollout: record.id, profile: record.profile });
      }
    }
    const notifier = this.deps.notifier;
    if (notifier === undefined) return;
    // Halted and failed devices are described later (their job output is read from the store):
    // from this very state, which later inputs must then copy rather than change.
    if (events.some((e) => e.type === 'rollout.halted' || e.type === 'device.failed')) entry.owned = false;
    const base = { rolloutId: record.id, revision: record.revision, ...(record.profile === undefined ? {} : { profile: record.profile }) };
    for (const event of events) {
      switch (event.type) {
        case 'rollout.wave.completed':
          notifier.notify(createEvent({ type: event.type, at: event.at, ...base, wave: { index: event.wave, name: event.name }, counts: toCounts(event.counts) }));
          break;
        case 'rollout.completed':
        case 'rollout.partial':
        case 'rollout.failed':
          notifier.notify(createEvent({ type: event.type, at: event.at, ...base, counts: toCounts(event.counts) }));
          break;
        case 'rollout.halted':
          this.#later(async () => {
            const failedDevices = (await this.failedDevices(record, event.failed)).map(({ device, error, output }) => ({
              device,
              ...(error === undefined ? {} : { error }),
              ...(output === undefined ? {} : { output }),
            }));
            notifier.notify(
              createEvent({
                type: event.type,
                at: event.at,
                ...base,
                wave: { index: event.wave, name: event.name },
                waveCounts: toCounts(countDevices(record.state, event.wave)),
                counts: toCounts(countDevices(record.state)),
                failedDevices,
              }),
            );
          });
          break;
        case 'device.failed':
          this.#later(async () => {
            const [failure] = await this.failedDevices(record, [event.device]);
            const { device, error, output, jobId } = failure!;
            notifier.notify(
              createEvent({
                type: event.type,
                at: event.at,
                device,
                revision: record.revision,
                rolloutId: record.id,
                ...(record.profile === undefined ? {} : { profile: record.profile }),
                ...(jobId === undefined ? {} : { jobId }),
                ...(error === undefined ? {} : { error }),
                ...(output === undefined ? {} : { output }),
              }),
            );
          });
          break;
        default:
          break;
      }
    }
  }

  #later(work: () => Promise<void>): void {
    this.#background = this.#background.then(work).catch((error: unknown) => this.deps.log.error('rollout notification failed', { error }));
  }
}

// ---- views ----

/** The API's shapes of a rollout: typed once in the protocol, made here. */
export type { RolloutView } from '../../../schemas/protocol.ts';

/** A rollout as the API shows it: counts per wave and per device state, and why it waits at `now`. Pure. */
export function describeRollout(record: RolloutRecord, now: Date = new Date()): RolloutView {
  const state = record.state;
  const halted = state.halted;
  const waiting = rolloutWaiting(state, record.policy, now);
  return {
    id: record.id,
    revision: record.revision,
    profile: record.profile ?? null,
    status: record.status,
    supersededBy: record.supersededBy ?? null,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    finishedAt: state.finishedAt ?? null,
    counts: countDevices(state),
    activeWave: activeWave(state) ?? null,
    awaitingPromotion: waveAwaitingPromotion(state) ?? null,
    halted:
      halted === undefined
        ? null
        : {
            wave: halted.wave,
            name: state.waves[halted.wave]?.name ?? `wave-${halted.wave + 1}`,
            threshold: halted.threshold,
            // Devices that failed after the halt (their jobs were already running) count too.
            devices: state.waves[halted.wave]?.devices.filter((d) => state.devices[d]?.status === 'failed') ?? halted.devices,
          },
    waiting:
      waiting === undefined
        ? null
        : {
            kind: waiting.kind,
            reason: waiting.reason,
            until: 'until' in waiting && waiting.until !== undefined ? waiting.until : null,
            wave: waiting.wave ?? null,
            ...(waiting.kind === 'window' ? { timeZone: waiting.timeZone } : {}),
          },
    waves: state.waves.map((wave, index) => ({
      index,
      name: wave.name,
      implicit: wave.implicit,
      manualPromotion: wave.manualPromotion,
      failureThreshold: failureThresholdOf(record.policy, wave),
      maxParallel: maxParallelOf(record.policy, wave.devices.length),
      counts: countDevices(state, index),
      startedAt: wave.startedAt ?? null,
      completedAt: wave.completedAt ?? null,
      promotedAt: wave.promotedAt ?? null,
    })),
    policy: record.policy,
  };
}

/** The failed step's error and the output tail of a device's last rollout job. */
export function failureOf(device: string, job: JobRecord | undefined): FailedDevice {
  const result = job?.result;
  if (result === undefined) return { device };
  const step = result.steps.find((s) => isStepFailure(s.status));
  const error = step?.error ?? (step?.exitCode !== undefined ? `exit code ${step.exitCode}` : result.status === 'succeeded' ? undefined : `job ${result.status}`);
  const text = step?.output ?? step?.error;
  const failure: FailedDevice = { device };
  if (error !== undefined) failure.error = step === undefined ? error : `${step.key}: ${error}`;
  if (text !== undefined && text !== '') failure.output = outputTail(text);
  return failure;
}

/**
 * Records one input per device on a large rollout in one go. The scheduler's inputs
 * (`deviceFinished`, `deviceOnline`) read and replace one device's entry, but each copies the
 * devices map to stay a value: called once per device on a 10,000-device rollout that is
 * quadratic (~10 ms a call). So each input runs on a view of the state holding only its device,
 * and what it changed is merged into one copy of the map. Top-level fields are taken from the
 * last result that changed anything, so an input that changed more than its device is still kept.
 * Inputs naming a device the rollout does not list change nothing, as the scheduler's do. With
 * `into` (the caller's own copy of the map) not even one copy is made: the driver records result
 * batches into the map the last scheduling pass gave it, which nothing outside it holds.
 */
export function recordEach<I>(
  state: RolloutState,
  inputs: Iterable<I>,
  deviceOf: (input: I) => string,
  record: (one: RolloutState, input: I) => RolloutTransition,
  /** `state.devices` when the caller owns it exclusively: written in place instead of copied. */
  into?: RolloutState['devices'],
): RolloutTransition {
  const { devices: _all, ...initial } = state;
  let top: Omit<RolloutState, 'devices'> = initial;
  let devices: RolloutState['devices'] | undefined;
  const events: RolloutEvent[] = [];
  for (const input of inputs) {
    const name = deviceOf(input);
    const current = devices ?? state.devices;
    if (!Object.hasOwn(current, name)) continue;
    const view: RolloutState = { ...top, devices: { [name]: current[name]! } };
    const transition = record(view, input);
    events.push(...transition.events);
    if (transition.state === view) continue;
    const { devices: changed, ...rest } = transition.state;
    top = rest;
    devices ??= into ?? { ...state.devices };
    Object.assign(devices, changed);
  }
  return { state: devices === undefined ? state : { ...top, devices }, events };
}

function toCounts(counts: DeviceCounts): RolloutCounts {
  return { succeeded: counts.succeeded, failed: counts.failed, offline: counts.offline, total: counts.total };
}

function waveLabel(state: RolloutState, index: number): string {
  const wave = state.waves[index];
  return `wave ${index + 1}${wave === undefined || wave.name === `wave-${index + 1}` ? '' : ` (${wave.name})`}`;
}

function haltedWave(state: RolloutState): string {
  return state.halted === undefined ? 'a wave' : waveLabel(state, state.halted.wave);
}

function sentKey(rolloutId: string, deviceId: string): string {
  return `${rolloutId}\n${deviceId}`;
}

