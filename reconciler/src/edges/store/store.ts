// The Store: the only way the server touches persistence.
//
// Every method is async and every implementation (SQLite: sqlite-store.ts, PostgreSQL: pg-store.ts;
// opened by open-store.ts) honours the same contracts, which the store-*.test.ts suites pin down
// for each backend (test-support.ts `describeStores`):
// - Times are ISO-8601 strings in UTC with milliseconds (`2025-01-02T03:04:05.678Z`). Inputs in any
//   ISO form are normalised to that form on write, so stored times sort as strings.
// - Batched methods take arrays and do their work in one transaction. A row of one device that
//   cannot be stored (malformed, not serialisable) is refused for that device alone: every row is
//   serialised before the transaction begins, and the rest of the batch is stored.
// - Writes that can be retried (recordRevision, createJobs, recordJobResult, saveReports,
//   touchDevices) are idempotent; a retry after an unknown outcome is always safe.
// - Failures are `StoreError`s with a stable `code`; `transient` says whether retrying can help.
import type { Facts } from '../../../../schemas/facts.ts';
import type {
  AgentReport,
  JobResult,
  JobState,
  ObservedResource,
  CommitSigner,
  RevisionError,
  RevisionView,
  Step,
} from '../../../../schemas/protocol.ts';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import type { DesiredResource } from '../../core/model.ts';
import type { RolloutState, RolloutStatus } from '../../core/rollout/schedule.ts';
import type { ProvisioningState } from '../../core/pxe/boot-decision.ts';
import type { StepReport, StepStatus, StepVerdict } from '../../core/pxe/task-progress.ts';
import type { RunnerTask } from '../../core/pxe/task-sequence.ts';

export type IsoTime = string;
export type Labels = Record<string, string>;

// ---- errors ----

export const STORE_ERROR_CODES = {
  'store.not-found': 'The record the operation names does not exist.',
  'store.conflict': 'The write contradicts a record that already exists (duplicate id, other machine).',
  'store.invalid': 'An argument the store cannot use (bad time, bad limit, unknown cursor).',
  'store.schema-too-new': 'The database was migrated by a newer DeployX; this version refuses to start.',
  'store.migration-failed': 'A migration failed and was rolled back; the database is unchanged.',
  'store.unavailable': 'The database is busy, locked or out of space; retry with backoff.',
  'store.closed': 'The store was closed.',
  'store.internal': 'Any other database failure.',
} as const;

export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  /** True when the same call may succeed later (busy, locked, I/O): retry with backoff. */
  readonly transient: boolean;
  /**
   * The statement the database refused (its first characters, never its parameters), for
   * debugging. Not in `message`, which the API may show its caller.
   */
  readonly statement: string | undefined;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; transient?: boolean; statement?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.transient = options?.transient ?? code === 'store.unavailable';
    this.statement = options?.statement;
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}

// ---- revisions ----

export type { RevisionError };

export type RevisionStatus = RevisionView['status'];

export interface RevisionInput {
  /** `main@sha1:<oid>`. */
  revision: string;
  oid: string;
  branch: string;
  author: string;
  message: string;
  committedAt: IsoTime;
  /** When the source first resolved the branch to this oid; defaults to the store's clock. */
  seenAt?: IsoTime;
  status: RevisionStatus;
  /**
   * The errors of a rejected revision in the validator's order; empty when accepted. The store
   * keeps the first REVISION_ERRORS_KEPT and their total (`errorCount`).
   */
  errors: RevisionError[];
  /** The verified signer of the commit, when commit signatures are verified (migration 013). */
  signer?: CommitSigner;
}

/**
 * Errors kept per rejected revision. A 12 MB commit once made 127,101 errors (44 MB) that every
 * revisions listing read back; the first few hundred say what to fix, `deployx validate` all.
 */
export const REVISION_ERRORS_KEPT = 200;

/**
 * A stored revision: what `GET /api/v1/revisions` lists. `lastSeenAt` moves forward when an old oid
 * is recorded again (a branch reset back to it), so `latestAccepted` follows the branch.
 */
export type RevisionRecord = RevisionView;

// ---- enrollment tokens ----

export interface EnrollmentTokenInput {
  id: string;
  name: string;
  /** Hash of the secret token; the secret itself is never stored. */
  tokenHash: string;
  createdAt?: IsoTime;
  expiresAt?: IsoTime;
  /** Unlimited when absent. */
  maxUses?: number;
  /** Labels given to devices that enroll with this token. */
  labels?: Labels;
  /** The device id a machine enrolling with this token becomes. */
  boundDevice?: string;
}

export interface EnrollmentToken {
  id: string;
  name: string;
  tokenHash: string;
  createdAt: IsoTime;
  expiresAt?: IsoTime;
  maxUses?: number;
  uses: number;
  revokedAt?: IsoTime;
  labels: Labels;
  boundDevice?: string;
}

export type EnrollmentRefusal = 'unknown' | 'expired' | 'revoked' | 'exhausted';

export type ConsumeResult =
  | { ok: true; token: EnrollmentToken }
  | { ok: false; reason: EnrollmentRefusal };

// ---- devices ----

/**
 * A device as stored. `online` is not here: the server derives it from live connections.
 * The credential hash never leaves the store; `hasCredential` says whether one is set.
 */
export interface DeviceRecord {
  id: string;
  machineId?: string;
  name: string;
  labels: Labels;
  facts: Facts;
  hasCredential: boolean;
  enrolledAt?: IsoTime;
  lastSeenAt?: IsoTime;
  lastReportAt?: IsoTime;
  agentVersion?: string;
  /** `revision` of the device's last report: the revision of the last job it completed. */
  reportedRevision?: string;
  deletedAt?: IsoTime;
  /**
   * Present while the device waits for an operator's approval: its agent claimed a declared
   * device with a token not bound to it (migration 012). Absent: approved.
   */
  approval?: 'pending';
  /** How a pending device claimed its name: `mac`, `hostname`, `serial`. */
  approvalClaim?: string;
}

/** A device as a list shows it: its record with only the `os` of its facts. */
export type DeviceListItem = Omit<DeviceRecord, 'facts'> & { facts: Pick<Facts, 'os'> };

export interface EnrollDeviceInput {
  /** Used when the machine is new; a machine that enrolled before keeps its id. */
  id: string;
  machineId: string;
  /** Defaults to `facts.hostname`, then `id`. */
  name?: string;
  labels: Labels;
  facts: Facts;
  /** The device key's public half (SPKI PEM), made by the agent: what enrollment records. */
  publicKey?: string;
  /** Hash of a bearer credential: only devices enrolled before keys (and tests of them) have one. */
  credentialHash?: string;
  now: IsoTime;
  /**
   * Enrolled as pending approval (how it claimed the id). A pending claim never takes a device
   * that another machine holds; an approved enrollment may take over a pending one.
   */
  pending?: { claim: string };
}

/** A declared device armed for one install boot (build mode). */
export interface ArmingRecord {
  deviceId: string;
  armedAt: IsoTime;
  expiresAt: IsoTime;
  armedBy: string;
}

// ---- reports and observed state ----

export interface ReportInput {
  deviceId: string;
  report: AgentReport;
  receivedAt: IsoTime;
}

/** What compile and rollout waves read of a device (`listDeviceInputs`). */
export interface DeviceInputRecord {
  id: string;
  labels: Record<string, string>;
  /** Only the facts asked for; missing ones are absent. */
  facts: Facts;
}

export interface SaveReportsResult {
  /** Devices whose facts and observed set were written. */
  saved: number;
  /** Device ids skipped: unknown, deleted, already holding a newer report, or sent a malformed one. */
  skipped: string[];
  /**
   * Saved devices whose observed set is not what was stored before (or none was), and devices
   * reporting for the first time (stale or not: their snapshot gains a report time): the reports
   * that can change a plan by what they observed. A heartbeat that observes the same is not here.
   */
  observedChanged: string[];
  /**
   * Saved devices whose report observed earlier than the observed state stored (by the agent's
   * stamp, ObservationOrder): facts, agent version and times were refreshed; the observed set and
   * reported revision were kept.
   */
  stale: string[];
}

export interface ObservedSnapshot {
  deviceId: string;
  /** Absent while the device has never reported. */
  reportedAt?: IsoTime;
  /** Sorted by key. */
  resources: ObservedResource[];
}

// ---- jobs ----

export interface NewJob {
  id: string;
  deviceId: string;
  revision: string;
  idempotencyKey: string;
  steps: Step[];
  createdAt: IsoTime;
  rolloutId?: string;
  /** Resource key → the resource the job's step for that key converges to (or deletes). */
  resources?: Record<string, DesiredResource>;
}

export interface JobRecord extends NewJob {
  state: JobState;
  dispatchedAt?: IsoTime;
  startedAt?: IsoTime;
  /** Server time the job reached its final state. */
  finishedAt?: IsoTime;
  /** How many times the job was dispatched. */
  attempts: number;
  /** The agent's result, verbatim. */
  result?: JobResult;
  /** Why the server ended the job without a result (e.g. the device no longer held it). */
  reason?: string;
}

export interface CreateJobsResult {
  /** Ids of the jobs that were inserted. */
  created: string[];
  /** Jobs not inserted because their idempotency key exists; `existingId` is the stored job. */
  duplicates: Array<{ id: string; idempotencyKey: string; existingId: string }>;
}

export type ResultOutcome =
  /** Stored; the job took the result's status. */
  | 'recorded'
  /** The job already had a result: nothing changed. */
  | 'duplicate'
  /** No job has this idempotency key. */
  | 'unknown'
  /** The idempotency key belongs to another job id. */
  | 'conflict'
  /** The status is not a final job state, or the result cannot be serialised (nested too deep). */
  | 'invalid';

export interface RecordResultOutcome {
  jobId: string;
  idempotencyKey: string;
  outcome: ResultOutcome;
}

export interface ListJobsQuery {
  deviceId?: string;
  state?: JobState | JobState[];
  limit: number;
  /** A job id: return jobs older than it (newest first). */
  before?: string;
}

// ---- device status (the loop's decisions) ----

export type DeviceStatusState = 'in_sync' | 'drifted' | 'converging' | 'failed' | 'unknown';

/** What a device pass decided about a device, as the dashboard shows it. */
export interface DeviceStatusInput {
  deviceId: string;
  state: DeviceStatusState;
  reason: string;
  /** The revision served when it was decided. */
  revision?: string;
  pendingSteps: number;
  reportedDrift: number;
  updatedAt: IsoTime;
}

/** Consecutive failures of the same steps (their hash), for the loop's retry backoff. */
export interface FailureHistory {
  stepsHash: string;
  count: number;
  at: IsoTime;
}

/** A finished job of the loop (first delivery of its result), for the device's conditions. */
export interface DeviceOutcomeInput {
  deviceId: string;
  revision: string;
  succeeded: boolean;
  /** The retry history after this outcome; null clears it. Undefined leaves it as it is (rollout jobs). */
  failure?: FailureHistory | null;
}

export interface DeviceStatusRecord extends DeviceStatusInput {
  /** Revision of the device's last succeeded job. */
  lastAppliedRevision?: string;
  /** Revision of the device's last job that finished otherwise. */
  lastAttemptedRevision?: string;
  failure?: FailureHistory;
}

// ---- inventory ----

/** What DeployX applied on a device: the only source of deletions (prune). */
export interface InventoryEntry {
  deviceId: string;
  key: string;
  fingerprint: string;
  resource: DesiredResource;
  revision: string;
  appliedAt: IsoTime;
}

export type InventoryUpsert = Omit<InventoryEntry, 'deviceId'>;

// ---- rollouts ----

/** The scheduler's status, or `superseded` once a newer revision's rollout of the profile began. */
export type RolloutRecordStatus = RolloutStatus | 'superseded';

export const ROLLOUT_RECORD_STATUSES: readonly RolloutRecordStatus[] = [
  'progressing',
  'paused',
  'halted',
  'completed',
  'partial',
  'failed',
  'superseded',
];

/**
 * One rollout: one accepted revision × one profile × the devices whose desired state that
 * revision changed (loop/rollouts.ts). `state` and `policy` are written whole on every save.
 */
export interface RolloutRecord {
  id: string;
  revision: string;
  profile?: string;
  /** `state.status`, or `superseded` (the state then keeps the status it had). */
  status: RolloutRecordStatus;
  /** The newer rollout that replaced this one. */
  supersededBy?: string;
  /** The merged policy (Fleet defaults, then the profile's) the rollout runs under. */
  policy: RolloutPolicy;
  state: RolloutState;
  createdAt: IsoTime;
  updatedAt: IsoTime;
}

export interface ListRolloutsQuery {
  limit: number;
  status?: RolloutRecordStatus | RolloutRecordStatus[];
  /** A rollout id: return rollouts older than it (newest first). */
  before?: string;
}

// ---- access: users, sessions, API tokens ----

export type Role = 'viewer' | 'operator' | 'admin';

export interface UserRecord {
  name: string;
  role: Role;
  /** bcrypt hash; never the password. */
  passwordHash: string;
  createdAt: IsoTime;
  updatedAt: IsoTime;
  disabledAt?: IsoTime;
}

export interface SessionRecord {
  /** SHA-256 of the cookie's secret. */
  idHash: string;
  user: { name: string; role: Role };
  createdAt: IsoTime;
  expiresAt: IsoTime;
}

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: Role;
  tokenHash: string;
  createdAt: IsoTime;
  expiresAt?: IsoTime;
  revokedAt?: IsoTime;
}

// ---- provisioning (PXE) ----

/** A machine that PXE-booted. `deviceId` is absent while no Device in Git matches it (discovered). */
export interface PxeMachine {
  mac: string;
  uuid?: string;
  serial?: string;
  platform?: string;
  buildarch?: string;
  firstSeenAt: IsoTime;
  lastSeenAt: IsoTime;
  boots: number;
  deviceId?: string;
  /** The profile a technician picked from the boot menu. */
  chosenProfile?: string;
  /** What the last boot was told (`install`, `local-disk`, `menu`, `wait:<reason>`). */
  lastDecision?: string;
}

export interface MachineBootInput {
  mac: string;
  uuid?: string;
  serial?: string;
  platform?: string;
  buildarch?: string;
  at: IsoTime;
  /** The declared device it is, if any; null records it as unknown. */
  deviceId: string | null;
  chosenProfile?: string;
  decision: string;
}

export interface ProvisioningRecord {
  deviceId: string;
  state: ProvisioningState;
  mac?: string;
  /** The current (or last) run. */
  runId?: string;
  updatedAt: IsoTime;
  provisionedAt?: IsoTime;
  enrolledAt?: IsoTime;
}

export type ProvisioningRunStatus = 'active' | 'succeeded' | 'failed' | 'superseded';

/** A run's tasks as compiled at its start (pinned to the run's revision). */
export type ProvisioningRunTask = RunnerTask;

export interface NewProvisioningRun {
  id: string;
  deviceId: string;
  /** Hash of the one-time provisioning token; the token itself is never stored. */
  tokenHash: string;
  revision: string;
  profile: string;
  image: string;
  hostname: string;
  mac?: string;
  tasks: ProvisioningRunTask[];
  createdAt: IsoTime;
  expiresAt: IsoTime;
  /** The agent enrollment token created with the run (single use, bound to the device). */
  enrollmentToken: EnrollmentTokenInput;
}

export interface ProvisioningRun extends Omit<NewProvisioningRun, 'enrollmentToken'> {
  status: ProvisioningRunStatus;
  enrollmentTokenId?: string;
  finishedAt?: IsoTime;
}

export interface ProvisioningStep {
  runId: string;
  deviceId: string;
  index: number;
  type: string;
  name: string;
  status: StepStatus;
  exitCode?: number;
  /** The tail of the task's log, as the runner sent it. */
  log?: string;
  at: IsoTime;
}

export interface ProvisioningStepInput {
  runId: string;
  index: number;
  status: StepStatus;
  exitCode?: number;
  log?: string;
  at: IsoTime;
}

export type RecordStepOutcome =
  | { outcome: 'recorded' | 'duplicate'; run: ProvisioningRun }
  /** The run is not active any more (finished, superseded) or its token expired. */
  | { outcome: 'inactive' }
  | { outcome: 'refused'; code: string; message: string };

// ---- audit log ----

/**
 * What happened: `success` or `failure` for people's and tools' actions (a wrong password, a
 * command the rollout refused), `accepted` or `rejected` for revisions.
 */
export type AuditOutcome = 'success' | 'failure' | 'accepted' | 'rejected';

export interface AuditInput {
  /** Defaults to the store's clock. */
  at?: IsoTime;
  /** `user:<name>`, `token:<name>`, `cli:<login>` or `system` (actions/audit.ts). */
  actor: string;
  /** Dotted verb: `session.login`, `rollout.promote`, `device.delete`, `revision` … */
  action: string;
  /** `<kind>:<id>`: `user:ada`, `device:web-01`, `rollout:ro-1f…`, `revision:main@sha1:…`. */
  target: string;
  outcome: AuditOutcome;
  /** Plain JSON; never secrets. */
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  at: IsoTime;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  /** The previous entry's hash; AUDIT_GENESIS for the first. */
  prevHash: string;
  /** auditEntryHash(prevHash, this entry) (audit-chain.ts). */
  hash: string;
}

/** The last entry's seq and hash, kept beside the log so removing its tail is seen. */
export interface AuditHead {
  seq: number;
  hash: string;
}

// ---- the store ----

export interface Store {
  // revisions
  /**
   * Idempotent on `oid`: the first record wins; recording a known oid again only moves its
   * `lastSeenAt` forward. Returns the stored record and whether it was created.
   */
  recordRevision(input: RevisionInput): Promise<{ created: boolean; revision: RevisionRecord }>;
  /** Newest first by first-seen time. `before` is an oid from a previous page. */
  /** `errorsPerRevision` keeps a listing small: each record's `errors` cut to that many (`errorCount` stays the total). */
  listRevisions(query: { limit: number; before?: string; errorsPerRevision?: number }): Promise<RevisionRecord[]>;
  getRevision(oid: string): Promise<RevisionRecord | undefined>;
  /** The accepted revision the branch pointed at most recently: the one to serve. */
  latestAccepted(): Promise<RevisionRecord | undefined>;

  // signed-job sequences (migration 010)
  /**
   * The next sequence number of each device, in order (a device listed twice gets two): strictly
   * increasing per device for ever, gaps allowed. One transaction.
   */
  nextJobSequences(deviceIds: readonly string[]): Promise<number[]>;
  /** Moves a device's counter up to at least `atLeast` (an agent said it accepted that much). */
  raiseJobSequence(deviceId: string, atLeast: number): Promise<void>;

  // enrollment tokens
  /** Throws `store.conflict` when the id or token hash exists. */
  createEnrollmentToken(input: EnrollmentTokenInput): Promise<EnrollmentToken>;
  /** Newest first. */
  listEnrollmentTokens(): Promise<EnrollmentToken[]>;
  /** Idempotent (keeps the first revocation time); throws `store.not-found`. */
  revokeEnrollmentToken(id: string, now?: IsoTime): Promise<EnrollmentToken>;
  /**
   * Atomically checks the token (exists, not revoked, not expired at `now`, uses < maxUses) and
   * counts one use. Refusal reasons are checked in that order.
   */
  consumeEnrollmentToken(tokenHash: string, now: IsoTime): Promise<ConsumeResult>;

  // devices
  /**
   * Creates the device, or re-binds the device that already has this machineId (new credential,
   * labels and facts replaced, undeleted). Throws `store.conflict` when `id` is taken by another
   * machine.
   */
  enrollDevice(input: EnrollDeviceInput): Promise<DeviceRecord>;
  /** Throws `store.not-found` for an unknown or deleted device. */
  setCredential(id: string, credentialHash: string): Promise<void>;
  /** The live device whose credential hash equals `credentialHash`, else undefined. */
  findDeviceByCredential(id: string, credentialHash: string): Promise<DeviceRecord | undefined>;
  /** A live device with its public key (SPKI PEM); undefined when unknown, deleted or keyless. */
  findDeviceKey(id: string): Promise<{ device: DeviceRecord; publicKey: string } | undefined>;
  /** findDeviceKey for many devices in one read (a reconnect storm's handshakes); absent ids are not in the map. */
  findDeviceKeys(ids: readonly string[]): Promise<Map<string, { device: DeviceRecord; publicKey: string }>>;
  /**
   * A device enrolled before keys registers its key: when its credential hash matches and it has
   * no key yet, the key is stored and the credential cleared in one statement (the credential
   * opens nothing after this). Undefined otherwise.
   */
  registerDeviceKey(id: string, credentialHash: string, publicKey: string): Promise<DeviceRecord | undefined>;
  /** Includes deleted devices (with `deletedAt`). */
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  /** Devices by id (deleted ones included, as getDevice); unknown ids are absent. */
  getDevicesMany(ids: string[]): Promise<Map<string, DeviceRecord>>;
  /** Live devices ordered by id. */
  listDevices(query: { limit: number; offset?: number }): Promise<DeviceRecord[]>;
  /**
   * `listDevices` for lists people read: the same devices, but of their facts only `os` is read
   * (a device's facts are most of its row; 10,000 of them are not parsed to show a table).
   */
  listDeviceSummaries(query: { limit: number; offset?: number }): Promise<DeviceListItem[]>;
  /**
   * Every live device, ordered by id, in one read (so no device is skipped or seen twice while
   * another enrolls), with only the named top-level facts (`os`, `labels`, …): what compiling the
   * whole fleet reads, without parsing every device's full facts. Throws `store.invalid` for a key
   * that is not letters, digits, `_` and `-`.
   */
  listDeviceInputs(factKeys: readonly string[]): Promise<DeviceInputRecord[]>; // approved devices only (pending ones are not planned)
  /** Number of live devices. */
  countDevices(): Promise<number>;
  /** Soft delete: the key and credential are cleared, history stays. Idempotent; throws `store.not-found`. */
  deleteDevice(id: string, now?: IsoTime): Promise<void>;
  /** Moves `lastSeenAt` forward for the given devices; unknown ids are ignored. */
  touchDevices(ids: string[], now: IsoTime): Promise<void>;

  // reports and observed state
  /**
   * The hot path. Per device the latest report wins (by `receivedAt`, then array order): its
   * facts and agent version are stored, and — when it observed later than the observed state
   * stored (ObservationOrder; see `stale`) — its revision too, and its observed set replaces the
   * previous one. One transaction for the whole call.
   */
  saveReports(reports: ReportInput[]): Promise<SaveReportsResult>;
  /** Undefined for an unknown device. */
  getObserved(deviceId: string): Promise<ObservedSnapshot | undefined>;
  /** Unknown ids are absent from the map. */
  getObservedMany(ids: string[]): Promise<Map<string, ObservedSnapshot>>;

  // jobs
  /** Inserts new jobs; a job whose idempotency key exists is not inserted (see `duplicates`). */
  createJobs(jobs: NewJob[]): Promise<CreateJobsResult>;
  /** pending|dispatched → dispatched, attempts + 1. Returns the ids that moved. */
  markDispatched(ids: string[], now: IsoTime): Promise<string[]>;
  /** pending|dispatched → running. False when the job is already running or final. */
  markRunning(id: string, now: IsoTime): Promise<boolean>;
  /**
   * Batched `markRunning` for a burst of agents' first progress: each job moves only when it
   * belongs to the given device. Returns the ids that moved; unknown ids are ignored.
   */
  markRunningMany(jobs: ReadonlyArray<{ id: string; deviceId: string }>, now: IsoTime): Promise<string[]>;
  /**
   * Stores the agent's result once per idempotency key: a second result changes nothing and
   * returns `duplicate: true`. A result overrides a final state the server set without one
   * (cancelled, timed_out): the agent's outcome is the truth. The result's observed resources
   * are merged into the device's observed set, unless a report observed later is stored already. Throws `store.not-found` / `store.conflict` /
   * `store.invalid` for the outcomes `unknown` / `conflict` / `invalid`.
   */
  recordJobResult(result: JobResult, now: IsoTime): Promise<{ duplicate: boolean; job: JobRecord }>;
  /**
   * Batched `recordJobResult`; never throws for a single bad result, reports its outcome: a result
   * that cannot be serialised is `invalid` for its job alone, the rest of the batch is stored.
   */
  recordJobResults(results: JobResult[], now: IsoTime): Promise<RecordResultOutcome[]>;
  /** The device's pending and dispatched jobs, oldest first: what to (re)send on connect. */
  pendingJobs(deviceId: string): Promise<JobRecord[]>;
  /** Newest first. */
  listJobs(query: ListJobsQuery): Promise<JobRecord[]>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Jobs by id, for a burst of results; unknown ids are absent from the map. */
  getJobsMany(ids: string[]): Promise<Map<string, JobRecord>>;
  /** Open (pending, dispatched, running) jobs per device, oldest first; every id is a key. */
  openJobsMany(deviceIds: string[]): Promise<Map<string, JobRecord[]>>;
  /** Every state, zero when none. */
  countJobsByState(): Promise<Record<JobState, number>>;
  /**
   * Jobs their device says it does not hold → `failed` with `reason`, each only when it is that
   * device's, still dispatched or running without a result, and was dispatched before its
   * `before` (when the connection that answered began: a job sent on it is held). Returns the
   * ids that moved. A result that arrives later still wins (as for cancelled and timed-out jobs).
   */
  markJobsLost(jobs: ReadonlyArray<{ id: string; deviceId: string; before: IsoTime }>, reason: string, now: IsoTime): Promise<string[]>;
  /** Non-final jobs → cancelled. Returns the ids that moved. */
  cancelJobs(ids: string[], now?: IsoTime): Promise<string[]>;
  /** The newest job of each device created for the rollout; devices without one are absent. */
  rolloutJobsMany(rolloutId: string, deviceIds: string[]): Promise<Map<string, JobRecord>>;

  // device status
  /** Upserts each device's decided status (not its conditions or retry history), in one transaction. */
  saveDeviceStatuses(statuses: DeviceStatusInput[]): Promise<void>;
  /** Records finished jobs' revisions and retry histories, in one transaction (in array order). */
  recordDeviceOutcomes(outcomes: DeviceOutcomeInput[], now: IsoTime): Promise<void>;
  /** Every live device's status row, ordered by device id (what a starting loop loads). */
  listDeviceStatuses(): Promise<DeviceStatusRecord[]>;

  // inventory
  /** Sorted by key. */
  getInventory(deviceId: string): Promise<InventoryEntry[]>;
  /** Upserts and deletes by key, in one transaction. */
  applyInventory(deviceId: string, upserts: InventoryUpsert[], deletes: string[]): Promise<void>;
  /** Every requested id is in the map (empty array when nothing was applied). */
  getInventoryMany(ids: string[]): Promise<Map<string, InventoryEntry[]>>;
  /** applyInventory for many devices in one transaction. */
  applyInventoryMany(changes: Array<{ deviceId: string; upserts: InventoryUpsert[]; deletes: string[] }>): Promise<void>;

  // rollouts
  /**
   * Inserts or replaces rollouts by id, in one transaction. `revision`, `profile`, `policy` and
   * `createdAt` are fixed at insert; later saves change status, supersededBy, state, updatedAt.
   */
  saveRollouts(records: RolloutRecord[]): Promise<void>;
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  /** Newest first by creation time. */
  listRollouts(query: ListRolloutsQuery): Promise<RolloutRecord[]>;
  /**
   * Every rollout not superseded, oldest first: the ones that still decide for their devices
   * (a halted or finished rollout holds its devices until a newer rollout of its profile
   * supersedes it). At most one per profile when rollouts are saved as loop/rollouts.ts does.
   */
  currentRollouts(): Promise<RolloutRecord[]>;

  // access
  /** Creates the user, or replaces role and password of an existing one when `replace` is set. */
  saveUser(input: { name: string; role: Role; passwordHash: string; replace?: boolean }): Promise<UserRecord>;
  getUser(name: string): Promise<UserRecord | undefined>;
  /** Ordered by name. */
  listUsers(): Promise<UserRecord[]>;
  /** Deletes the user and every session of theirs. Throws `store.not-found`. */
  deleteUser(name: string): Promise<void>;
  createSession(input: { idHash: string; user: string; createdAt: IsoTime; expiresAt: IsoTime }): Promise<void>;
  /** The live session (not expired at `now`, user not disabled), with the user's current role. */
  getSession(idHash: string, now: IsoTime): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;
  /** Deletes sessions expired at `now`; returns how many. */
  deleteExpiredSessions(now: IsoTime): Promise<number>;
  /** Throws `store.conflict` when the id or hash exists. */
  createApiToken(input: Omit<ApiTokenRecord, 'revokedAt'>): Promise<ApiTokenRecord>;
  /** The token with this hash when not revoked and not expired at `now`. */
  findApiToken(tokenHash: string, now: IsoTime): Promise<ApiTokenRecord | undefined>;
  /** Newest first. */
  listApiTokens(): Promise<ApiTokenRecord[]>;
  /** Idempotent; throws `store.not-found`. */
  revokeApiToken(id: string, now?: IsoTime): Promise<ApiTokenRecord>;

  // ---- provisioning (PXE) ----
  /** Upserts the machine by MAC: first/last seen, boot count, identity, device, decision. */
  recordMachineBoot(input: MachineBootInput): Promise<PxeMachine>;
  getPxeMachine(mac: string): Promise<PxeMachine | undefined>;
  /** Most recently seen first; `unknownOnly` keeps the machines no Device matches (discovered). */
  listPxeMachines(query: { limit: number; unknownOnly?: boolean }): Promise<PxeMachine[]>;
  getProvisioning(deviceId: string): Promise<ProvisioningRecord | undefined>;
  /** Sets the state (an operator's re-provision, a device first seen as discovered). */
  setProvisioningState(deviceId: string, state: ProvisioningState, at: IsoTime, mac?: string): Promise<ProvisioningRecord>;
  /**
   * The device's number in the hostname sequence `scope`: the one it was given before, else the
   * next never-used one (atomically; numbers start at 1 and are never reused).
   */
  allocateHostnameSeq(scope: string, deviceId: string, at: IsoTime): Promise<number>;
  /**
   * In one transaction: supersedes the device's active runs (their enrollment tokens revoked),
   * creates the run's enrollment token and the run, and moves the device to `provisioning`.
   */
  startProvisioningRun(run: NewProvisioningRun): Promise<ProvisioningRun>;
  /** The active, unexpired run whose token hash this is. */
  findActiveRun(tokenHash: string, at: IsoTime): Promise<ProvisioningRun | undefined>;
  /** Newest first. */
  listProvisioningRuns(deviceId: string, limit: number): Promise<ProvisioningRun[]>;
  /**
   * Records a runner's task report if `accept` (pure, given the run's tasks and its steps so far)
   * allows it, in one transaction; a report that finishes the run sets the run's status and, on
   * success, the device's state to `provisioned`.
   */
  recordProvisioningStep(
    input: ProvisioningStepInput,
    accept: (tasks: ProvisioningRunTask[], history: StepReport[], report: StepReport) => StepVerdict,
  ): Promise<RecordStepOutcome>;
  /** The device's timeline, oldest first (the last `limit` steps). */
  listProvisioningSteps(deviceId: string, limit: number): Promise<ProvisioningStep[]>;
  /** Devices in `provisioning` or `provisioned`: their agent's first connection enrolls them. */
  devicesAwaitingEnrollment(): Promise<string[]>;
  /** provisioning|provisioned → enrolled; false when the device was not being provisioned. */
  markEnrolled(deviceId: string, at: IsoTime): Promise<boolean>;

  // ---- audit log ----
  /**
   * Appends one entry to the hash chain. Appends are serialised (one writer at a time reads the
   * head, links to it and moves it, in one transaction), so the chain never forks; an
   * implementation with several writers (PostgreSQL) locks the head row for the transaction.
   */
  appendAudit(input: AuditInput): Promise<AuditEntry>;
  /** Newest first; `before` is a seq from a previous page. */
  listAudit(query: { limit: number; before?: number }): Promise<AuditEntry[]>;
  /** Oldest first from `afterSeq + 1`, as stored (for verification; nothing is checked here). */
  readAuditChain(query: { afterSeq: number; limit: number }): Promise<AuditEntry[]>;
  /** Undefined before the first entry. */
  auditHead(): Promise<AuditHead | undefined>;
  // enrollment approval and build mode (sqlite-enrollment.ts)
  /** Live devices waiting for approval, oldest enrollment first. */
  listPendingDevices(limit: number): Promise<DeviceRecord[]>;
  /** Approves a pending device; `store.not-found` when no live device of that id is pending. */
  approveDevice(id: string): Promise<DeviceRecord>;
  /**
   * Rejects a pending device: deleted, its credential and machine binding cleared so the id is
   * free for the real machine. `store.not-found` when no live device of that id is pending.
   */
  rejectDevice(id: string, at: IsoTime): Promise<void>;
  /** Arms (or re-arms, replacing the expiry) a device's next install boot. */
  armProvisioning(input: ArmingRecord): Promise<ArmingRecord>;
  /** Disarms; false when it was not armed. */
  disarmProvisioning(deviceId: string): Promise<boolean>;
  /** The device's arming if it is live at `at`. */
  getArming(deviceId: string, at: IsoTime): Promise<ArmingRecord | undefined>;
  /** Consumes a live arming atomically: true for exactly one caller. */
  consumeArming(deviceId: string, at: IsoTime): Promise<boolean>;
  /**
   * Forgets discovered machines (no device) last seen before `before`, and beyond the `keep`
   * most recently seen. Returns how many were removed.
   */
  pruneDiscovered(options: { before: IsoTime; keep: number }): Promise<number>;

  /** Waits for queued work, then closes. Later calls throw `store.closed`. */
  close(): Promise<void>;
}

export const JOB_STATES: readonly JobState[] = [
  'pending',
  'dispatched',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
];

export const FINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'timed_out', 'cancelled'];
