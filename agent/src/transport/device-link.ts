// The agent side of the protocol (schemas/protocol.ts), over a Connection. The real agent and
// every simulated device run this same code; only the ports differ (disk vs memory, real vs
// in-memory executors).
//
// On every session, in this order:
//   1. re-send every spooled result (`job:result`, acked within ackTimeoutMs; ack → journal.ack);
//   2. resume jobs the journal shows started but never finished (the agent died mid-job): the
//      executors observe first, so a re-run is safe;
//   3. send a `report` (facts, observed inventory, agent version, last revision), acked; then a
//      report every heartbeatMs (±10 % jitter), which also retries one that was not acked.
//
// `job` (acked within the server's timeout) is a signed envelope (schemas/job-envelope.ts),
// verified BEFORE anything else (core/verify-server.ts verifyJob: signed by a trusted server key,
// for this device, not expired, sequence above the highest accepted); the new high-water mark is
// stored durably before the job is journalled or run. A refused job is acked
// `{ok: false, code, error}` (`job.unsigned`, `job.wrong-type`, `job.untrusted-key`,
// `job.bad-signature`, `job.invalid`, `job.wrong-device`, `job.expired`, `job.replayed` with
// `highest`) and logged; nothing of it runs and none of its blobs is fetched. A sequence not above
// the mark is let through only as a redelivery of a job this agent holds (running, journalled or
// finished: same idempotencyKey), which is acked and never run twice.
//   - journal.begin(job) first: the job is durable before the ack, so an acked job survives a
//     crash; then ack `{ok: true}` at once and run it in the background (one job at a time);
//   - a redelivered job (same idempotencyKey) is acked and never run twice: completed → its
//     stored result is sent again; still running → the running instance carries on;
//   - `job:progress` per step (best effort: only while connected);
//   - the result is spooled by the job handler BEFORE it is sent, sent with an ack, removed from
//     the pending set on `{ok: true}` and otherwise re-sent with backoff (1 s → 60 s) and on every
//     reconnect — a result is never dropped; then a fresh report. Only a refusal no re-send can
//     cure (FINAL_RESULT_REFUSALS: `result.unknown-job`, `result.invalid`, `payload.*`) ends
//     the re-sending.
//   - refused with `{ok: false, code}`: the `job.*` codes above, `agent.stopping` (shutting
//     down), `state.write-failed` (could not store the mark or journal the job).
// `job:cancel` aborts the job if it is queued or running here (it ends `cancelled`).
// `jobs:held` (asked on every connection, and about a job silent too long) is answered from
//   what this process runs and what the journal holds: `running` (queued, running, or started
//   and to be resumed), `finished` (result spooled, not yet acknowledged), else `unknown` — a
//   wiped state dir knows nothing, and the server requeues what it does not hold.
import type { Facts } from '../../../schemas/facts.ts';
import type {
  Ack,
  AgentReport,
  JobAck,
  HeldJobsAnswer,
  HeldJobsQuery,
  HeldJobState,
  Job,
  JobFinalState,
  JobProgress,
  JobResult,
  ObservedResource,
} from '../../../schemas/protocol.ts';
import { createJobHandler, type InventoryRecorder, type JobHandler, type JobJournal } from '../core/handle-job.ts';
import { describeError } from '../errors.ts';
import type { ExecContext, Executors } from '../executors/index.ts';
import type { Credentials } from '../state/credentials.ts';
import type { ObservationSource } from '../state/observation-sequence.ts';
import { Backoff, REPORT_BACKOFF, RESULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { type Clock, type ClockTimer } from './clock.ts';
import {
  Connection,
  type ConnectionEvent,
  type CredentialStore,
  type EnrollmentSource,
  type Session,
} from './connection.ts';
import { SecretSet, type Logger } from '../../../schemas/log.ts';
import type { ServerTrust } from './server-trust.ts';

/** The job journal and result spool (state/spool.ts Spool, or the simulator's memory one). */
export interface ResultJournal extends JobJournal {
  /** Results not yet acknowledged by the server, oldest first. */
  pending(): Promise<JobResult[]>;
  /** The stored result of a completed job with this key (acknowledged or not), if any. */
  seen(idempotencyKey: string): Promise<JobResult | undefined>;
  ack(jobId: string): Promise<boolean>;
  /** Jobs started and never finished. */
  inFlight(): Promise<Job[]>;
}

export type LinkEvent =
  | ConnectionEvent
  | { type: 'session'; deviceId: string }
  | { type: 'job'; jobId: string; idempotencyKey: string; redelivered: boolean }
  | { type: 'job-finished'; jobId: string; idempotencyKey: string; status: JobFinalState }
  | { type: 'result-acked'; jobId: string; idempotencyKey: string; status: JobFinalState }
  | { type: 'result-rejected'; jobId: string; idempotencyKey: string; code: string }
  | { type: 'report-acked' }
  /** A report was refused, or its acknowledgement did not come within the ack timeout. */
  | { type: 'report-unacked'; reason: 'refused' | 'timeout' }
  | { type: 'job-refused'; code: string };

/**
 * `job:result` refusals that no re-send can cure: the server does not know the job (or it is
 * another device's), or the result is malformed, too large or nested too deep (the same bytes
 * would be refused again, and would hold back every result spooled after them). Any other
 * `{ok: false}` (`result.retry`, …) and a missing ack are retried until acknowledged.
 */
export const FINAL_RESULT_REFUSALS: ReadonlySet<string> = new Set([
  'result.unknown-job',
  'result.invalid',
  'payload.too-large',
  'payload.too-deep',
]);

export interface DeviceLinkOptions {
  server: string;
  credentials: CredentialStore;
  enrollment: EnrollmentSource;
  /** Server keys trusted and the job high-water mark (verification before anything runs). */
  trust: ServerTrust;
  /** Default 5 s (Connection). */
  helloTimeoutMs?: number;
  journal: ResultJournal;
  inventory: InventoryRecorder;
  executors: Executors;
  /** The executor context of one job run. */
  context: (signal: AbortSignal, job: Job) => ExecContext;
  /** Facts and observed resources, gathered now, for a report. */
  observe: () => Promise<{ facts: Facts; observed: ObservedResource[] }>;
  /**
   * Stamps reports and results with the order of their observation (ObservationOrder): a report
   * before it gathers, a result after the job's last observation. Unstamped when absent.
   */
  sequence?: ObservationSource;
  agentVersion: string;
  /** Revision of the last job completed before this process started. */
  revision?: string;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Default 30 s. */
  heartbeatMs?: number;
  /** Ack wait of `report` and `job:result`. Default 10 s. */
  ackTimeoutMs?: number;
  jobTimeoutMs?: number;
  backoff?: BackoffPolicy;
  refusedBackoff?: BackoffPolicy;
  resultBackoff?: BackoffPolicy;
  connectTimeoutMs?: number;
  enrollTimeoutMs?: number;
  stableSessionMs?: number;
  /** PEM CA certificates trusted for an https:// server instead of the system's (`--ca`). */
  ca?: string;
  secrets?: SecretSet;
  onEvent?: (event: LinkEvent) => void;
}

export interface StopOptions {
  /** How long a running job may take to finish before it is cancelled. Default 30 s. */
  graceMs?: number;
  /** How long to try to deliver spooled results before closing. Default 5 s. */
  flushMs?: number;
}

export class DeviceLink {
  readonly connection: Connection;
  private readonly handler: JobHandler;
  private session: Session | undefined;
  private stopping = false;
  private revision: string | undefined;
  private readonly active = new Map<string, { jobId: string; done: Promise<void> }>();
  /** Journal writes of jobs being accepted, by idempotencyKey. */
  private readonly accepting = new Map<string, Promise<unknown>>();
  private heartbeatTimer: ClockTimer | undefined;
  private resultTimer: ClockTimer | undefined;
  private readonly resultBackoff: Backoff;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private reporting: Promise<void> | undefined;
  private reportAgain = false;
  /** The last report was not acknowledged: the next one goes after REPORT_BACKOFF, not a heartbeat. */
  private reportUnacked = false;
  private readonly reportRetry: Backoff;
  private readonly logger: Logger;

  constructor(private readonly options: DeviceLinkOptions) {
    this.logger = options.logger;
    this.revision = options.revision;
    this.resultBackoff = new Backoff(options.resultBackoff ?? RESULT_BACKOFF, options.random);
    this.reportRetry = new Backoff(REPORT_BACKOFF, options.random);
    this.handler = createJobHandler({
      journal: options.journal,
      inventory: options.inventory,
      executors: options.executors,
      context: options.context,
      onProgress: (progress) => this.sendProgress(progress),
      ...(options.jobTimeoutMs === undefined ? {} : { jobTimeoutMs: options.jobTimeoutMs }),
      ...(options.sequence === undefined ? {} : { stamp: () => options.sequence!.next() }),
    });
    this.connection = new Connection({
      server: options.server,
      credentials: options.credentials,
      enrollment: options.enrollment,
      trust: options.trust,
      onSession: (session) => this.onSession(session),
      onEvent: (event) => this.emit(event),
      logger: options.logger,
      clock: options.clock,
      ...pick(options, ['helloTimeoutMs', 'random', 'backoff', 'refusedBackoff', 'connectTimeoutMs', 'enrollTimeoutMs', 'stableSessionMs', 'secrets', 'ca']),
    });
  }

  /** Runs until stop(); rejects like Connection.run() (`transport.refused`, `transport.not-enrolled`). */
  run(): Promise<void> {
    return this.connection.run();
  }

  get identity(): Credentials | undefined {
    return this.connection.identity;
  }

  get connected(): boolean {
    return this.session !== undefined && this.session.socket.connected;
  }

  /** Jobs queued or running here. */
  get runningJobs(): number {
    return this.active.size;
  }

  /**
   * Graceful stop: refuse new jobs, let running ones finish (cancel them after graceMs — their
   * `cancelled` result is spooled), try to deliver spooled results, close the socket.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const { clock } = this.options;
    if (!this.stopping) {
      this.stopping = true;
      const running = [...this.active.values()];
      if (running.length > 0) {
        this.logger.info('stopping: waiting for running jobs', { jobs: running.map((r) => r.jobId) });
        const finished = await withTimeout(clock, Promise.all(running.map((r) => r.done)), options.graceMs ?? 30_000);
        if (!finished) {
          for (const entry of this.active.values()) this.handler.cancel(entry.jobId);
          this.logger.warn('stopping: cancelled running jobs', { jobs: [...this.active.values()].map((r) => r.jobId) });
          await withTimeout(clock, Promise.all([...this.active.values()].map((r) => r.done)), 15_000);
        }
      }
      if (this.connected) await withTimeout(clock, this.flushResults(), options.flushMs ?? 5_000);
    }
    this.clearTimers();
    await this.connection.stop();
  }

  // ---- session ----

  private onSession(session: Session): void {
    this.session = session;
    const { socket } = session;
    this.resultBackoff.reset();
    socket.on('job', (envelope: unknown, ack: (res: JobAck) => void) => void this.onJob(session, envelope, ack));
    socket.on('job:cancel', (payload: { jobId: string }) => this.onCancel(payload));
    socket.on('jobs:held', (query: HeldJobsQuery, ack: (res: HeldJobsAnswer) => void) => void this.onHeldQuery(query, ack));
    void session.closed.then(() => {
      if (this.session === session) this.session = undefined;
      this.clearHeartbeat();
    });
    this.emit({ type: 'session', deviceId: session.identity.deviceId });
    void this.beginSession(session);
  }

  private async beginSession(session: Session): Promise<void> {
    await this.flushResults();
    if (this.session !== session) return;
    try {
      for (const job of await this.options.journal.inFlight()) {
        if (this.stopping) break;
        if (this.active.has(job.idempotencyKey)) continue;
        this.logger.info('resuming interrupted job', { jobId: job.id, idempotencyKey: job.idempotencyKey });
        this.runJob(job);
      }
    } catch (error) {
      this.logger.error('cannot read the job journal', { error: describeError(error) });
    }
    await this.sendReport();
    this.scheduleHeartbeat(session);
  }

  private scheduleHeartbeat(session: Session): void {
    this.clearHeartbeat();
    if (this.session !== session || this.stopping) return;
    const base = this.options.heartbeatMs ?? 30_000;
    const random = this.options.random ?? Math.random;
    // A report the server did not acknowledge (busy, restarting) goes again soon, with backoff:
    // the server must not plan from a state older than the device's for a whole heartbeat.
    const retry = this.reportUnacked ? this.reportRetry.next() : undefined;
    if (!this.reportUnacked) this.reportRetry.reset();
    const delay = Math.min(retry ?? Number.POSITIVE_INFINITY, Math.round(base * (0.9 + 0.2 * random())));
    this.heartbeatTimer = this.options.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      void this.sendReport().finally(() => this.scheduleHeartbeat(session));
    }, delay);
  }

  private clearHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) this.options.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private clearTimers(): void {
    this.clearHeartbeat();
    if (this.resultTimer !== undefined) this.options.clock.clearTimeout(this.resultTimer);
    this.resultTimer = undefined;
  }

  // ---- jobs ----

  private async onJob(session: Session, envelope: unknown, ack: (res: JobAck) => void): Promise<void> {
    const reply = (res: JobAck): void => {
      try {
        if (typeof ack === 'function') ack(res);
      } catch {
        // Socket gone: the server times the dispatch out and redelivers.
      }
    };
    if (this.stopping) {
      reply({ ok: false, error: 'the agent is stopping', code: 'agent.stopping' });
      return;
    }
    const deviceId = session.identity.deviceId;
    const verdict = await this.options.trust.verifyAndAdvance(envelope, deviceId, () => this.options.clock.now(), (held) => this.holds(held.idempotencyKey));
    if (!verdict.ok) {
      this.logger.warn('job refused', { code: verdict.code, reason: verdict.error });
      reply(
        verdict.code === 'job.replayed' && 'highest' in verdict && typeof verdict.highest === 'number'
          ? { ok: false, error: verdict.error, code: 'job.replayed', highest: verdict.highest }
          : { ok: false, error: verdict.error, code: verdict.code },
      );
      this.emit({ type: 'job-refused', code: verdict.code });
      return;
    }
    const job = verdict.job;
    const key = job.idempotencyKey;
    // Two deliveries of one job can overlap (a redispatch racing the first ack): the second
    // waits for the first one's journal write and then finds it running.
    // (No await before accepting.set below unless there is something to wait for.)
    const accepting = this.accepting.get(key);
    if (accepting) await accepting.catch(() => undefined);
    if (this.active.has(key)) {
      reply({ ok: true });
      this.emit({ type: 'job', jobId: job.id, idempotencyKey: key, redelivered: true });
      this.logger.info('job redelivered while pending here', { jobId: job.id, idempotencyKey: key });
      return;
    }
    let begun;
    try {
      const beginning = this.options.journal.begin(job);
      this.accepting.set(key, beginning);
      begun = await beginning.finally(() => this.accepting.delete(key));
    } catch (error) {
      this.logger.error('cannot journal the job', { jobId: job.id, error: describeError(error) });
      reply({ ok: false, error: 'the agent could not record the job', code: 'state.write-failed' });
      return;
    }
    reply({ ok: true });
    const redelivered = begun.state !== 'new';
    this.emit({ type: 'job', jobId: job.id, idempotencyKey: job.idempotencyKey, redelivered });
    if (begun.state === 'completed') {
      this.logger.info('job redelivered: sending its stored result again', { jobId: job.id, idempotencyKey: job.idempotencyKey });
      await this.sendResult(begun.result);
      return;
    }
    this.logger.info(redelivered ? 'job redelivered while pending here' : 'job received', {
      jobId: job.id,
      idempotencyKey: job.idempotencyKey,
      revision: job.revision,
      steps: job.steps.length,
    });
    this.runJob(job);
  }

  /** Whether this agent holds the job with this key: queued, running, journalled or finished. */
  private async holds(idempotencyKey: string): Promise<boolean> {
    if (this.active.has(idempotencyKey) || this.accepting.has(idempotencyKey)) return true;
    try {
      if ((await this.options.journal.seen(idempotencyKey)) !== undefined) return true;
      return (await this.options.journal.inFlight()).some((j) => j.idempotencyKey === idempotencyKey);
    } catch {
      return false;
    }
  }

  private runJob(job: Job): void {
    if (this.active.has(job.idempotencyKey)) return;
    const key = job.idempotencyKey;
    const done = this.handler
      .handle(job)
      // Not "active" once its result is spooled: a redelivery from here on gets the stored result.
      .finally(() => this.active.delete(key))
      .then(async ({ result, replayed }) => {
        this.revision = job.revision;
        this.logger.info('job finished', {
          jobId: job.id,
          status: result.status,
          replayed,
          steps: result.steps.map((s) => s.status),
        });
        this.emit({ type: 'job-finished', jobId: job.id, idempotencyKey: job.idempotencyKey, status: result.status });
        await this.flushResults();
        await this.sendReport();
      })
      .catch((error: unknown) => {
        // The job stays "started" in the journal: it is resumed on the next session.
        this.logger.error('job could not be recorded', { jobId: job.id, error: describeError(error) });
      });
    this.active.set(key, { jobId: job.id, done });
  }

  private onCancel(payload: { jobId: string }): void {
    const jobId = typeof payload === 'object' && payload !== null ? payload.jobId : undefined;
    if (typeof jobId !== 'string') return;
    const found = this.handler.cancel(jobId);
    this.logger.info(found ? 'job cancelled' : 'cancel for a job not running here', { jobId });
  }

  private async onHeldQuery(query: HeldJobsQuery, ack: (res: HeldJobsAnswer) => void): Promise<void> {
    if (typeof ack !== 'function') return;
    const asked = isRecord(query) && Array.isArray(query.jobs) ? query.jobs.filter((j) => isRecord(j) && typeof j.jobId === 'string' && typeof j.idempotencyKey === 'string') : undefined;
    if (asked === undefined) {
      ack({ ok: false, error: 'jobs:held needs a list of {jobId, idempotencyKey}', code: 'held.invalid' });
      return;
    }
    let answer: HeldJobsAnswer;
    try {
      const [pending, inFlight] = await Promise.all([this.options.journal.pending(), this.options.journal.inFlight()]);
      const finished = new Set(pending.map((r) => r.idempotencyKey));
      const started = new Set(inFlight.map((j) => j.idempotencyKey));
      const stateOf = (key: string): HeldJobState =>
        this.active.has(key) || this.accepting.has(key) || started.has(key) ? 'running' : finished.has(key) ? 'finished' : 'unknown';
      answer = { ok: true, jobs: asked.map((j) => ({ jobId: j.jobId, state: stateOf(j.idempotencyKey) })) };
    } catch (error) {
      // Never answer `unknown` for a journal that cannot be read: the server would requeue.
      this.logger.error('cannot read the job journal to say which jobs are held', { error: describeError(error) });
      answer = { ok: false, error: 'the agent could not read its job journal', code: 'state.read-failed' };
    }
    try {
      ack(answer);
    } catch {
      // Socket gone: the server asks again on the next connection.
    }
  }

  private sendProgress(progress: JobProgress): void {
    const socket = this.session?.socket;
    if (socket?.connected) socket.emit('job:progress', progress);
  }

  // ---- results ----

  /** Sends every pending result, oldest first; one flush at a time, re-run if asked meanwhile. */
  flushResults(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      try {
        do {
          this.flushAgain = false;
          // A failed pass ends the flush unless someone asked again meanwhile (a new session).
          if (!(await this.flushOnce()) && !this.flushAgain) return;
        } while (this.flushAgain);
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  /** False when a result could not be delivered (a retry is scheduled). */
  private async flushOnce(): Promise<boolean> {
    let pending: JobResult[];
    try {
      pending = await this.options.journal.pending();
    } catch (error) {
      this.logger.error('cannot read the result spool', { error: describeError(error) });
      this.scheduleResultRetry();
      return false;
    }
    for (const result of pending) {
      if (!(await this.deliver(result))) {
        this.scheduleResultRetry();
        return false;
      }
    }
    this.resultBackoff.reset();
    return true;
  }

  /** A result asked for again (redelivered job): sent once more; the spool owns any retry. */
  private async sendResult(result: JobResult): Promise<void> {
    if (!(await this.deliver(result))) this.scheduleResultRetry();
  }

  private async deliver(result: JobResult): Promise<boolean> {
    const socket = this.session?.socket;
    if (!socket?.connected) return false;
    let ack: Ack | undefined;
    try {
      ack = await socket.timeout(this.options.ackTimeoutMs ?? 10_000).emitWithAck('job:result', result);
    } catch {
      this.logger.warn('result not acknowledged in time', { jobId: result.jobId, idempotencyKey: result.idempotencyKey });
      return false;
    }
    if (ack?.ok !== true) {
      const refusal = ack && ack.ok === false ? ack : undefined;
      if (refusal?.code !== undefined && FINAL_RESULT_REFUSALS.has(refusal.code)) {
        // Re-sending cannot help: the server will never accept it. It leaves the pending set
        // (the journal keeps it for replay detection) instead of blocking the spool forever.
        this.logger.error('result rejected for good by the server; no longer re-sent', {
          jobId: result.jobId,
          idempotencyKey: result.idempotencyKey,
          code: refusal.code,
          reason: refusal.error,
        });
        await this.options.journal.ack(result.jobId).catch(() => false);
        this.emit({ type: 'result-rejected', jobId: result.jobId, idempotencyKey: result.idempotencyKey, code: refusal.code });
        return true;
      }
      this.logger.warn('result refused by the server; will retry', {
        jobId: result.jobId,
        code: refusal?.code,
        reason: refusal?.error,
      });
      return false;
    }
    try {
      await this.options.journal.ack(result.jobId);
    } catch (error) {
      // The server has it; a later re-send is recorded once there by idempotencyKey.
      this.logger.error('cannot mark the result delivered', { jobId: result.jobId, error: describeError(error) });
    }
    this.logger.info('result delivered', { jobId: result.jobId, status: result.status });
    this.emit({ type: 'result-acked', jobId: result.jobId, idempotencyKey: result.idempotencyKey, status: result.status });
    return true;
  }

  private scheduleResultRetry(): void {
    if (this.resultTimer !== undefined || this.stopping) return;
    if (!this.connected) return; // the next session flushes first thing
    const delay = this.resultBackoff.next();
    this.resultTimer = this.options.clock.setTimeout(() => {
      this.resultTimer = undefined;
      void this.flushResults();
    }, delay);
  }

  // ---- reports ----

  /** Sends a fresh report; a call while one is in flight sends one more after it. */
  sendReport(): Promise<void> {
    if (this.reporting) {
      this.reportAgain = true;
      return this.reporting;
    }
    this.reporting = (async () => {
      try {
        do {
          this.reportAgain = false;
          await this.reportOnce();
        } while (this.reportAgain && this.connected);
      } finally {
        this.reporting = undefined;
      }
    })();
    return this.reporting;
  }

  private async reportOnce(): Promise<void> {
    const socket = this.session?.socket;
    if (!socket?.connected) return;
    let report: AgentReport;
    try {
      // Stamped before gathering: a job result observed meanwhile gets a larger seq and wins.
      const order = await this.options.sequence?.next();
      const { facts, observed } = await this.options.observe();
      report = {
        agentVersion: this.options.agentVersion,
        facts,
        observed,
        ...(this.revision === undefined ? {} : { revision: this.revision }),
        sentAt: this.options.clock.now().toISOString(),
        ...order,
      };
    } catch (error) {
      this.logger.error('cannot gather the report', { error: describeError(error) });
      return;
    }
    try {
      const ack = await socket.timeout(this.options.ackTimeoutMs ?? 10_000).emitWithAck('report', report);
      if (ack?.ok === true) {
        this.reportUnacked = false;
        this.logger.debug('report delivered', { observed: report.observed.length });
        this.emit({ type: 'report-acked' });
      } else {
        this.reportUnacked = true;
        this.logger.warn('report refused; another is sent after a backoff', {
          code: ack && ack.ok === false ? ack.code : undefined,
        });
        this.emit({ type: 'report-unacked', reason: 'refused' });
      }
    } catch {
      this.reportUnacked = true;
      this.logger.warn('report not acknowledged in time; another is sent after a backoff');
      this.emit({ type: 'report-unacked', reason: 'timeout' });
    }
  }

  private emit(event: LinkEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // Observers must not break the agent.
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `promise` settled within `ms`. */
async function withTimeout(clock: Clock, promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ClockTimer | undefined;
  const timeout = new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

