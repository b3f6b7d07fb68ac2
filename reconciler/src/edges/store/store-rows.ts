// Rows as both backends read them, and their mapping to the Store's records. The SQLite and
// PostgreSQL schemas have the same tables and columns with the same kinds of values (times and
// JSON as text, counters as integers, flags as 0/1), so one mapping serves both, and the column
// lists are written once.
import type { Facts } from '../../../../schemas/facts.ts';
import type { CommitSigner, JobResult, JobState, ObservedResource, Step } from '../../../../schemas/protocol.ts';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import type { DesiredResource } from '../../core/model.ts';
import type { RolloutState } from '../../core/rollout/schedule.ts';
import type { ProvisioningState } from '../../core/pxe/boot-decision.ts';
import type { StepStatus } from '../../core/pxe/task-progress.ts';
import type {
  ApiTokenRecord,
  ArmingRecord,
  AuditEntry,
  AuditOutcome,
  DeviceRecord,
  DeviceStatusRecord,
  DeviceStatusState,
  EnrollmentToken,
  InventoryEntry,
  JobRecord,
  ObservedSnapshot,
  ProvisioningRecord,
  ProvisioningRun,
  ProvisioningRunStatus,
  ProvisioningRunTask,
  ProvisioningStep,
  PxeMachine,
  RevisionRecord,
  Role,
  RolloutRecord,
  RolloutRecordStatus,
  UserRecord,
} from './store.ts';
import { setIf } from './store-values.ts';

// ---- revisions ----

export interface RevisionRow {
  seq: number;
  oid: string;
  revision: string;
  branch: string;
  author: string;
  message: string;
  committed_at: string;
  seen_at: string;
  last_seen_at: string;
  status: 'accepted' | 'rejected';
  errors: string;
  error_count: number;
  signer: string | null;
}

export const REVISION_COLUMNS =
  'seq, oid, revision, branch, author, message, committed_at, seen_at, last_seen_at, status, errors, error_count, signer';

export function toRevision(row: RevisionRow, maxErrors?: number): RevisionRecord {
  const errors = JSON.parse(row.errors) as RevisionRecord['errors'];
  return {
    revision: row.revision,
    oid: row.oid,
    branch: row.branch,
    author: row.author,
    message: row.message,
    committedAt: row.committed_at,
    seenAt: row.seen_at,
    lastSeenAt: row.last_seen_at,
    status: row.status,
    errors: maxErrors === undefined ? errors : errors.slice(0, maxErrors),
    errorCount: row.error_count,
    ...(row.signer === null ? {} : { signer: JSON.parse(row.signer) as CommitSigner }),
  };
}

// ---- enrollment tokens ----

export interface EnrollmentTokenRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
  revoked_at: string | null;
  labels: string;
  bound_device: string | null;
}

export const ENROLLMENT_TOKEN_COLUMNS =
  'id, name, token_hash, created_at, expires_at, max_uses, uses, revoked_at, labels, bound_device';

export function toEnrollmentToken(row: EnrollmentTokenRow): EnrollmentToken {
  const token: EnrollmentToken = {
    id: row.id,
    name: row.name,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    uses: row.uses,
    labels: JSON.parse(row.labels) as EnrollmentToken['labels'],
  };
  setIf(token, 'expiresAt', row.expires_at);
  setIf(token, 'maxUses', row.max_uses);
  setIf(token, 'revokedAt', row.revoked_at);
  setIf(token, 'boundDevice', row.bound_device);
  return token;
}

// ---- devices ----

export interface DeviceRow {
  id: string;
  machine_id: string | null;
  name: string;
  labels: string;
  facts: string;
  /** 1 when the device can authenticate (a public key, or a credential from before keys). */
  has_credential: number;
  enrolled_at: string | null;
  last_seen_at: string | null;
  last_report_at: string | null;
  agent_version: string | null;
  reported_revision: string | null;
  deleted_at: string | null;
  approval: string | null;
  approval_claim: string | null;
}

/** The columns of a DeviceRow but `facts`, for lists that read only part of the facts. */
export const DEVICE_COLUMNS_NO_FACTS =
  'id, machine_id, name, labels, ' +
  'CASE WHEN credential_hash IS NOT NULL OR public_key IS NOT NULL THEN 1 ELSE 0 END AS has_credential, enrolled_at, last_seen_at, ' +
  'last_report_at, agent_version, reported_revision, deleted_at, approval, approval_claim';

export const DEVICE_COLUMNS = `facts, ${DEVICE_COLUMNS_NO_FACTS}`;

export function toDevice(row: DeviceRow): DeviceRecord {
  const device: DeviceRecord = {
    id: row.id,
    name: row.name,
    labels: JSON.parse(row.labels) as DeviceRecord['labels'],
    facts: JSON.parse(row.facts) as Facts,
    hasCredential: row.has_credential === 1,
  };
  setIf(device, 'machineId', row.machine_id);
  setIf(device, 'enrolledAt', row.enrolled_at);
  setIf(device, 'lastSeenAt', row.last_seen_at);
  setIf(device, 'lastReportAt', row.last_report_at);
  setIf(device, 'agentVersion', row.agent_version);
  setIf(device, 'reportedRevision', row.reported_revision);
  setIf(device, 'deletedAt', row.deleted_at);
  if (row.approval === 'pending') device.approval = 'pending';
  setIf(device, 'approvalClaim', row.approval_claim);
  return device;
}

/** A device row whose facts column holds only `os` (JSON text, or NULL): what a list shows. */
export function toDeviceSummary({ os, ...row }: Omit<DeviceRow, 'facts'> & { os: string | null }): DeviceRecord & { facts: Pick<Facts, 'os'> } {
  const parsed: unknown = os === null ? undefined : JSON.parse(os);
  const facts = parsed !== null && typeof parsed === 'object' ? { os: parsed as NonNullable<Facts['os']> } : {};
  return { ...toDevice({ ...row, facts: '{}' }), facts };
}

// ---- observed state ----

export interface ObservedRow {
  id: string;
  last_report_at: string | null;
  resources: string | null;
}

export function toObservedSnapshot(row: ObservedRow): ObservedSnapshot {
  const snapshot: ObservedSnapshot = {
    deviceId: row.id,
    resources: row.resources === null ? [] : (JSON.parse(row.resources) as ObservedResource[]),
  };
  setIf(snapshot, 'reportedAt', row.last_report_at);
  return snapshot;
}

// ---- jobs ----

export interface JobRow {
  id: string;
  device_id: string;
  revision: string;
  idempotency_key: string;
  steps: string;
  state: JobState;
  created_at: string;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  result: string | null;
  reason: string | null;
  rollout_id: string | null;
  resources: string;
}

export const JOB_COLUMNS =
  'id, device_id, revision, idempotency_key, steps, state, created_at, dispatched_at, started_at, ' +
  'finished_at, attempts, result, rollout_id, resources, reason';

export function toJob(row: JobRow): JobRecord {
  const job: JobRecord = {
    id: row.id,
    deviceId: row.device_id,
    revision: row.revision,
    idempotencyKey: row.idempotency_key,
    steps: JSON.parse(row.steps) as Step[],
    state: row.state,
    createdAt: row.created_at,
    attempts: row.attempts,
  };
  setIf(job, 'dispatchedAt', row.dispatched_at);
  setIf(job, 'startedAt', row.started_at);
  setIf(job, 'finishedAt', row.finished_at);
  setIf(job, 'result', row.result === null ? null : (JSON.parse(row.result) as JobResult));
  setIf(job, 'rolloutId', row.rollout_id);
  setIf(job, 'reason', row.reason);
  const resources = JSON.parse(row.resources) as Record<string, DesiredResource>;
  if (Object.keys(resources).length > 0) job.resources = resources;
  return job;
}

// ---- inventory ----

export interface InventoryRow {
  device_id: string;
  key: string;
  fingerprint: string;
  resource: string;
  revision: string;
  applied_at: string;
}

export const INVENTORY_COLUMNS = 'device_id, key, fingerprint, resource, revision, applied_at';

export function toInventoryEntry(row: InventoryRow): InventoryEntry {
  return {
    deviceId: row.device_id,
    key: row.key,
    fingerprint: row.fingerprint,
    resource: JSON.parse(row.resource) as DesiredResource,
    revision: row.revision,
    appliedAt: row.applied_at,
  };
}

// ---- device status ----

export interface DeviceStatusRow {
  device_id: string;
  state: DeviceStatusState;
  reason: string;
  revision: string | null;
  pending_steps: number;
  reported_drift: number;
  last_applied_revision: string | null;
  last_attempted_revision: string | null;
  failure_steps_hash: string | null;
  failure_count: number;
  failure_at: string | null;
  updated_at: string;
}

export const DEVICE_STATUS_COLUMNS =
  'device_id, state, reason, revision, pending_steps, reported_drift, last_applied_revision, last_attempted_revision, ' +
  'failure_steps_hash, failure_count, failure_at, updated_at';

export function toDeviceStatus(row: DeviceStatusRow): DeviceStatusRecord {
  const record: DeviceStatusRecord = {
    deviceId: row.device_id,
    state: row.state,
    reason: row.reason,
    pendingSteps: row.pending_steps,
    reportedDrift: row.reported_drift,
    updatedAt: row.updated_at,
  };
  setIf(record, 'revision', row.revision);
  setIf(record, 'lastAppliedRevision', row.last_applied_revision);
  setIf(record, 'lastAttemptedRevision', row.last_attempted_revision);
  if (row.failure_steps_hash !== null && row.failure_count > 0 && row.failure_at !== null) {
    record.failure = { stepsHash: row.failure_steps_hash, count: row.failure_count, at: row.failure_at };
  }
  return record;
}

// ---- rollouts ----

export interface RolloutRow {
  seq: number;
  id: string;
  revision: string;
  profile: string | null;
  status: RolloutRecordStatus;
  superseded_by: string | null;
  policy: string;
  state: string;
  created_at: string;
  updated_at: string;
}

export const ROLLOUT_COLUMNS = 'seq, id, revision, profile, status, superseded_by, policy, state, created_at, updated_at';

export function toRollout(row: RolloutRow): RolloutRecord {
  const record: RolloutRecord = {
    id: row.id,
    revision: row.revision,
    status: row.status,
    policy: JSON.parse(row.policy) as RolloutPolicy,
    state: JSON.parse(row.state) as RolloutState,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  setIf(record, 'profile', row.profile);
  setIf(record, 'supersededBy', row.superseded_by);
  return record;
}

// ---- access ----

export interface UserRow {
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
  updated_at: string;
  disabled_at: string | null;
}

export interface ApiTokenRow {
  id: string;
  name: string;
  role: Role;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export const USER_COLUMNS = 'name, role, password_hash, created_at, updated_at, disabled_at';
export const API_TOKEN_COLUMNS = 'id, name, role, token_hash, created_at, expires_at, revoked_at';

export function toUser(row: UserRow): UserRecord {
  const user: UserRecord = {
    name: row.name,
    role: row.role,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  setIf(user, 'disabledAt', row.disabled_at);
  return user;
}

export function toApiToken(row: ApiTokenRow): ApiTokenRecord {
  const token: ApiTokenRecord = {
    id: row.id,
    name: row.name,
    role: row.role,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
  };
  setIf(token, 'expiresAt', row.expires_at);
  setIf(token, 'revokedAt', row.revoked_at);
  return token;
}

// ---- provisioning ----

export interface MachineRow {
  mac: string;
  uuid: string | null;
  serial: string | null;
  platform: string | null;
  buildarch: string | null;
  first_seen_at: string;
  last_seen_at: string;
  boots: number;
  device_id: string | null;
  chosen_profile: string | null;
  last_decision: string | null;
}

export interface ProvisioningStateRow {
  device_id: string;
  state: ProvisioningState;
  mac: string | null;
  run_id: string | null;
  updated_at: string;
  provisioned_at: string | null;
  enrolled_at: string | null;
}

export interface RunRow {
  id: string;
  device_id: string;
  token_hash: string;
  status: ProvisioningRunStatus;
  revision: string;
  profile: string;
  image: string;
  hostname: string;
  mac: string | null;
  tasks: string;
  enrollment_token_id: string | null;
  created_at: string;
  expires_at: string;
  finished_at: string | null;
}

export interface StepRow {
  run_id: string;
  device_id: string;
  task_index: number;
  task_type: string;
  task_name: string;
  status: StepStatus;
  exit_code: number | null;
  log: string | null;
  at: string;
}

export interface ArmingRow {
  device_id: string;
  armed_at: string;
  expires_at: string;
  armed_by: string;
}

export const MACHINE_COLUMNS = 'mac, uuid, serial, platform, buildarch, first_seen_at, last_seen_at, boots, device_id, chosen_profile, last_decision';
export const PROVISIONING_STATE_COLUMNS = 'device_id, state, mac, run_id, updated_at, provisioned_at, enrolled_at';
export const RUN_COLUMNS =
  'id, device_id, token_hash, status, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at, finished_at';
export const STEP_COLUMNS = 'run_id, device_id, task_index, task_type, task_name, status, exit_code, log, at';
export const ARMING_COLUMNS = 'device_id, armed_at, expires_at, armed_by';

export function toMachine(row: MachineRow): PxeMachine {
  const m: PxeMachine = { mac: row.mac, firstSeenAt: row.first_seen_at, lastSeenAt: row.last_seen_at, boots: row.boots };
  setIf(m, 'uuid', row.uuid);
  setIf(m, 'serial', row.serial);
  setIf(m, 'platform', row.platform);
  setIf(m, 'buildarch', row.buildarch);
  setIf(m, 'deviceId', row.device_id);
  setIf(m, 'chosenProfile', row.chosen_profile);
  setIf(m, 'lastDecision', row.last_decision);
  return m;
}

export function toProvisioningState(row: ProvisioningStateRow): ProvisioningRecord {
  const r: ProvisioningRecord = { deviceId: row.device_id, state: row.state, updatedAt: row.updated_at };
  setIf(r, 'mac', row.mac);
  setIf(r, 'runId', row.run_id);
  setIf(r, 'provisionedAt', row.provisioned_at);
  setIf(r, 'enrolledAt', row.enrolled_at);
  return r;
}

export function toRun(row: RunRow): ProvisioningRun {
  const r: ProvisioningRun = {
    id: row.id,
    deviceId: row.device_id,
    tokenHash: row.token_hash,
    status: row.status,
    revision: row.revision,
    profile: row.profile,
    image: row.image,
    hostname: row.hostname,
    tasks: JSON.parse(row.tasks) as ProvisioningRunTask[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  setIf(r, 'mac', row.mac);
  setIf(r, 'enrollmentTokenId', row.enrollment_token_id);
  setIf(r, 'finishedAt', row.finished_at);
  return r;
}

export function toStep(row: StepRow): ProvisioningStep {
  const s: ProvisioningStep = {
    runId: row.run_id,
    deviceId: row.device_id,
    index: row.task_index,
    type: row.task_type,
    name: row.task_name,
    status: row.status,
    at: row.at,
  };
  setIf(s, 'exitCode', row.exit_code);
  setIf(s, 'log', row.log);
  return s;
}

export const toArming = (row: ArmingRow): ArmingRecord => ({ deviceId: row.device_id, armedAt: row.armed_at, expiresAt: row.expires_at, armedBy: row.armed_by });

// ---- audit log ----

export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  details: string;
  prev_hash: string;
  hash: string;
}

export const AUDIT_COLUMNS = 'seq, at, actor, action, target, outcome, details, prev_hash, hash';

export function toAuditEntry(row: AuditRow): AuditEntry {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(row.details) as Record<string, unknown>;
  } catch {
    // An edited row that is not JSON any more: kept as text so verification reports it as edited.
    details = { unparsable: row.details };
  }
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
