// The /agent Socket.IO namespace: authentication at the handshake, reports and results in,
// jobs out with acknowledgement and timeout.
//
// Handshake (io.use): `{deviceId, handshake}` is a statement signed by the device's key
// (schemas/device-auth.ts): checked against the stored public key, the server's own keys, the
// clock and the nonces already seen, so nothing secret arrives and nothing read off the wire can
// be used again. A first contact `{enrollmentToken, machineId, facts, publicKey}` consumes one
// use of the token and creates (or re-binds) the device with that public key; its id is sent in
// `enrolled` right after connecting. A device enrolled before keys sends its old credential once
// with a new public key and a handshake signed by it: the key is registered and the credential
// cleared. Any other handshake is refused with `auth.refused` (error data `{ code, reason }`).
//
// Admission (admission.ts): at most `handshakes.maxConcurrent` handshakes are checked at once.
// Beyond that (a reconnect storm after a restart) a handshake waits in a queue the server can
// serve within a few seconds, or is refused at once with `{code: 'server.busy', retryAfterMs}`:
// an appointment at the rate the server completes handshakes (busy-wait.ts), after the queue, so
// the refused come back spread over the time the server needs to take them. The agent waits
// exactly that long (agent/src/transport/connection.ts). The device keys of concurrent handshakes
// are read in one query (KeyLookups).
//
// Trust (docs/protocol.md): the first message on every connection is `server:hello`, signed by
// every valid server key (edges/keys/server-keys.ts), answering the `challenge` of the handshake
// and listing those keys — proof that this server holds a key the agent pinned, and how a key
// rotation reaches agents. Every job leaves as a signed envelope (schemas/job-envelope.ts) with
// the device's next sequence from the store, sealed at each dispatch (fresh sequence and times).
// An agent's refusal (`job.*` codes) is logged with its reason; `job.replayed` carries the
// highest sequence the agent accepted, and the device's counter is raised above it so the next
// dispatch goes through (a store restored from a backup).
//
// Reports arrive in bursts; they are buffered for a few milliseconds and written in one batch,
// and each is acknowledged only after the batch is stored.
import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { Namespace, Server, Socket } from 'socket.io';
import type { Facts } from '../../../../schemas/facts.ts';
import {
  AGENT_NAMESPACE,
  type Ack,
  type AgentAuth,
  type AgentReport,
  type AgentToServer,
  type HeldJobState,
  type Job,
  type JobAck,
  type JobResult,
  type ServerHelloPayload,
  type ServerPublicKey,
  type ServerToAgent,
} from '../../../../schemas/protocol.ts';
import { parseEnrollmentToken } from '../../../../schemas/enrollment-token.ts';
import { sealJob } from '../../../../schemas/job-envelope.ts';
import { publicKeyFromPem, SERVER_HELLO_PAYLOAD_TYPE, signEnvelope, type Envelope, type SigningKey } from '../../../../schemas/signing.ts';
import { checkBlobRequest, checkDeviceHandshake, parseBlobAuthorization, ReplayGuard, type StatementRefusal } from '../../../../schemas/device-auth.ts';
import type { Logger } from '../../../../schemas/log.ts';
import type { DeviceRecord, JobRecord, Store } from '../store/store.ts';
import { observationOrder } from '../../core/observation-order.ts';
import { checkPayload } from './payload-bounds.ts';
import { BatchedLookup } from './batched-lookup.ts';
import { Admission, type AdmissionPolicy } from './admission.ts';
import { enrollmentApproval } from '../../core/enrollment-approval.ts';
import type { EnrollmentAutoApprove } from '../../../../schemas/kinds.ts';

interface SocketData {
  deviceId: string;
  /** The device's public key, checked at the handshake (blob requests of connected devices). */
  publicKey: KeyObject;
  /** Set while `enrolled` has not been sent. */
  enrollment?: true;
  /** Set until the agent acked `enrolled` (it stored its identity and began its session). */
  enrolling?: true;
  /**
   * The device waits for an operator's approval (core/enrollment-approval.ts): connected, but
   * sent no job, and its reports, progress and results are not stored.
   */
  pending?: boolean;
  /** The agent's `challenge` from the handshake, answered in `server:hello`. */
  challenge?: string;
}

/** What the gateway signs with (edges/keys/server-keys.ts ServerKeys). */
export interface SigningKeys {
  /** Valid keys, the current one first. */
  signers(): SigningKey[];
  publicKeys(): ServerPublicKey[];
}

/** How long an agent may accept a job after it was sealed. Default 15 min. */
export const DEFAULT_JOB_TTL_MS = 15 * 60_000;

export interface DispatchResult {
  outcome: DispatchOutcome;
  /** The agent's refusal, when `refused`. */
  code?: string;
  error?: string;
}

type AgentSocket = Socket<AgentToServer, ServerToAgent, Record<string, never>, SocketData>;
type AgentNamespace = Namespace<AgentToServer, ServerToAgent, Record<string, never>, SocketData>;

export interface AgentGatewayHooks {
  /** The device connected (or reconnected): dispatch what waits for it. */
  connected(deviceId: string): void;
  disconnected(deviceId: string): void;
  /** Reports were stored (one entry per device, its latest report of the batch). */
  reported(reports: StoredReport[]): void;
  /** Job results were stored (first deliveries only), each with its job as read before storing. */
  resulted(results: Array<{ deviceId: string; result: JobResult; job: JobRecord }>): Promise<void>;
  /** The declared device a machine with these facts is, if any (matched by MAC). */
  declaredDeviceFor(facts: Facts): string | undefined;
  /**
   * How these facts claim `deviceId` when it is a declared device (`mac`, `serial`, `hostname`);
   * undefined when it is not declared. Absent: only the `declaredDeviceFor` match is declared.
   */
  declaredClaim?(deviceId: string, facts: Facts): string | undefined;
  /** The Fleet's `enrollment.autoApprove` at the served revision. */
  autoApprove?(): EnrollmentAutoApprove | undefined;
}

export type DispatchOutcome = 'acked' | 'offline' | 'timeout' | 'refused';

/** A stored report, for the loop to decide whether the device needs a pass. */
export interface StoredReport {
  deviceId: string;
  facts: Facts;
  /** The observed set differs from the one stored before (or this is the first). */
  observedChanged: boolean;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new random secret with a readable prefix (`dxe_` enrollment, `dxc_` credential, `dxa_` API, `dxs_` session). */
export function newSecret(prefix: 'dxe' | 'dxc' | 'dxa' | 'dxs'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

const MAX_OBSERVED = 20_000;
const MAX_ID = 256;
/** An Ed25519 SPKI PEM is 113 characters. */
const MAX_PUBLIC_KEY = 1024;
/** Parsed public keys kept (by PEM); beyond this the cache starts over. */
const KEY_CACHE_SIZE = 50_000;

/** Why a blob request was refused (HTTP 401). */
export type BlobAuthRefusal = 'missing' | 'unknown-device' | StatementRefusal;

/** Report ingest counters, for /metrics and benchmarks. */
export interface IngestStats {
  reportsStored: number;
  /** Longest time a report waited between arrival and being stored, in ms. */
  maxStoreLatencyMs: number;
  /** Sum of those waits, for the mean. */
  totalStoreLatencyMs: number;
}

/** Handshake admission (admission.ts). */
export type HandshakeAdmission = AdmissionPolicy;

export const DEFAULT_HANDSHAKE_ADMISSION: HandshakeAdmission = { maxConcurrent: 200, retryAfterMs: [1_000, 60_000], queueWaitMs: 5_000 };

export class AgentGateway {
  readonly ingest: IngestStats = { reportsStored: 0, maxStoreLatencyMs: 0, totalStoreLatencyMs: 0 };
  readonly #sockets = new Map<string, AgentSocket>();
  readonly #namespace: AgentNamespace;
  #pending: Array<{ deviceId: string; report: AgentReport; ack: (res: Ack) => void; arrived: number }> = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #results: Array<{ deviceId: string; result: JobResult; ack: (res: Ack) => void }> = [];
  #resultTimer: NodeJS.Timeout | undefined;
  #storingResults: Promise<void> = Promise.resolve();
  /**
   * Devices that connected, stamped "last seen" together: one write per connection was a
   * transaction each, and in a reconnect storm thousands of them queued in the store ahead of
   * the devices' reports.
   */
  readonly #touched = new Set<string>();
  #touchTimer: NodeJS.Timeout | undefined;
  /** Jobs whose first step started (job:progress), marked running together. */
  #started: Array<{ id: string; deviceId: string }> = [];
  #startedTimer: NodeJS.Timeout | undefined;
  readonly #admission: Admission;
  /** Nonces of the device statements accepted lately (handshakes and blob requests). */
  readonly #replay = new ReplayGuard();
  /** Parsed device public keys, by PEM. */
  readonly #keys = new Map<string, KeyObject>();
  /** Device keys of concurrent handshakes, read in one query. */
  readonly #keyLookups: BatchedLookup<{ device: DeviceRecord; publicKey: string }>;

  constructor(
    io: Server,
    private readonly deps: {
      store: Store;
      log: Logger;
      now: () => Date;
      hooks: AgentGatewayHooks;
      keys: SigningKeys;
      handshakes?: HandshakeAdmission;
      jobTtlMs?: number;
    },
  ) {
    this.#namespace = io.of(AGENT_NAMESPACE) as unknown as AgentNamespace;
    this.#keyLookups = new BatchedLookup((ids) => deps.store.findDeviceKeys(ids));
    this.#admission = new Admission(deps.handshakes ?? DEFAULT_HANDSHAKE_ADMISSION);
    this.#namespace.use((socket, next) => {
      this.#admission.offer({
        start: () =>
          this.#authenticate(socket).then(
            () => {
              // The handshake lives as long as the socket: keep neither the enrollment token nor the
              // enrolling machine's facts in it (10,000 sockets' worth).
              socket.handshake.auth = {};
              next();
            },
            (error: unknown) => {
              const reason = (error as { reason?: string }).reason ?? 'invalid';
              this.deps.log.warn('agent refused', { reason, address: socket.handshake.address });
              next(Object.assign(new Error('auth.refused'), { data: { code: 'auth.refused', reason } }));
            },
          ),
        alive: () => socket.conn.readyState === 'open',
        refuse: (retryAfterMs) => {
          socket.handshake.auth = {};
          next(Object.assign(new Error('server.busy'), { data: { code: 'server.busy', retryAfterMs } }));
        },
      });
    });
    this.#namespace.on('connection', (socket) => this.#connected(socket));
  }

  /** Handshakes refused with server.busy since start (for /metrics and benchmarks). */
  get busyRefusals(): number {
    return this.#admission.refusals;
  }

  /** Starts a new measuring window of the ingest counters. */
  resetIngestStats(): void {
    Object.assign(this.ingest, { reportsStored: 0, maxStoreLatencyMs: 0, totalStoreLatencyMs: 0 });
  }

  get connectedCount(): number {
    return this.#sockets.size;
  }

  isOnline(deviceId: string): boolean {
    return this.#sockets.has(deviceId);
  }

  /**
   * Checks a blob download's `Authorization` (schemas/device-auth.ts): a statement for this blob,
   * signed by the device's key (a connected device's key is at hand; others are read from the
   * store), fresh and never used before. Resolves with the device id or the refusal.
   */
  async authenticateBlobRequest(header: string | undefined, sha256: string): Promise<{ ok: true; deviceId: string } | { ok: false; reason: BlobAuthRefusal }> {
    const parsed = parseBlobAuthorization(header);
    if (!parsed) return { ok: false, reason: 'missing' };
    let publicKey = this.#sockets.get(parsed.deviceId)?.data.publicKey;
    if (publicKey === undefined) {
      const found = await this.#keyLookups.get(parsed.deviceId);
      publicKey = found === undefined ? undefined : this.#publicKey(found.publicKey);
    }
    if (publicKey === undefined) return { ok: false, reason: 'unknown-device' };
    const verdict = checkBlobRequest(parsed.envelope, sha256, this.#statementCheck(parsed.deviceId, publicKey));
    return verdict.ok ? { ok: true, deviceId: parsed.deviceId } : { ok: false, reason: verdict.reason };
  }

  #statementCheck(deviceId: string, publicKey: KeyObject) {
    return {
      deviceId,
      publicKey,
      serverKeys: new Set(this.deps.keys.publicKeys().map((k) => k.keyid)),
      now: this.deps.now(),
      replay: this.#replay,
    };
  }

  /** A device public key from its PEM (parsed once); undefined when it is not an Ed25519 key. */
  #publicKey(pem: string): KeyObject | undefined {
    let key = this.#keys.get(pem);
    if (key === undefined) {
      try {
        key = publicKeyFromPem(pem);
      } catch {
        return undefined;
      }
      if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.clear();
      this.#keys.set(pem, key);
    }
    return key;
  }

  onlineDevices(): string[] {
    return [...this.#sockets.keys()];
  }

  async sendJob(job: Job, timeoutMs: number): Promise<DispatchOutcome> {
    return (await this.sendJobs([job], timeoutMs))[0]!.outcome;
  }

  /**
   * Seals each job for an online device (the device's next sequence, issued now, signed by every
   * valid key) and sends it; offline devices' jobs are not sealed (no sequence spent).
   */
  async sendJobs(jobs: readonly Job[], timeoutMs: number): Promise<DispatchResult[]> {
    // An enrolling socket is not online for jobs until the agent acked `enrolled` (it has no
    // session to take them before): `connected` dispatches what waits for it then.
    const online = jobs.filter((job) => {
      const socket = this.#sockets.get(job.deviceId);
      return socket !== undefined && !socket.data.pending && socket.data.enrolling !== true;
    });
    const sequences = online.length === 0 ? [] : await this.deps.store.nextJobSequences(online.map((j) => j.deviceId));
    const signers = online.length === 0 ? [] : this.deps.keys.signers();
    const issuedAt = this.deps.now();
    const ttlMs = this.deps.jobTtlMs ?? DEFAULT_JOB_TTL_MS;
    const sealed = new Map<Job, Envelope>();
    online.forEach((job, i) => sealed.set(job, sealJob(job, { sequence: sequences[i]!, issuedAt, ttlMs }, signers)));
    return Promise.all(
      jobs.map(async (job): Promise<DispatchResult> => {
        const envelope = sealed.get(job);
        const socket = this.#sockets.get(job.deviceId);
        if (envelope === undefined || !socket) return { outcome: 'offline' };
        let res: JobAck;
        try {
          res = await socket.timeout(timeoutMs).emitWithAck('job', envelope);
        } catch {
          return { outcome: 'timeout' };
        }
        if (isRecord(res) && res.ok === true) return { outcome: 'acked' };
        return this.#refused(job, res);
      }),
    );
  }

  async #refused(job: Job, res: unknown): Promise<DispatchResult> {
    const r = isRecord(res) ? res : {};
    const code = typeof r.code === 'string' ? r.code.slice(0, 64) : 'job.refused';
    const error = typeof r.error === 'string' ? r.error.slice(0, 300) : 'no reason given';
    // A trust refusal (bad or unknown signature, another device) means the agent and this server
    // disagree about keys or identity: an operator must look. Others (expired, replayed) are cured
    // by the fresh seal of the next dispatch.
    const trust = code === 'job.untrusted-key' || code === 'job.bad-signature' || code === 'job.unsigned' || code === 'job.wrong-device';
    this.deps.log[trust ? 'error' : 'warn']('agent refused a job', { device: job.deviceId, job: job.id, code, reason: error });
    if (code === 'job.replayed' && typeof r.highest === 'number') {
      await this.deps.store.raiseJobSequence(job.deviceId, r.highest).catch((e: unknown) => this.deps.log.warn('raising the job sequence failed', { device: job.deviceId, error: e }));
    }
    return { outcome: 'refused', code, error };
  }

  /**
   * Asks the device which of these jobs it holds (`jobs:held`). Undefined when it is offline, does
   * not answer in time or cannot say (an agent without the event, an unreadable journal): no
   * answer is never taken for `unknown`.
   */
  async askHeld(deviceId: string, jobs: ReadonlyArray<{ jobId: string; idempotencyKey: string }>, timeoutMs: number): Promise<Map<string, HeldJobState> | undefined> {
    const socket = this.#sockets.get(deviceId);
    if (!socket) return undefined;
    try {
      const res = await socket.timeout(timeoutMs).emitWithAck('jobs:held', { jobs: jobs.map(({ jobId, idempotencyKey }) => ({ jobId, idempotencyKey })) });
      if (!isRecord(res) || res.ok !== true || !Array.isArray(res.jobs)) return undefined;
      const asked = new Set(jobs.map((j) => j.jobId));
      const held = new Map<string, HeldJobState>();
      for (const entry of res.jobs as unknown[]) {
        if (!isRecord(entry) || typeof entry.jobId !== 'string' || !asked.has(entry.jobId)) continue;
        if (entry.state === 'running' || entry.state === 'finished' || entry.state === 'unknown') held.set(entry.jobId, entry.state);
      }
      return held;
    } catch {
      return undefined;
    }
  }

  cancel(deviceId: string, jobId: string): void {
    this.#sockets.get(deviceId)?.emit('job:cancel', { jobId });
  }

  /** Drops a device's connection (deleted device). */
  disconnect(deviceId: string): void {
    this.#sockets.get(deviceId)?.disconnect(true);
  }

  async close(): Promise<void> {
    this.#admission.close();
    const touched = this.#flushTouched();
    clearTimeout(this.#flushTimer);
    this.#flushStarted();
    await this.#flush();
    await this.#flushResults();
    await touched;
  }

  // ---- handshake ----

  async #authenticate(socket: AgentSocket): Promise<void> {
    const auth = socket.handshake.auth as Partial<Record<keyof AgentAuth | 'credential' | 'publicKey' | 'handshake' | 'enrollmentToken' | 'machineId' | 'facts' | 'deviceId', unknown>> & Record<string, unknown>;
    const refuse = (reason: string) => Object.assign(new Error(reason), { reason });
    if (typeof auth.challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(auth.challenge)) socket.data.challenge = auth.challenge;
    if (typeof auth.deviceId === 'string' && auth.handshake !== undefined) {
      if (auth.deviceId.length > MAX_ID) throw refuse('invalid');
      const deviceId = auth.deviceId;
      const found = await this.#keyLookups.get(deviceId);
      let device = found?.device;
      let publicKey = found === undefined ? undefined : this.#publicKey(found.publicKey);
      if (found === undefined) {
        // Enrolled before keys: the old credential, once, with the new key (checked below first).
        if (typeof auth.credential !== 'string' || typeof auth.publicKey !== 'string') throw refuse('unknown-device');
        if (auth.credential.length > MAX_ID || auth.publicKey.length > MAX_PUBLIC_KEY) throw refuse('invalid');
        publicKey = this.#publicKey(auth.publicKey);
        if (publicKey === undefined) throw refuse('invalid-key');
      }
      if (publicKey === undefined) throw refuse('invalid-key');
      const verdict = checkDeviceHandshake(auth.handshake, this.#statementCheck(deviceId, publicKey));
      if (!verdict.ok) throw refuse(verdict.reason);
      if (device === undefined) {
        device = await this.deps.store.registerDeviceKey(deviceId, hashSecret(auth.credential as string), auth.publicKey as string);
        if (device === undefined) throw refuse('bad-credential');
        this.deps.log.info('device registered its key; its credential is cleared', { device: deviceId });
      }
      socket.data.deviceId = device.id;
      socket.data.publicKey = publicKey;
      socket.data.pending = device.approval === 'pending';
      return;
    }
    if (typeof auth.deviceId === 'string' && typeof auth.credential === 'string') {
      // A bearer credential alone opens nothing any more: the agent must make a key.
      throw refuse('key-required');
    }
    if (typeof auth.enrollmentToken === 'string' && typeof auth.machineId === 'string') {
      const facts = auth.facts;
      if (auth.enrollmentToken.length > MAX_ID || auth.machineId.length > MAX_ID || !isRecord(facts)) {
        throw refuse('invalid');
      }
      if (typeof auth.publicKey !== 'string' || auth.publicKey.length > MAX_PUBLIC_KEY) throw refuse('key-required');
      const publicKey = this.#publicKey(auth.publicKey);
      if (publicKey === undefined) throw refuse('invalid-key');
      const now = this.deps.now().toISOString();
      // Only the secret part is checked: the key part (`.<hex>`) is for the agent to pin.
      const consumed = await this.deps.store.consumeEnrollmentToken(hashSecret(parseEnrollmentToken(auth.enrollmentToken).secret), now);
      if (!consumed.ok) throw refuse(`token-${consumed.reason}`);
      const token = consumed.token;
      const byFacts = this.deps.hooks.declaredDeviceFor(facts as Facts);
      const candidates = [token.boundDevice, byFacts, deviceIdFrom(facts as Facts, auth.machineId)];
      let enrolled;
      for (const id of candidates) {
        if (id === undefined) continue;
        const approval = this.#approval(id, facts as Facts, byFacts, token.boundDevice);
        try {
          enrolled = await this.deps.store.enrollDevice({
            id,
            machineId: auth.machineId,
            labels: token.labels,
            facts: facts as Facts,
            publicKey: auth.publicKey,
            now,
            ...(approval.approved ? {} : { pending: { claim: approval.claim } }),
          });
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== 'store.conflict') throw error;
        }
      }
      enrolled ??= await this.deps.store.enrollDevice({
        id: `dev-${randomUUID().slice(0, 8)}`,
        machineId: auth.machineId,
        labels: token.labels,
        facts: facts as Facts,
        publicKey: auth.publicKey,
        now,
      });
      this.deps.log.info(enrolled.approval === 'pending' ? 'device enrolled, pending approval' : 'device enrolled', {
        device: enrolled.id,
        tokenName: token.name,
        ...(enrolled.approval === 'pending' ? { claim: enrolled.approvalClaim } : {}),
      });
      socket.data.deviceId = enrolled.id;
      socket.data.pending = enrolled.approval === 'pending';
      socket.data.publicKey = publicKey;
      socket.data.enrollment = true;
      return;
    }
    throw refuse('missing-credentials');
  }

  /** The approval rule (core/enrollment-approval.ts) for an enrollment landing on `deviceId`. */
  #approval(deviceId: string, facts: Facts, byFacts: string | undefined, boundDevice: string | undefined) {
    const declaredBy = this.deps.hooks.declaredClaim ? this.deps.hooks.declaredClaim(deviceId, facts) : deviceId === byFacts ? 'mac' : undefined;
    return enrollmentApproval({ deviceId, declaredBy, boundDevice, autoApprove: this.deps.hooks.autoApprove?.() });
  }

  /**
   * An operator approved the device: a connection waiting for that is let in now (its jobs go
   * out); false when it is not connected (it is let in at its next connection).
   */
  approved(deviceId: string): boolean {
    const socket = this.#sockets.get(deviceId);
    if (!socket?.data.pending) return false;
    socket.data.pending = false;
    this.deps.hooks.connected(deviceId);
    return true;
  }

  /** Whether the device's connection waits for approval. */
  isPending(deviceId: string): boolean {
    return this.#sockets.get(deviceId)?.data.pending === true;
  }

  // ---- connection ----

  #connected(socket: AgentSocket): void {
    const deviceId = socket.data.deviceId;
    const previous = this.#sockets.get(deviceId);
    if (previous && previous.id !== socket.id) previous.disconnect(true);
    this.#sockets.set(deviceId, socket);
    this.deps.log.info('agent connected', { device: deviceId });
    this.#hello(socket);

    socket.on('report', (report, ack) => {
      if (typeof ack !== 'function') return;
      // Waiting for approval: acknowledged (the agent keeps nothing to resend) and not stored.
      if (socket.data.pending) {
        ack({ ok: true });
        return;
      }
      // Bounds first: nothing below may walk or serialise a payload nested 20,000 deep.
      const refusal = checkPayload(report);
      if (refusal) {
        this.deps.log.warn('report refused', { device: deviceId, code: refusal.code });
        ack({ ok: false, ...refusal });
        return;
      }
      const problem = reportProblem(report);
      if (problem) {
        ack({ ok: false, error: problem, code: 'report.invalid' });
        return;
      }
      this.#pending.push({ deviceId, report, ack, arrived: performance.now() });
      if (this.#pending.length >= 500) void this.#flush();
      else this.#flushTimer ??= setTimeout(() => void this.#flush(), 20);
    });

    socket.on('job:progress', (progress) => {
      if (socket.data.pending) return;
      if (!isRecord(progress) || typeof progress.jobId !== 'string') return;
      if (progress.stepIndex === 0 && progress.status === 'running' && progress.jobId.length <= MAX_ID) {
        this.#started.push({ id: progress.jobId, deviceId });
        if (this.#started.length >= 500) this.#flushStarted();
        else this.#startedTimer ??= setTimeout(() => this.#flushStarted(), 20);
      }
    });

    socket.on('job:result', (result, ack) => {
      if (typeof ack !== 'function') return;
      if (socket.data.pending) {
        ack({ ok: false, error: 'this device waits for approval', code: 'result.unknown-job' });
        return;
      }
      const refusal = checkPayload(result);
      if (refusal) {
        this.deps.log.warn('job result refused', { device: deviceId, code: refusal.code });
        ack({ ok: false, ...refusal });
        return;
      }
      if (
        !isRecord(result) ||
        typeof result.jobId !== 'string' ||
        typeof result.idempotencyKey !== 'string' ||
        !Array.isArray(result.steps) ||
        observationOrder(result) === 'invalid'
      ) {
        ack({ ok: false, error: 'malformed result', code: 'result.invalid' });
        return;
      }
      this.#results.push({ deviceId, result, ack });
      if (this.#results.length >= 500) void this.#flushResults();
      else this.#resultTimer ??= setTimeout(() => void this.#flushResults(), 20);
    });

    socket.on('disconnect', () => {
      if (this.#sockets.get(deviceId) === socket) {
        this.#sockets.delete(deviceId);
        this.deps.log.info('agent disconnected', { device: deviceId });
        this.deps.hooks.disconnected(deviceId);
      }
    });

    if (socket.data.enrollment) {
      delete socket.data.enrollment;
      socket.data.enrolling = true;
      socket
        .timeout(30_000)
        .emitWithAck('enrolled', { deviceId })
        .then(
          () => {
            delete socket.data.enrolling;
            if (!socket.data.pending) this.deps.hooks.connected(deviceId);
          },
          () => this.deps.log.warn('enrollment not acknowledged', { device: deviceId }),
        );
    } else if (!socket.data.pending) {
      this.deps.hooks.connected(deviceId);
    } else {
      this.deps.log.info('agent connected, pending approval', { device: deviceId });
    }
    this.#touched.add(deviceId);
    if (this.#touched.size >= 500) void this.#flushTouched();
    else this.#touchTimer ??= setTimeout(() => void this.#flushTouched(), 100);
  }

  /** "Last seen" of the devices that connected lately, in one write. */
  #flushTouched(): Promise<void> {
    clearTimeout(this.#touchTimer);
    this.#touchTimer = undefined;
    if (this.#touched.size === 0) return Promise.resolve();
    const ids = [...this.#touched];
    this.#touched.clear();
    return this.deps.store.touchDevices(ids, this.deps.now().toISOString()).catch((error: unknown) => this.deps.log.warn('last seen not recorded', { count: ids.length, error }));
  }

  /**
   * `server:hello`: the agent's challenge, the device (unless enrolling) and the valid public
   * keys, signed by each of them. An agent without a challenge (older) still gets one, with an
   * empty challenge, which it can only check as a key list.
   */
  #hello(socket: AgentSocket): void {
    const payload: ServerHelloPayload = {
      challenge: socket.data.challenge ?? '',
      ...(socket.data.enrollment ? {} : { deviceId: socket.data.deviceId }),
      keys: this.deps.keys.publicKeys(),
      issuedAt: this.deps.now().toISOString(),
    };
    delete socket.data.challenge;
    socket.emit('server:hello', signEnvelope(SERVER_HELLO_PAYLOAD_TYPE, payload, this.deps.keys.signers()));
  }

  /**
   * Stores a burst of results in one batch. A result for a job of another device is refused; a
   * second delivery of one result is acknowledged and not recorded again.
   */
  #flushResults(): Promise<void> {
    clearTimeout(this.#resultTimer);
    this.#resultTimer = undefined;
    const batch = this.#results;
    this.#results = [];
    if (batch.length === 0) return this.#storingResults;
    this.#storingResults = this.#storingResults.then(async () => {
      try {
        const jobs = await this.deps.store.getJobsMany([...new Set(batch.map((b) => b.result.jobId))]);
        const mine = batch.filter((b) => {
          const ok = jobs.get(b.result.jobId)?.deviceId === b.deviceId;
          if (!ok) b.ack({ ok: false, error: 'unknown job', code: 'result.unknown-job' });
          return ok;
        });
        const outcomes = await this.deps.store.recordJobResults(
          mine.map((b) => b.result),
          this.deps.now().toISOString(),
        );
        const recorded: Array<{ deviceId: string; result: JobResult; job: JobRecord }> = [];
        mine.forEach((b, i) => {
          const outcome = outcomes[i]?.outcome;
          if (outcome === 'recorded') recorded.push({ deviceId: b.deviceId, result: b.result, job: jobs.get(b.result.jobId)! });
          if (outcome === 'recorded' || outcome === 'duplicate') b.ack({ ok: true });
          else b.ack({ ok: false, error: `result ${outcome ?? 'not stored'}`, code: outcome === 'invalid' ? 'result.invalid' : 'result.unknown-job' });
        });
        if (recorded.length > 0) await this.deps.hooks.resulted(recorded);
      } catch (error) {
        this.deps.log.error('storing job results failed', { count: batch.length, error });
        for (const b of batch) b.ack({ ok: false, error: 'not stored, send again', code: 'result.retry' });
      }
    });
    return this.#storingResults;
  }

  /**
   * Marks a burst of started jobs running in one statement, each only if it is the reporting
   * device's. Best effort: the job's result, which follows, is what counts.
   */
  #flushStarted(): void {
    clearTimeout(this.#startedTimer);
    this.#startedTimer = undefined;
    const batch = this.#started;
    this.#started = [];
    if (batch.length === 0) return;
    this.deps.store.markRunningMany(batch, this.deps.now().toISOString()).catch((error: unknown) => {
      this.deps.log.warn('marking jobs running failed', { count: batch.length, error });
    });
  }

  #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      const receivedAt = this.deps.now().toISOString();
      try {
        const saved = await this.deps.store.saveReports(batch.map((b) => ({ deviceId: b.deviceId, report: b.report, receivedAt })));
        const stored = performance.now();
        for (const b of batch) {
          b.ack({ ok: true });
          const waited = stored - b.arrived;
          this.ingest.reportsStored++;
          this.ingest.totalStoreLatencyMs += waited;
          if (waited > this.ingest.maxStoreLatencyMs) this.ingest.maxStoreLatencyMs = waited;
        }
        const skipped = new Set(saved.skipped);
        const changed = new Set(saved.observedChanged);
        const latest = new Map<string, StoredReport>();
        for (const b of batch) {
          if (!skipped.has(b.deviceId)) latest.set(b.deviceId, { deviceId: b.deviceId, facts: b.report.facts, observedChanged: changed.has(b.deviceId) });
        }
        this.deps.hooks.reported([...latest.values()]);
      } catch (error) {
        this.deps.log.error('storing reports failed', { count: batch.length, error });
        for (const b of batch) b.ack({ ok: false, error: 'not stored, send again', code: 'report.retry' });
      }
    });
    return this.#flushing;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function reportProblem(report: unknown): string | undefined {
  if (!isRecord(report)) return 'report must be an object';
  if (!isRecord(report.facts)) return 'report.facts must be an object';
  if (!Array.isArray(report.observed)) return 'report.observed must be a list';
  if (report.observed.length > MAX_OBSERVED) return `report.observed has more than ${MAX_OBSERVED} entries`;
  for (const o of report.observed) {
    if (!isRecord(o) || typeof o.key !== 'string' || !['package', 'file', 'script'].includes(o.type as string)) {
      return 'report.observed entries need a key and a type';
    }
  }
  if (typeof report.agentVersion !== 'string') return 'report.agentVersion must be a string';
  if (report.revision !== undefined && typeof report.revision !== 'string') return 'report.revision must be a string';
  if (observationOrder(report) === 'invalid') return 'report.epoch must be a non-empty string and report.seq a non-negative integer, both or neither';
  return undefined;
}

/** A readable device id from the hostname, falling back to the machine id. */
function deviceIdFrom(facts: Facts, machineId: string): string {
  const base = (facts.hostname ?? '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50);
  return base || `dev-${hashSecret(machineId).slice(0, 8)}`;
}
