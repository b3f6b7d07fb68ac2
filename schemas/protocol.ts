// The wire between reconciler, agents and dashboard — typed once, used by all three.
//
// Socket.IO namespaces:
//   /agent  agents. Handshake `auth` is AgentAuth. Events below (AgentToServer, ServerToAgent).
//   /ui     the dashboard: server → browser deltas (UiServerToClient).
// File and script bodies never travel in socket messages: the agent downloads
// `GET /api/v1/blobs/sha256/<hex>`, authenticated by a statement signed with its device key
// (schemas/device-auth.ts), and verifies the hash.
//
// Trust (docs/protocol.md "Signed jobs"): the server's first message on every connection is
// `server:hello`, a DSSE envelope (schemas/signing.ts) answering the agent's `challenge` and
// signed by every currently valid server key; every `job` is a DSSE envelope of a JobPayload.
import type { Facts } from './facts.ts';
import type { Envelope } from './envelope.ts';
import type { Interpreter, OnInterrupt, PackageManager, RolloutPolicy, RunPolicy } from './kinds.ts';

export const PROTOCOL_VERSION = 1;

// ---- handshake ----

/**
 * `challenge`: fresh random text (base64url, 16–128 chars) per connection attempt; the server's
 * `server:hello` must carry it back, signed by a key the agent trusts.
 * `handshake`: a DEVICE_HANDSHAKE envelope signed by the device key (schemas/device-auth.ts).
 * `publicKey`: the device key's public half (SPKI PEM), sent at enrollment, and once by an agent
 * enrolled before keys together with its old `credential` (which is then cleared).
 */
export type AgentAuth =
  | { deviceId: string; handshake: Envelope; protocol?: number; challenge?: string }
  | { deviceId: string; handshake: Envelope; credential: string; publicKey: string; protocol?: number; challenge?: string }
  | { enrollmentToken: string; machineId: string; facts: Facts; publicKey: string; protocol?: number; challenge?: string };

/** One server public key, named by its fingerprint (`sha256:<hex>` of the SPKI DER). */
export interface ServerPublicKey {
  keyid: string;
  /** SPKI PEM. */
  publicKey: string;
}

/**
 * The payload of `server:hello` (SERVER_HELLO_PAYLOAD_TYPE), signed by each key in `keys`.
 * `keys` are the server's keys valid now, the one that signs new jobs first: an agent that
 * verifies the hello with a key it already trusts replaces its trusted set with these.
 */
export interface ServerHelloPayload {
  challenge: string;
  /** Absent while the device is enrolling (the id comes in `enrolled`). */
  deviceId?: string;
  keys: ServerPublicKey[];
  issuedAt: string;
}

/**
 * The payload of a `job` envelope (JOB_PAYLOAD_TYPE). `sequence` grows strictly per device (the
 * store's counter, taken at each dispatch); the agent refuses one not above the highest it
 * accepted, except a redelivery of a job it already holds. `blobs`: every sha256 the steps
 * reference, sorted.
 */
export interface JobPayload {
  deviceId: string;
  jobId: string;
  idempotencyKey: string;
  sequence: number;
  revision: string;
  issuedAt: string;
  expiresAt: string;
  steps: Step[];
  blobs: string[];
  createdAt: string;
}

/** Sent once after an enrollment handshake; the agent stores it (0600) and acks. */
/** The server's answer to an enrollment: the device id the public key was recorded for. */
export interface Enrollment {
  deviceId: string;
}

// ---- observed resources (agent → server) ----

export interface ObservedPackage {
  key: string;
  type: 'package';
  manager: PackageManager;
  name: string;
  installed: boolean;
  /** Installed version, when installed. */
  version?: string;
}

export interface ObservedFile {
  key: string;
  type: 'file';
  path: string;
  exists: boolean;
  sha256?: string;
  size?: number;
  /** Octal string (`0644`); absent on Windows. */
  mode?: string;
  owner?: string;
  group?: string;
}

export interface ObservedScript {
  key: string;
  type: 'script';
  /** SHA-256 of the body that last ran to success (run: once | onChange). */
  appliedSha256?: string;
  lastRunAt?: string;
  lastExitCode?: number;
}

export type ObservedResource = ObservedPackage | ObservedFile | ObservedScript;

export interface AgentReport {
  agentVersion: string;
  facts: Facts;
  /** The resources this agent manages (its local inventory), observed now. */
  observed: ObservedResource[];
  /** Revision of the last job it completed. */
  revision?: string;
  /** ISO time on the agent's clock. */
  sentAt: string;
  /** When the observation was made: see ObservationOrder. Absent from agents before it existed. */
  epoch?: string;
  seq?: number;
}

/**
 * The order of a device's observations, stamped by the agent when it observes (a report: before
 * it gathers; a result: after the job's last observation), carried by reports and results.
 * `seq` is an integer that only grows within one `epoch`; `epoch` is a random id the agent makes
 * when its state dir is new. The server keeps the stamp of the observed state it holds and applies
 * a report's or result's observed resources only when the message is newer: same epoch and a
 * larger seq, or another epoch (the agent's state dir was wiped: its counter started again), or
 * no stamp on either side (an agent older than this field is taken as newest). docs/protocol.md.
 */
export interface ObservationOrder {
  epoch: string;
  seq: number;
}

// ---- steps and jobs (server → agent) ----

/** A Step is the executable unit; agent executors are a table keyed by `action`. */
export type Step =
  | {
      action: 'package.install';
      key: string;
      manager: PackageManager;
      name: string;
      /** `any`, `latest`, exact or `prefix.*`. */
      version: string;
    }
  | { action: 'package.remove'; key: string; manager: PackageManager; name: string }
  | {
      action: 'file.write';
      key: string;
      path: string;
      sha256: string;
      /** Bytes, or -1 when unknown (a `url` source): the SHA-256 is verified either way. */
      size: number;
      mode?: string;
      owner?: string;
      group?: string;
    }
  | { action: 'file.delete'; key: string; path: string }
  | {
      action: 'script.run';
      key: string;
      interpreter: Interpreter;
      /** Body is fetched as a blob by this hash. */
      sha256: string;
      run: RunPolicy;
      /** Absent (older servers): defaultOnInterrupt(run). */
      onInterrupt?: OnInterrupt;
      check?: string;
      timeoutSeconds: number;
      successExitCodes: number[];
      env?: Record<string, string>;
    };

export type StepAction = Step['action'];

export interface Job {
  id: string;
  deviceId: string;
  /** `main@sha1:<oid>` the job was planned from. */
  revision: string;
  /** Same key ⇒ same job: a redelivered job is not run twice, a redelivered result recorded once. */
  idempotencyKey: string;
  steps: Step[];
  createdAt: string;
}

/**
 * `interrupted`: a script whose agent died while it ran, and which vanished without an exit
 * status, so whether it did its work is unknown; it is not run again unless the Script declares
 * `onInterrupt: rerun`. A failure for the job (whose status is then `failed`) and for retries.
 */
export type StepStatus = 'succeeded' | 'failed' | 'skipped' | 'interrupted';

export interface StepResult {
  key: string;
  action: StepAction;
  status: StepStatus;
  exitCode?: number;
  /** Output tail, capped by the agent (64 KiB). */
  output?: string;
  error?: string;
  durationMs: number;
}

export type JobFinalState = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
export type JobState = 'pending' | 'dispatched' | 'running' | JobFinalState;

export interface JobResult {
  jobId: string;
  idempotencyKey: string;
  status: JobFinalState;
  steps: StepResult[];
  /** The job's resources observed after it ran. */
  observed: ObservedResource[];
  startedAt: string;
  finishedAt: string;
  /** When `observed` was observed: see ObservationOrder. Absent from agents before it existed. */
  epoch?: string;
  seq?: number;
}

export interface JobProgress {
  jobId: string;
  stepIndex: number;
  status: 'running' | StepStatus;
}

export type Ack = { ok: true } | { ok: false; error: string; code?: string };

/** The ack of a `job`: a `job.replayed` refusal says the highest sequence the agent accepted. */
export type JobAck = Ack | { ok: false; error: string; code: 'job.replayed'; highest: number };

/**
 * `jobs:held` (server → agent, acked): which of these jobs does the agent hold? Asked on every
 * (re)connection about the jobs the server thinks dispatched or running there, and again about
 * a running job silent past its steps' time budget. The answer names every asked job:
 *   running   queued or running here, or journalled and to be resumed;
 *   finished  its result is in the agent's spool and will be sent (or is being sent);
 *   unknown   not held (state dir wiped, a fresh simulator): the server requeues it.
 */
export interface HeldJobsQuery {
  jobs: Array<{ jobId: string; idempotencyKey: string }>;
}

export type HeldJobState = 'running' | 'finished' | 'unknown';

export type HeldJobsAnswer =
  | { ok: true; jobs: Array<{ jobId: string; state: HeldJobState }> }
  | { ok: false; error: string; code?: string };

export interface AgentToServer {
  report: (report: AgentReport, ack: (res: Ack) => void) => void;
  'job:progress': (progress: JobProgress) => void;
  'job:result': (result: JobResult, ack: (res: Ack) => void) => void;
}

export interface ServerToAgent {
  /** First message of every connection: an Envelope of a ServerHelloPayload. */
  'server:hello': (hello: Envelope) => void;
  enrolled: (enrollment: Enrollment, ack: (res: Ack) => void) => void;
  /** An Envelope of a JobPayload; refusals are `{ok: false, code: 'job.*'}` (docs/protocol.md). */
  job: (job: Envelope, ack: (res: JobAck) => void) => void;
  'job:cancel': (payload: { jobId: string }) => void;
  'jobs:held': (query: HeldJobsQuery, ack: (res: HeldJobsAnswer) => void) => void;
}

// ---- the dashboard (/ui namespace and the REST API it reads) ----

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Drift state of a device, as the reconciler's last pass saw it. */
/**
 * `unknown`: enrolled, never reported. `awaiting_enrollment`: a Device declared in Git that no
 * agent has enrolled as yet (listed from the moment its revision is accepted).
 */
export type DeviceState = 'in_sync' | 'drifted' | 'converging' | 'failed' | 'unknown' | 'awaiting_enrollment';

/** One row of `GET /api/v1/devices`, and what the `devices` UI event carries. */
export interface DeviceSummary {
  id: string;
  name: string;
  online: boolean;
  state: DeviceState;
  reason: string;
  /** Revision of the last job the device completed. */
  revision: string | null;
  lastSeenAt: string | null;
  lastReportAt: string | null;
  agentVersion: string | null;
  os: { family?: string; name?: string; version?: string } | null;
  labels: Record<string, string>;
  /** Groups and profiles at the accepted revision, sorted (empty before the first pass). */
  groups: string[];
  profiles: string[];
  /** Present while the device waits for an operator's approval (`deployx device approve`). */
  approval?: 'pending';
  /** The Git file declaring this device, when a `Device` document does. */
  declaredIn?: string;
}

/** `GET /api/v1/session` and the answer to a login. */
export interface SessionInfo {
  user: { name: string; role: Role };
  /** Send as `X-CSRF-Token` with every state-changing request made with the session cookie. */
  csrfToken: string;
  expiresAt: string;
}

export type NotificationKind =
  | 'agent.connected'
  | 'agent.disconnected'
  | 'revision.accepted'
  | 'revision.rejected'
  | 'rollout.wave.completed'
  | 'rollout.completed'
  | 'rollout.partial'
  | 'rollout.failed'
  | 'rollout.halted'
  | 'device.failed'
  | 'provisioning.discovered'
  | 'provisioning.started'
  | 'provisioning.finished'
  | 'provisioning.enrolled';

export interface UiNotification {
  /** Increasing; the bell counts those above the last one read. */
  seq: number;
  at: string;
  kind: NotificationKind;
  level: 'info' | 'success' | 'warning' | 'error';
  title: string;
  message: string;
  /** What it is about, for a link: `device:<id>`, `revision:<oid>`, `rollout:<id>`. */
  subject?: string;
}

export interface JobDelta {
  deviceId: string;
  jobId: string;
  state: JobState;
}

export interface RevisionDelta {
  revision: string;
  status: 'accepted' | 'rejected';
}

export interface RolloutDelta {
  rolloutId: string;
  profile?: string;
  revision: string;
  status: string;
  event: string;
}

/** `GET /api/v1/provisioning/discovered`: machines that network-booted (unknown ones unless `all=1`). */
export interface DiscoveredMachine {
  mac: string;
  uuid?: string;
  serial?: string;
  /** iPXE's `${platform}` (`pcbios`, `efi`) and `${buildarch}`. */
  platform?: string;
  buildarch?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  boots: number;
  /** The declared device it is, once a `Device` with its MAC is committed. */
  deviceId?: string;
  chosenProfile?: string;
  /** What its last boot was told: `install`, `local-disk:<reason>`, `menu`, `wait:<reason>`. */
  lastDecision?: string;
}

export type ProvisioningStateName = 'discovered' | 'provisioning' | 'provisioned' | 'enrolled';

/** `GET /api/v1/devices/:id/provisioning` (404 `pxe.not-found` for a device never provisioned). */
export interface ProvisioningTimeline {
  deviceId: string;
  state: ProvisioningStateName | null;
  mac: string | null;
  provisionedAt: string | null;
  enrolledAt: string | null;
  /** Newest first: one per install boot. */
  runs: Array<{
    id: string;
    deviceId: string;
    revision: string;
    profile: string;
    image: string;
    hostname: string;
    mac?: string;
    status: 'active' | 'succeeded' | 'failed' | 'superseded';
    createdAt: string;
    expiresAt: string;
    finishedAt?: string;
    tasks: Array<{ index: number; type: string; name: string; continueOnError?: boolean }>;
  }>;
  /** Every step report, oldest first. */
  steps: Array<{ runId: string; index: number; type: string; name: string; status: 'started' | 'succeeded' | 'failed'; exitCode?: number; log?: string; at: string }>;
}

/** One error of a rejected revision, located in the fleet repository (file, line, column, field path). */
export interface RevisionError {
  code: string;
  message: string;
  file: string;
  line: number;
  col: number;
  path: string;
  suggestion?: string;
}

/**
 * Who signed an accepted commit, when the server verifies commit signatures (docs/security.md,
 * "Commit signatures"). `fingerprint` is the key's own: `SHA256:<base64>` as `ssh-keygen -l` prints
 * it, or the OpenPGP primary key's fingerprint in hex as `gpg --fingerprint` prints it.
 */
export interface CommitSigner {
  method: 'ssh' | 'openpgp';
  fingerprint: string;
  /** The principals of its `allowed_signers` line, or the OpenPGP key's primary user id. */
  identity: string;
}

/** A revision the server has seen, as stored and as `GET /api/v1/revisions` lists it. */
export interface RevisionView {
  /** `main@sha1:<oid>`. */
  revision: string;
  oid: string;
  branch: string;
  author: string;
  message: string;
  committedAt: string;
  /** When the source first resolved the branch to this oid. */
  seenAt: string;
  /** The last time it did (moves forward when the branch is reset back to this oid). */
  lastSeenAt: string;
  status: 'accepted' | 'rejected';
  /** The first errors of a rejected revision (at most 200 stored, fewer in a listing); empty when accepted. */
  errors: RevisionError[];
  /** How many errors the revision has in all: `errorCount - errors.length` more are not shown. */
  errorCount: number;
  /** The verified signer of the commit, when the server verified it (mode `head` or `all`). */
  signer?: CommitSigner;
}

/** `GET /api/v1/revisions`. */
export interface RevisionsResponse {
  /** The revision in force. */
  current: string | null;
  /** The Fleet's `repoWebUrl`, to link errors to their file and line. */
  webUrlTemplate: string | null;
  revisions: RevisionView[];
}

/** Device states inside a rollout (`core/rollout/schedule.ts`). */
export type RolloutDeviceStatus = 'waiting' | 'running' | 'succeeded' | 'failed' | 'retrying' | 'offline';
/** A rollout's status as stored and shown; `superseded` once a newer revision replaced it. */
export type RolloutViewStatus = 'progressing' | 'paused' | 'halted' | 'completed' | 'partial' | 'failed' | 'superseded';
/** Devices by rollout state; `total` is their sum. */
export type RolloutCounts = Record<RolloutDeviceStatus, number> & { total: number };

export interface RolloutWaveView {
  index: number;
  name: string;
  /** A wave the policy did not name (the rest of the devices). */
  implicit: boolean;
  manualPromotion: boolean;
  /** Failed devices the wave tolerates; one more halts the rollout. */
  failureThreshold: number;
  maxParallel: number;
  counts: RolloutCounts;
  startedAt: string | null;
  completedAt: string | null;
  promotedAt: string | null;
}

/** `GET /api/v1/rollouts` items, and what the rollout commands answer. */
export interface RolloutView {
  id: string;
  revision: string;
  profile: string | null;
  status: RolloutViewStatus;
  supersededBy: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  counts: RolloutCounts;
  /** Index of the wave running now. */
  activeWave: number | null;
  /** Index of the wave that waits for `promote`. */
  awaitingPromotion: number | null;
  halted: { wave: number; name: string; threshold: number; devices: string[] } | null;
  /** Why it starts nothing now and until when (null while a wave runs, or once it has finished). */
  waiting: RolloutWaitingView | null;
  waves: RolloutWaveView[];
  policy: RolloutPolicy;
}

/**
 * `paused` by an operator; outside its maintenance `window` (until: the next opening); the
 * `pause` between waves; a wave waiting for `promotion`; a wave held by `offline` devices.
 */
export interface RolloutWaitingView {
  kind: 'paused' | 'window' | 'pause' | 'promotion' | 'offline';
  /** One sentence: what it waits for, and when it moves on. */
  reason: string;
  /** When it moves on by itself; null when a person must act. */
  until: string | null;
  /** The wave that waits. */
  wave: number | null;
  /** The window's time zone (kind `window`). */
  timeZone?: string;
}

/** A device that failed in a rollout, with the error and output tail of its last job. */
export interface RolloutFailedDevice {
  device: string;
  error?: string;
  output?: string;
  wave: number;
  attempts: number;
  jobId?: string;
}

/** `GET /api/v1/rollouts/:id[?devices=1]`: the view, its failed devices, and every device on request. */
export type RolloutDetail = Omit<RolloutView, 'halted'> & {
  halted: (NonNullable<RolloutView['halted']> & { failedDevices: RolloutFailedDevice[] }) | null;
  failedDevices: RolloutFailedDevice[];
  devices?: Array<{ name: string; wave: number; status: RolloutDeviceStatus; online: boolean; attempts: number; failures: number; retryAt?: string }>;
};

/** A point of the convergence chart (`GET /api/v1/stats/history`), sampled by the server. */
export interface StatsSample {
  at: string;
  total: number;
  online: number;
  inSync: number;
}

/**
 * server → browser on `/ui`. Deltas are batched: `devices` carries every row that changed in the
 * last flush interval (≈ 250 ms), so 10,000 reporting devices cost a few messages a second.
 * The browser reads the REST API for the first view and on reconnect, then applies deltas.
 */
export interface UiServerToClient {
  hello: (info: { user: { name: string; role: Role }; revision: string | null }) => void;
  devices: (rows: DeviceSummary[]) => void;
  /** Device ids deleted through the API. */
  'devices:removed': (ids: string[]) => void;
  jobs: (rows: JobDelta[]) => void;
  revision: (delta: RevisionDelta) => void;
  rollout: (delta: RolloutDelta) => void;
  notification: (notification: UiNotification) => void;
  stats: (sample: StatsSample) => void;
}

/** The dashboard sends nothing but its handshake (`auth: { token }` or the session cookie). */
export type UiClientToServer = Record<string, never>;

// ---- HTTP from agents ----

export const AGENT_NAMESPACE = '/agent';
export const UI_NAMESPACE = '/ui';

/** Path of a content-addressed blob (files, script bodies, boot artifacts). */
export function blobPath(sha256: string): string {
  return `/api/v1/blobs/sha256/${sha256}`;
}
