// The decisions a Store makes between its reads and its writes, shared by every backend: what a
// batch keeps, which report or result wins, how an enrollment binds, how an audit entry links. A
// backend reads the rows (with its own locks), calls these, and writes what they return in its
// own dialect; nothing here touches a database.
import { timingSafeEqual } from 'node:crypto';
import type { JobResult, ObservationOrder, ObservedResource } from '../../../../schemas/protocol.ts';
import { isNewerObservation, observationOrder } from '../../core/observation-order.ts';
import { canonicalJson } from '../../core/compile/fingerprint.ts';
import { auditEntryHash, AUDIT_GENESIS } from './audit-chain.ts';
import type {
  AuditEntry,
  AuditInput,
  CreateJobsResult,
  DeviceOutcomeInput,
  DeviceStatusInput,
  DeviceStatusState,
  EnrollDeviceInput,
  EnrollmentRefusal,
  EnrollmentTokenInput,
  FailureHistory,
  InventoryUpsert,
  MachineBootInput,
  NewJob,
  NewProvisioningRun,
  ProvisioningRun,
  ProvisioningRunTask,
  ProvisioningStepInput,
  RecordStepOutcome,
  RecordResultOutcome,
  ReportInput,
  RevisionInput,
  RolloutRecord,
  SaveReportsResult,
} from './store.ts';
import { FINAL_JOB_STATES, REVISION_ERRORS_KEPT, ROLLOUT_RECORD_STATUSES, StoreError } from './store.ts';
import { iso, isoOrNull, isoOrNullLoose, serialise } from './store-values.ts';
import { toRun, type DeviceRow, type EnrollmentTokenRow, type RunRow } from './store-rows.ts';
import type { StepReport, StepStatus, StepVerdict } from '../../core/pxe/task-progress.ts';

type Value = string | number | null;

// ---- revisions ----

/** The columns of a new revision row, in REVISION_INSERT order (errors cut to REVISION_ERRORS_KEPT). */
export const REVISION_INSERT = 'oid, revision, branch, author, message, committed_at, seen_at, last_seen_at, status, errors, error_count, signer';

export function revisionValues(input: RevisionInput, seenAt: string): Value[] {
  return [
    input.oid,
    input.revision,
    input.branch,
    input.author,
    input.message,
    iso(input.committedAt, 'committedAt'),
    seenAt,
    seenAt,
    input.status,
    JSON.stringify(input.errors.slice(0, REVISION_ERRORS_KEPT)),
    input.errors.length,
    input.signer === undefined ? null : JSON.stringify({ method: input.signer.method, fingerprint: input.signer.fingerprint, identity: input.signer.identity }),
  ];
}

// ---- enrollment tokens ----

/** The columns of a new enrollment token row, in ENROLLMENT_TOKEN_INSERT order. */
export const ENROLLMENT_TOKEN_INSERT = 'id, name, token_hash, created_at, expires_at, max_uses, labels, bound_device';

export function enrollmentTokenValues(input: EnrollmentTokenInput, createdAt: string): Value[] {
  if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 0)) {
    throw new StoreError('store.invalid', `maxUses must be a non-negative integer`);
  }
  return [
    input.id,
    input.name,
    input.tokenHash,
    input.createdAt === undefined ? createdAt : iso(input.createdAt, 'createdAt'),
    isoOrNull(input.expiresAt, 'expiresAt'),
    input.maxUses ?? null,
    JSON.stringify(input.labels ?? {}),
    input.boundDevice ?? null,
  ];
}

/** Why a token that the conditional use did not count was refused, in the contract's order. */
export function refusalOf(row: EnrollmentTokenRow | undefined, at: string): EnrollmentRefusal {
  if (!row) return 'unknown';
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at <= at) return 'expired';
  return 'exhausted';
}

// ---- devices ----

/**
 * The id an enrollment writes: a device already bound to the machine, or the id asked for (a new
 * device when undefined). Throws `store.conflict` when the id belongs to another machine, unless
 * an approved enrollment takes over a pending claim of it.
 */
export function enrollmentTarget(matches: readonly DeviceRow[], input: EnrollDeviceInput): string | undefined {
  const byMachine = matches.find((d) => d.machine_id === input.machineId);
  const byId = matches.find((d) => d.id === input.id);
  if (byMachine && byId && byId.id !== byMachine.id) {
    throw new StoreError('store.conflict', `machine enrolled as device ${byMachine.id} cannot enroll as ${input.id}`);
  }
  // An approved enrollment (a token bound to the device) takes over a pending claim of it.
  const takeover = byId !== undefined && byId.approval === 'pending' && input.pending === undefined;
  if (!byMachine && byId && byId.machine_id !== null && !takeover) {
    throw new StoreError('store.conflict', `device id ${input.id} belongs to another machine`);
  }
  if (takeover && byMachine && byMachine.id !== byId.id) {
    throw new StoreError('store.conflict', `machine enrolled as device ${byMachine.id} cannot enroll as ${input.id}`);
  }
  return byMachine?.id ?? byId?.id;
}

/** What an enrollment writes, in ENROLL_SET order; the device id follows. */
export const ENROLL_SET = ['machine_id', 'name', 'labels', 'facts', 'public_key', 'credential_hash', 'enrolled_at', 'approval', 'approval_claim'] as const;

export function enrollValues(input: EnrollDeviceInput): Value[] {
  return [
    input.machineId,
    input.name ?? input.facts.hostname ?? input.id,
    JSON.stringify(input.labels),
    JSON.stringify(input.facts),
    input.publicKey ?? null,
    input.credentialHash ?? null,
    iso(input.now, 'now'),
    input.pending === undefined ? null : 'pending',
    input.pending?.claim ?? null,
  ];
}

/** Constant-time comparison of two hash strings (a length difference is not secret). */
export function sameHash(stored: string, presented: string): boolean {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The distinct top-level fact keys asked for; `store.invalid` for one that is not [A-Za-z0-9_-]. */
export function factKeysOf(factKeys: readonly string[]): string[] {
  for (const key of factKeys) {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new StoreError('store.invalid', `fact key ${JSON.stringify(key)}: letters, digits, _ and - only`);
  }
  return [...new Set(factKeys)];
}

// ---- reports and observed state ----

/** A report checked and serialised before the batch's transaction. */
export interface PreparedReport {
  deviceId: string;
  receivedAt: string;
  facts: string;
  agentVersion: string;
  revision: string | null;
  /** JSON of the normalised observed set. */
  observed: string;
  epoch: string | null;
  seq: number | null;
}

/**
 * The latest well-formed report of each device (by `receivedAt`, then array order), and the
 * devices whose only reports were malformed.
 */
export function latestReports(reports: readonly ReportInput[]): { latest: Map<string, PreparedReport>; skipped: Set<string> } {
  const skipped = new Set<string>();
  const latest = new Map<string, PreparedReport>();
  for (const input of reports) {
    const receivedAt = iso(input.receivedAt, 'receivedAt');
    const prev = latest.get(input.deviceId);
    if (prev && prev.receivedAt > receivedAt) continue;
    const prepared = prepareReport(input, receivedAt);
    if (prepared) latest.set(input.deviceId, prepared);
    else if (!prev) skipped.add(input.deviceId);
  }
  return { latest, skipped };
}

/**
 * The reports to write, given each live device's stored `last_report_at` (absent: unknown or
 * deleted). A device holding a newer report is skipped; `skipped` is updated in place.
 */
export function acceptReports(latest: ReadonlyMap<string, PreparedReport>, lastReportAt: ReadonlyMap<string, string | null>, skipped: Set<string>): PreparedReport[] {
  const accepted: PreparedReport[] = [];
  for (const p of latest.values()) {
    const last = lastReportAt.get(p.deviceId);
    if (last === undefined || (last !== null && last > p.receivedAt)) skipped.add(p.deviceId);
    else {
      accepted.push(p);
      skipped.delete(p.deviceId); // an earlier malformed report of this device
    }
  }
  return accepted;
}

/** The stamps stored after the write: a device's report was newer when the stamp is its own. */
export function freshReports(accepted: readonly PreparedReport[], stored: ReadonlyArray<{ id: string; observed_epoch: string | null; observed_seq: number | null }>): Set<string> {
  const fresh = new Set<string>();
  const stampOf = new Map(accepted.map((p) => [p.deviceId, p]));
  for (const row of stored) {
    const p = stampOf.get(row.id);
    // Seqs are unique per epoch, so only this report (or a re-delivery of it) leaves this stamp.
    if (p && row.observed_epoch === p.epoch && row.observed_seq === p.seq) fresh.add(row.id);
  }
  return fresh;
}

/** What saveReports returns, once the accepted reports' stamps and observed sets are written. */
export function savedReports(
  accepted: readonly PreparedReport[],
  fresh: ReadonlySet<string>,
  written: readonly string[],
  lastReportAt: ReadonlyMap<string, string | null>,
  skipped: ReadonlySet<string>,
): SaveReportsResult {
  // A device's first report changes its snapshot even when stale (a job result's newer
  // resources stay): it now has a report time, and a pass that read none said "never reported".
  const observedChanged = new Set(written);
  for (const p of accepted) if (lastReportAt.get(p.deviceId) === null) observedChanged.add(p.deviceId);
  const stale = accepted.filter((p) => !fresh.has(p.deviceId)).map((p) => p.deviceId);
  return { saved: accepted.length, skipped: [...skipped], observedChanged: [...observedChanged], stale };
}

/**
 * Undefined when the report is malformed (an observed resource without key or type) or cannot be
 * serialised: it is skipped for its device, before the batch's transaction begins.
 */
function prepareReport(input: ReportInput, receivedAt: string): PreparedReport | undefined {
  const { report } = input;
  const observed = normaliseObserved(report.observed);
  const order = observationOrder(report);
  if (!observed || order === 'invalid') return undefined;
  const facts = serialise(report.facts ?? {});
  const observedText = serialise(observed);
  if (facts === undefined || observedText === undefined) return undefined;
  // Stored as plain text (JSON escapes it): PostgreSQL cannot hold a NUL there, and one such
  // report would fail its whole batch.
  const revision = typeof report.revision === 'string' ? report.revision : null;
  if ([report.agentVersion, revision, order?.epoch].some((text) => typeof text === 'string' && text.includes('\u0000'))) return undefined;
  return {
    deviceId: input.deviceId,
    receivedAt,
    facts,
    agentVersion: report.agentVersion,
    revision,
    observed: observedText,
    epoch: order?.epoch ?? null,
    seq: order?.seq ?? null,
  };
}

/** Undefined when a resource has no string `key` and `type`; else deduplicated (last wins), sorted. */
export function normaliseObserved(observed: readonly ObservedResource[]): ObservedResource[] | undefined {
  if (!Array.isArray(observed)) return undefined;
  // Fast path: agents usually send a sorted, duplicate-free set; take it as it is.
  let sorted = true;
  for (let i = 0; i < observed.length; i++) {
    const r = observed[i];
    if (typeof r?.key !== 'string' || typeof r.type !== 'string') return undefined;
    if (i > 0 && !((observed[i - 1] as ObservedResource).key < r.key)) sorted = false;
  }
  if (sorted) return observed as ObservedResource[];
  const byKey = new Map<string, ObservedResource>();
  for (const r of observed) byKey.set(r.key, r);
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A job result's observed resources and the stamp of when they were observed. */
export interface ObservedDelta {
  resources: ObservedResource[];
  order: ObservationOrder | undefined;
}

/** A device's stamp and observed set as stored, read before merging job results into it. */
export interface StoredObserved {
  id: string;
  observed_epoch: string | null;
  observed_seq: number | null;
  resources: string | null;
}

export interface ObservedMerge {
  deviceId: string;
  /** The stamp to store: the newest delta's. */
  order: ObservationOrder | undefined;
  resources: ObservedResource[];
}

/**
 * Of each device's deltas (in the given order), those newer than the stamp stored, chained: what
 * mergeObserved offers to the write of the stamp (which repeats the rule in SQL).
 */
export function observedMerges(byDevice: ReadonlyMap<string, readonly ObservedDelta[]>, stored: ReadonlyMap<string, StoredObserved>): ObservedMerge[] {
  const candidates: ObservedMerge[] = [];
  for (const [deviceId, deltas] of byDevice) {
    const row = stored.get(deviceId);
    if (!row) continue;
    let current: ObservationOrder | undefined =
      row.observed_epoch === null || row.observed_seq === null ? undefined : { epoch: row.observed_epoch, seq: row.observed_seq };
    const kept: ObservedResource[] = [];
    let any = false;
    for (const delta of deltas) {
      if (!isNewerObservation(delta.order, current)) continue;
      kept.push(...delta.resources);
      current = delta.order;
      any = true;
    }
    if (any) candidates.push({ deviceId, order: current, resources: kept });
  }
  return candidates;
}

/** The merged sets (device id, JSON) of the candidates whose stamp the write moved. */
export function mergedSets(candidates: readonly ObservedMerge[], moved: ReadonlySet<string>, stored: ReadonlyMap<string, StoredObserved>): Array<[string, string]> {
  const merged: Array<[string, string]> = [];
  for (const d of candidates) {
    if (!moved.has(d.deviceId)) continue;
    const before = stored.get(d.deviceId)?.resources;
    const set = normaliseObserved([...(before ? (JSON.parse(before) as ObservedResource[]) : []), ...d.resources]);
    if (set) merged.push([d.deviceId, JSON.stringify(set)]);
  }
  return merged;
}

// ---- jobs ----

/** The columns of a new job row, in JOB_INSERT order. */
export const JOB_INSERT = 'id, device_id, revision, idempotency_key, steps, state, created_at, rollout_id, resources';

export function jobValues(j: NewJob): Value[] {
  return [
    j.id,
    j.deviceId,
    j.revision,
    j.idempotencyKey,
    JSON.stringify(j.steps),
    'pending',
    iso(j.createdAt, 'createdAt'),
    j.rolloutId ?? null,
    JSON.stringify(j.resources ?? {}),
  ];
}

/**
 * What createJobs returns: the jobs inserted, in call order, and for each other job the stored job
 * that holds its idempotency key (`existing`: idempotency key → id, read after the insert).
 */
export function createdJobs(jobs: readonly NewJob[], created: ReadonlySet<string>, existing: ReadonlyArray<{ id: string; idempotency_key: string }>): CreateJobsResult {
  const byKey = new Map(existing.map((e) => [e.idempotency_key, e.id]));
  const duplicates = jobs
    .filter((j) => !created.has(j.id))
    .map((j) => ({ id: j.id, idempotencyKey: j.idempotencyKey, existingId: byKey.get(j.idempotencyKey) ?? j.id }));
  return { created: jobs.filter((j) => created.has(j.id)).map((j) => j.id), duplicates };
}

/** A result with its JSON text, made before the transaction; undefined when it cannot be serialised. */
export interface SerialisedResult {
  result: JobResult;
  text: string | undefined;
}

export function serialiseResults(results: readonly JobResult[]): SerialisedResult[] {
  return results.map((result) => ({ result, text: serialise(result) }));
}

/** A job as recordResults reads it, by idempotency key. */
export interface ResultTarget {
  id: string;
  idempotency_key: string;
  device_id: string;
  /** 1 when the job holds a result. */
  has_result: number;
}

export interface ResultDecisions {
  outcomes: RecordResultOutcome[];
  /** [job id, status, started_at, finished_at, result JSON] of each result to store. */
  updates: Value[][];
  /** The stored results' observed resources, per device, in batch order. */
  observed: Map<string, ObservedDelta[]>;
}

/** The outcome of each result of a batch, given the jobs its idempotency keys name. */
export function decideResults(serialised: readonly SerialisedResult[], stored: ReadonlyMap<string, ResultTarget>, at: string): ResultDecisions {
  const outcomes: RecordResultOutcome[] = [];
  const updates: Value[][] = [];
  const observed = new Map<string, ObservedDelta[]>();
  const recorded = new Set<string>();
  for (const { result, text } of serialised) {
    const job = stored.get(result.idempotencyKey);
    let outcome: RecordResultOutcome['outcome'];
    const order = observationOrder(result);
    if (!FINAL_JOB_STATES.includes(result.status) || text === undefined || order === 'invalid') outcome = 'invalid';
    else if (!job) outcome = 'unknown';
    else if (job.id !== result.jobId) outcome = 'conflict';
    else if (job.has_result || recorded.has(job.id)) outcome = 'duplicate'; // a second copy in this batch too
    else {
      outcome = 'recorded';
      recorded.add(job.id);
      updates.push([job.id, result.status, isoOrNullLoose(result.startedAt), at, text]);
      if (Array.isArray(result.observed) && result.observed.length > 0) {
        observed.set(job.device_id, [...(observed.get(job.device_id) ?? []), { resources: result.observed, order }]);
      }
    }
    outcomes.push({ jobId: result.jobId, idempotencyKey: result.idempotencyKey, outcome });
  }
  return { outcomes, updates, observed };
}

/** recordJobResult's error for an outcome that stored nothing and is not a duplicate. */
export function resultError(outcome: RecordResultOutcome | undefined, result: JobResult): StoreError | undefined {
  switch (outcome?.outcome) {
    case 'unknown':
      return new StoreError('store.not-found', `no job with idempotency key ${result.idempotencyKey}`);
    case 'invalid':
      return new StoreError('store.invalid', `the result of job ${result.jobId} has a status that is not final or cannot be stored`);
    case 'conflict':
      return new StoreError('store.conflict', `idempotency key ${result.idempotencyKey} belongs to another job than ${result.jobId}`);
    default:
      return undefined;
  }
}

/** The ids in `rows`, in the caller's order (RETURNING has no defined order). */
export function inOrder(ids: readonly string[], rows: ReadonlyArray<{ id: string }>): string[] {
  const moved = new Set(rows.map((r) => r.id));
  return [...new Set(ids)].filter((id) => moved.has(id));
}

// ---- device status ----

const DEVICE_STATES: readonly DeviceStatusState[] = ['in_sync', 'drifted', 'converging', 'failed', 'unknown'];

/** [device_id, state, reason, revision, pending_steps, reported_drift, updated_at]. */
export function deviceStatusValues(s: DeviceStatusInput): Value[] {
  if (!DEVICE_STATES.includes(s.state)) throw new StoreError('store.invalid', `unknown device state ${JSON.stringify(s.state)}`);
  return [s.deviceId, s.state, s.reason, s.revision ?? null, s.pendingSteps, s.reportedDrift, iso(s.updatedAt, 'updatedAt')];
}

/**
 * One row per device, later outcomes winning (a batch of results rarely holds two of one device):
 * [device_id, updated_at, last_applied_revision, last_attempted_revision, failure_steps_hash,
 * failure_count, failure_at], split into those that set or clear the retry history and those
 * that keep it (rollout jobs).
 */
export function deviceOutcomeRows(outcomes: readonly DeviceOutcomeInput[], at: string): { setting: Value[][]; keeping: Value[][] } {
  const merged = new Map<string, { applied: string | null; attempted: string | null; failure: FailureHistory | null | undefined }>();
  for (const o of outcomes) {
    const row = merged.get(o.deviceId) ?? { applied: null, attempted: null, failure: undefined };
    if (o.succeeded) row.applied = o.revision;
    else row.attempted = o.revision;
    if (o.failure !== undefined) row.failure = o.failure;
    merged.set(o.deviceId, row);
  }
  const setting: Value[][] = [];
  const keeping: Value[][] = [];
  for (const [deviceId, row] of merged) {
    const f = row.failure;
    const values: Value[] = [deviceId, at, row.applied, row.attempted, f?.stepsHash ?? null, f?.count ?? 0, f ? iso(f.at, 'failure.at') : null];
    (f === undefined ? keeping : setting).push(values);
  }
  return { setting, keeping };
}

// ---- inventory ----

/**
 * [device_id, key, fingerprint, resource, revision, applied_at] rows to upsert and [device_id, key]
 * pairs to delete. `store.invalid` when a key is both upserted and deleted.
 */
export function inventoryChanges(changes: ReadonlyArray<{ deviceId: string; upserts: InventoryUpsert[]; deletes: string[] }>): { rows: Value[][]; deletes: Array<[string, string]> } {
  const rows: Value[][] = [];
  const deletes: Array<[string, string]> = [];
  for (const { deviceId, upserts, deletes: keys } of changes) {
    const upserted = new Set(upserts.map((u) => u.key));
    const clash = keys.find((k) => upserted.has(k));
    if (clash !== undefined) {
      throw new StoreError('store.invalid', `inventory key ${clash} is both upserted and deleted`);
    }
    for (const u of upserts) {
      rows.push([deviceId, u.key, u.fingerprint, JSON.stringify(u.resource), u.revision, iso(u.appliedAt, 'appliedAt')]);
    }
    for (const key of keys) deletes.push([deviceId, key]);
  }
  return { rows, deletes };
}

// ---- rollouts ----

export function checkRolloutStatuses(statuses: readonly string[]): void {
  for (const status of statuses) {
    if (!(ROLLOUT_RECORD_STATUSES as readonly string[]).includes(status)) throw new StoreError('store.invalid', `unknown rollout status ${JSON.stringify(status)}`);
  }
}

/** [id, revision, profile, status, superseded_by, policy, state, created_at, updated_at]. */
export function rolloutValues(record: RolloutRecord): Value[] {
  checkRolloutStatuses([record.status]);
  if (typeof record.id !== 'string' || record.id === '') throw new StoreError('store.invalid', 'a rollout needs an id');
  return [
    record.id,
    record.revision,
    record.profile ?? null,
    record.status,
    record.supersededBy ?? null,
    JSON.stringify(record.policy),
    JSON.stringify(record.state),
    iso(record.createdAt, 'createdAt'),
    iso(record.updatedAt, 'updatedAt'),
  ];
}

// ---- audit log ----

/** Longest actor, action or target kept: a login name comes from the network. */
const MAX_AUDIT_FIELD = 200;

/** An entry checked before its transaction: the fields clipped, the details canonical. */
export type AuditDraft = Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;

export function auditDraft(input: AuditInput, now: () => string): AuditDraft {
  const at = input.at === undefined ? now() : iso(input.at, 'at');
  let details: Record<string, unknown>;
  try {
    // Stored canonical, so what is read back hashes the same.
    details = JSON.parse(canonicalJson(input.details ?? {})) as Record<string, unknown>;
  } catch (cause) {
    throw new StoreError('store.invalid', 'audit details are not plain JSON', { cause });
  }
  return { at, actor: clip(input.actor), action: clip(input.action), target: clip(input.target), outcome: input.outcome, details };
}

/** The entry linked to the head read in the append's transaction, and its row values in AUDIT_COLUMNS order. */
export function linkAudit(draft: AuditDraft, head: { seq: number; hash: string } | undefined): { entry: AuditEntry; values: Value[] } {
  const seq = (head?.seq ?? 0) + 1;
  const prevHash = head?.hash ?? AUDIT_GENESIS;
  const entry: AuditEntry = { seq, ...draft, prevHash, hash: '' };
  entry.hash = auditEntryHash(prevHash, entry);
  return {
    entry,
    values: [seq, entry.at, entry.actor, entry.action, entry.target, entry.outcome, canonicalJson(entry.details), prevHash, entry.hash],
  };
}

/** At most MAX_AUDIT_FIELD characters, control characters shown as `?`: a name from the network cannot forge a line of `deployx audit list`. */
function clip(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > MAX_AUDIT_FIELD ? `${clean.slice(0, MAX_AUDIT_FIELD - 1)}…` : clean;
}

// ---- provisioning ----

/** Longest log tail kept per step. */
export const MAX_STEP_LOG = 16 * 1024;

export type StepDecision =
  | { done: RecordStepOutcome }
  /** Insert `step` (STEP_COLUMNS order); when `finish` is set, the run ends with it. */
  | { run: ProvisioningRun; step: Value[]; finish?: 'succeeded' | 'failed'; recorded: RecordStepOutcome };

/** What a runner's task report does to its run (read with its steps in the report's transaction). */
export function decideStep(
  row: RunRow | undefined,
  history: ReadonlyArray<{ task_index: number; status: StepStatus }>,
  input: ProvisioningStepInput,
  at: string,
  accept: (tasks: ProvisioningRunTask[], history: StepReport[], report: StepReport) => StepVerdict,
): StepDecision {
  if (!row || row.status !== 'active' || row.expires_at <= at) return { done: { outcome: 'inactive' } };
  const run = toRun(row);
  const verdict = accept(
    run.tasks,
    history.map((h) => ({ index: h.task_index, status: h.status })),
    { index: input.index, status: input.status },
  );
  if (!verdict.ok) return { done: { outcome: 'refused', code: verdict.code, message: verdict.message } };
  if (verdict.duplicate) return { done: { outcome: 'duplicate', run } };
  const task = run.tasks[input.index]!;
  const step: Value[] = [
    run.id, run.deviceId, input.index, task.type, task.name, input.status, input.exitCode ?? null,
    input.log === undefined ? null : stepLog(input.log), at,
  ];
  if (verdict.finish) {
    return { run, step, finish: verdict.finish, recorded: { outcome: 'recorded', run: { ...run, status: verdict.finish, finishedAt: at } } };
  }
  return { run, step, recorded: { outcome: 'recorded', run } };
}

/**
 * The tail of a task's log as kept: its last MAX_STEP_LOG characters, a NUL (a tool's binary
 * output) shown as U+FFFD — PostgreSQL text cannot hold NUL, and a log is for reading.
 */
function stepLog(log: string): string {
  return log.slice(-MAX_STEP_LOG).replaceAll('\u0000', '\ufffd');
}

/** [id, device_id, token_hash, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at]. */
export function runValues(run: NewProvisioningRun, createdAt: string, expiresAt: string): Value[] {
  return [run.id, run.deviceId, run.tokenHash, run.revision, run.profile, run.image, run.hostname, run.mac ?? null, JSON.stringify(run.tasks), run.enrollmentToken.id, createdAt, expiresAt];
}

/** [mac, uuid, serial, platform, buildarch, first_seen_at, last_seen_at, device_id, chosen_profile, last_decision]. */
export function machineBootValues(input: MachineBootInput): Value[] {
  const at = iso(input.at, 'at');
  return [
    input.mac,
    input.uuid ?? null,
    input.serial ?? null,
    input.platform ?? null,
    input.buildarch ?? null,
    at,
    at,
    input.deviceId,
    input.chosenProfile ?? null,
    input.decision,
  ];
}
