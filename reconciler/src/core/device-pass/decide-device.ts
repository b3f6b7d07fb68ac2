// decideDevice: one device's pass as a pure decision (controller-runtime's Reconcile returning a
// Result; the state lives in the store). The loop (loop/reconciler.ts) reads the inputs in bulk,
// calls this per device, and writes the decision back in bulk.
//
//   (desired, observed, inventory, the device's open jobs, rollout gate, failure history, now,
//    ack timeout, grace, connection) → status, a job to create, jobs to (re)send, jobs to ask the
//    device about, inventory keys to forget, a rollout that converged, the next wake-up.
//
// In order:
// 1. Open jobs: the device is converging while it has one. A pending job is sent; a dispatched
//    job whose start is overdue (ack timeout since dispatch) is sent again; jobs sent on an
//    earlier connection are asked about when the device (re)connects (`jobs:held`), and a running
//    job silent past its steps' budget plus the grace is asked about, at most once per grace.
// 2. Otherwise plan. A device that reported but observes none of what DeployX applied lost its
//    state: files and packages are planned as never applied (their executors observe first),
//    scripts are not re-run on a guess; it is never in sync while so.
// 3. An empty plan: in sync, drifted (drift: report) or unknown (never reported); a rollout that
//    started the device has succeeded there.
// 4. A rollout holds the job (unless it only corrects drift) or owns it (its own retries).
// 5. The loop's own retry backoff: failures of the same steps (their hash) wait RETRY_DELAYS_MS
//    in turn; past them the device is failed until a new revision changes its steps.
import type { ObservedResource } from '../../../../schemas/protocol.ts';
import { canonicalJson } from '../compile/fingerprint.ts';
import type { DesiredState } from '../model.ts';
import { planDevice, type AppliedResource, type DevicePlan } from '../plan/plan-device.ts';
import { sha256Hex } from '../sha256.ts';
import { jobBudgetMs } from './job-budget.ts';

export type DeviceStatusState = 'in_sync' | 'drifted' | 'converging' | 'failed' | 'unknown';

export interface DecidedStatus {
  state: DeviceStatusState;
  reason: string;
  /** Steps the pass wanted to run (0 when in sync). */
  pendingSteps: number;
  /** Drift reported but not corrected (`drift: report`). */
  reportedDrift: number;
}

/** Delays of the loop's retries of the same steps; one more failure and the device is failed. */
export const RETRY_DELAYS_MS: readonly number[] = [5_000, 20_000];

/** What the decision reads of a job (the store's JobRecord has more). */
export interface OpenJob {
  id: string;
  state: 'pending' | 'dispatched' | 'running' | string;
  steps: DevicePlan['steps'];
  createdAt: string;
  dispatchedAt?: string;
  startedAt?: string;
}

/** What the device's rollout allows (loop/rollouts.ts RolloutDriver.gate). */
export type DeviceGate =
  | { kind: 'free' }
  | { kind: 'run'; rolloutId: string; revision: string; attempt: number }
  | { kind: 'sent'; rolloutId: string; jobId: string }
  | { kind: 'hold'; rolloutId: string; state: 'converging' | 'failed'; reason: string };

export interface FailureHistory {
  stepsHash: string;
  count: number;
  /** Epoch ms of the last failure. */
  lastAt: number;
}

export interface DeviceInputs<J extends OpenJob = OpenJob> {
  /** May be left out while a job is open: the plan waits for its result (compiling costs). */
  desired: DesiredState | undefined;
  observed: { reportedAt?: string; resources: readonly ObservedResource[] } | undefined;
  inventory: readonly AppliedResource[];
  /** Open (pending, dispatched, running) jobs, oldest first. */
  openJobs: readonly J[];
  gate: DeviceGate;
  /** A revision whose rollouts are begun but which is not served yet. */
  publishing: string | undefined;
  /** Undefined for a rollout's job (the rollout retries) or after a success. */
  failures: FailureHistory | undefined;
  now: Date;
  ackTimeoutMs: number;
  graceMs: number;
  /** The device's connection: when it began, whether it is to be asked about older jobs. Undefined offline. */
  connection: { since: number; askOnConnect: boolean } | undefined;
  /** Job id → when the device was last asked about it (epoch ms). */
  askedAt: ReadonlyMap<string, number>;
}

export interface NewJobDecision {
  plan: DevicePlan;
  /** Hash of the steps, tying retries of the same work together (in the idempotency key). */
  stepsHash: string;
  rolloutId?: string;
  /** The rollout's attempt this job is for. */
  attempt?: number;
  drifted: boolean;
}

export interface DeviceDecision<J extends OpenJob = OpenJob> {
  status: DecidedStatus;
  /** The plan made (undefined while a job is open): the loop caches what it was planned from. */
  planned: boolean;
  create?: NewJobDecision;
  /** Open jobs to send now (pending) or again (start overdue). */
  send: J[];
  /** Open jobs to ask the device about (`jobs:held`). */
  ask: J[];
  /** Inventory keys to drop without a step (prune: false). */
  forget: string[];
  /** The rollout that started the device needs nothing more from it. */
  converged?: string;
  /** Epoch ms of the next pass this device needs by itself; undefined when none. */
  wakeAt?: number;
}

export function decideDevice<J extends OpenJob>(input: DeviceInputs<J>): DeviceDecision<J> {
  const now = input.now.getTime();
  const wake = new Wake();
  if (input.openJobs.length > 0) return decideOpen(input, now, wake);
  if (input.desired === undefined) throw new TypeError('decideDevice: a device without open jobs needs its desired state');

  const applied = input.inventory;
  const snapshot = input.observed;
  const vanished = snapshot?.reportedAt !== undefined && snapshot.resources.length === 0 && applied.length > 0;
  const plan = planDevice(input.desired, snapshot?.resources, vanished ? applied.filter((e) => e.resource.type === 'script') : applied, { now: input.now });
  if (plan.nextRunAt !== undefined) wake.at(Date.parse(plan.nextRunAt));
  const reportedDrift = plan.changes.filter((c) => c.reportOnly).length;
  const done = (status: DecidedStatus, extra: Partial<DeviceDecision<J>> = {}): DeviceDecision<J> => ({ planned: true, forget: [...plan.forget], send: [], ask: [], status, ...wake.value(), ...extra });

  if (plan.steps.length === 0 && vanished) {
    return done({
      state: 'unknown',
      reason: `observed state vanished: the agent reports none of the ${applied.length} resources DeployX applied (state dir wiped?); check the device`,
      pendingSteps: 0,
      reportedDrift: 0,
    });
  }
  let gate = input.gate;
  if (gate.kind === 'run' && gate.revision === input.publishing) {
    // Planned against the revision still served: the rollout's change is not in this plan.
    gate = { kind: 'hold', rolloutId: gate.rolloutId, state: 'converging', reason: `rollout ${gate.rolloutId} starting with revision ${gate.revision}` };
  }
  if (plan.steps.length === 0) {
    const never = snapshot?.reportedAt === undefined;
    return done(
      {
        state: never ? 'unknown' : reportedDrift > 0 ? 'drifted' : 'in_sync',
        reason: never ? 'never reported' : reportedDrift > 0 ? `${reportedDrift} drifted (drift: report)` : 'converged',
        pendingSteps: 0,
        reportedDrift,
      },
      // A device its rollout started that needs nothing has succeeded (e.g. a revert it never got).
      gate.kind === 'run' ? { converged: gate.rolloutId } : {},
    );
  }
  const pendingSteps = plan.steps.length;
  let rollout: { rolloutId: string; attempt: number } | undefined;
  if (gate.kind !== 'free' && !correctsDriftOnly(plan, applied)) {
    if (gate.kind === 'hold') return done({ state: gate.state, reason: gate.reason, pendingSteps, reportedDrift });
    if (gate.kind === 'sent') {
      return done({ state: 'converging', reason: `waiting for the result of job ${gate.jobId} (rollout ${gate.rolloutId})`, pendingSteps, reportedDrift });
    }
    rollout = { rolloutId: gate.rolloutId, attempt: gate.attempt };
  }
  const stepsHash = sha256Hex(canonicalJson(plan.steps)).slice(0, 16);
  const history = rollout === undefined ? input.failures : undefined;
  const failures = history?.stepsHash === stepsHash ? history.count : 0;
  if (failures > RETRY_DELAYS_MS.length) {
    return done({ state: 'failed', reason: `failed ${failures} times; waiting for a new revision`, pendingSteps, reportedDrift });
  }
  if (failures > 0) {
    const due = history!.lastAt + RETRY_DELAYS_MS[failures - 1]!;
    if (due > now) {
      wake.at(due);
      return done({ state: 'failed', reason: `retry ${failures} in ${Math.ceil((due - now) / 1000)} s`, pendingSteps, reportedDrift });
    }
  }
  const drifted = plan.changes.some((c) => c.drift);
  return done(
    { state: drifted && failures === 0 ? 'drifted' : 'converging', reason: `${pendingSteps} steps`, pendingSteps, reportedDrift },
    { create: { plan, stepsHash, drifted, ...(rollout === undefined ? {} : { rolloutId: rollout.rolloutId, attempt: rollout.attempt }) } },
  );
}

function decideOpen<J extends OpenJob>(input: DeviceInputs<J>, now: number, wake: Wake): DeviceDecision<J> {
  const first = input.openJobs[0]!;
  const send: J[] = [];
  const ask: J[] = [];
  for (const job of input.openJobs) {
    if (job.state === 'pending') {
      send.push(job);
      continue;
    }
    const sentAt = job.dispatchedAt === undefined ? undefined : Date.parse(job.dispatchedAt);
    if (job.state === 'dispatched') {
      if (sentAt === undefined || now - sentAt >= input.ackTimeoutMs) send.push(job);
      // Not overdue yet: look again when it is (after a restart nothing else would).
      else wake.at(sentAt + input.ackTimeoutMs);
    }
    const connection = input.connection;
    if (connection === undefined || (job.state !== 'dispatched' && job.state !== 'running')) continue;
    if (connection.askOnConnect && sentAt !== undefined && sentAt < connection.since) {
      ask.push(job);
      continue;
    }
    if (job.state !== 'running') continue;
    const silentSince = Date.parse(job.startedAt ?? job.dispatchedAt ?? job.createdAt);
    const due = Math.max(silentSince + jobBudgetMs(job.steps) + input.graceMs, (input.askedAt.get(job.id) ?? 0) + input.graceMs);
    if (now >= due) ask.push(job);
    else wake.at(due);
  }
  return {
    status: { state: 'converging', reason: `job ${first.id} ${first.state}`, pendingSteps: first.steps.length, reportedDrift: 0 },
    planned: false,
    send,
    ask,
    forget: [],
    ...wake.value(),
  };
}

/** The earliest of the wake-ups a decision asks for. */
class Wake {
  #at: number | undefined;
  at(ms: number): void {
    if (this.#at === undefined || ms < this.#at) this.#at = ms;
  }
  value(): { wakeAt?: number } {
    return this.#at === undefined ? {} : { wakeAt: this.#at };
  }
}

/**
 * Whether every step of the plan restores what DeployX applied at this very desired state (drift,
 * or a `run: always` script riding along whose fingerprint was applied): such a job is a drift
 * correction, which no rollout holds back.
 */
export function correctsDriftOnly(plan: DevicePlan, inventory: readonly AppliedResource[]): boolean {
  const applied = new Map(inventory.map((e) => [e.key, e.fingerprint]));
  const stepKeys = new Set(plan.steps.map((s) => s.key));
  return plan.changes.every((change) => {
    if (!stepKeys.has(change.key) || change.drift) return true;
    const r = change.resource;
    return r?.type === 'script' && r.run === 'always' && applied.get(change.key) === r.fingerprint;
  });
}
