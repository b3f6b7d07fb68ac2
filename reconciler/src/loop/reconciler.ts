// The reconcile loop (level-triggered). Triggers only add keys to one de-duplicating queue:
//   `source`       fetch the branch; validate a new commit; accept it or reject it
//   `device:<id>`  compile the device at the accepted revision, plan against its last report and
//                  the inventory, and create or (re)dispatch its job
// Every pass recomputes from desired + observed; a lost trigger costs latency, never correctness.
//
// Rollouts (rollouts.ts): when an accepted revision replaces the one served before, the devices
// whose desired state changed are put into rollouts (core/rollout/membership.ts) BEFORE the new
// revision is served, so no device pass sees the change ungated. A device a rollout owes a job
// gets one only when the rollout's scheduler has started it; a job it gets that way carries the
// rollout's id, its result drives the rollout, and the rollout's retries replace the loop's own
// backoff. Devices no rollout holds, and jobs that only correct drift, go out at once.
import { recordAudit, SYSTEM_ACTOR } from '../actions/audit.ts';
import { randomUUID } from 'node:crypto';
import type { Facts } from '../../../schemas/facts.ts';
import type { Job, JobResult } from '../../../schemas/protocol.ts';
import { isStepFailure } from '../../../schemas/step-status.ts';
import { createSchemaValidator } from '../../../schemas/index.ts';
import { compileDeviceInGroups, createCompileContext, mergeRollout, type CompileContext } from '../core/compile/compile.ts';
import { resolveDeviceGroups } from '../core/compile/groups.ts';
import { diffRevisions, relevantFactPaths, type FleetCompile } from '../core/compile/incremental.ts';
import { lookupFactPath } from '../core/compile/selectors.ts';
import type { DesiredResource, DesiredState, DeviceInput, FleetModel } from '../core/model.ts';
import { assignRollouts, changedProfiles } from '../core/rollout/membership.ts';
import type { RolloutDevice } from '../core/rollout/waves.ts';
import { validateRevision } from '../core/validate/validate-revision.ts';
import { ValidationCache } from '../core/validate/validation-cache.ts';
import { normaliseMac } from '../core/validate/semantic-check.ts';
import { decideDevice, type NewJobDecision } from '../core/device-pass/decide-device.ts';
import type { GitSource } from '../edges/git/git-source.ts';
import { loadRevision } from '../edges/git/load-revision.ts';
import { ContentHasher } from '../edges/git/content-hasher.ts';
import { ParseCache } from '../edges/git/parse-cache.ts';
import type { Logger } from '../../../schemas/log.ts';
import type { DeviceOutcomeInput, DeviceRecord, JobRecord, RevisionError, RevisionInput, RevisionRecord, Store } from '../edges/store/store.ts';
import type { CommitVerifier } from '../edges/signatures/commit-verifier.ts';
import { describeVerdict, tooManyCommitsError, verdictError, type CommitSigner } from '../core/signatures/verdict.ts';
import { MAX_COMMITS_VERIFIED } from '../edges/signatures/commit-verifier.ts';
import type { AgentGateway, DispatchOutcome, StoredReport } from '../edges/transport/agent-gateway.ts';
import type { BlobStore } from '../edges/blobs/blob-store.ts';
import { createEvent, issueRefs } from '../edges/notify/events.ts';
import type { Notifier as FleetNotifier } from '../edges/notify/notifier.ts';
import { FailureStreaks, nextMove, type NextMove } from './outcome.ts';
import { BatchQueue, WorkQueue } from './queue.ts';
import { RolloutDriver, type NewRolloutInput, type RolloutNotice } from './rollouts.ts';

export type DriftState = 'in_sync' | 'drifted' | 'converging' | 'failed' | 'unknown';

export interface DeviceStatus {
  state: DriftState;
  revision: string | undefined;
  /** Steps the last pass wanted to run (0 when in sync). */
  pendingSteps: number;
  /** Drift reported but not corrected (`drift: report`). */
  reportedDrift: number;
  reason: string;
  updatedAt: string;
  /** Revision of the device's last succeeded job. */
  lastAppliedRevision?: string;
  /** Revision of its last job that finished otherwise. */
  lastAttemptedRevision?: string;
}

const SOURCE_KEY = 'source';
const DEVICES_STREAK = 'devices';
const LOST_REASON = 'lost: the agent does not hold this job (its state was wiped or replaced); a fresh job is planned';

export interface ReconcilerDeps {
  store: Store;
  source: GitSource;
  fleetPath: string | undefined;
  gateway: () => AgentGateway;
  log: Logger;
  now: () => Date;
  jobAckTimeoutMs: number;
  /** Added to a running job's step budget (core/device-pass/job-budget.ts) before its device is asked about it. Default 60 s. */
  jobGraceMs?: number;
  blobs: BlobStore;
  /** Fired after state a dashboard shows changed. */
  onEvent?: (event: ReconcilerEvent) => void;
  /** Fleet notifications (Fleet.spec.notifiers); never blocks. */
  notifier?: FleetNotifier;
  /** In [0, 1]: jitter of rollout retries. Default Math.random. */
  random?: () => number;
  /**
   * Commit signature verification (mode `head` or `all`); none: every commit is read as before.
   * A revision whose commits fail it is rejected before its files are read.
   */
  verifier?: CommitVerifier;
}

export type ReconcilerEvent =
  | { type: 'revision'; revision: string; status: 'accepted' | 'rejected'; signer?: CommitSigner }
  | { type: 'device'; deviceId: string; status: DeviceStatus }
  | { type: 'job'; deviceId: string; jobId: string; state: string }
  | ({ type: 'rollout' } & RolloutNotice);

export interface ReconcileTimings {
  sourcePasses: number;
  devicePasses: number;
  /** Sum and count of device pass durations, for /metrics. */
  deviceSeconds: number;
  sourceSeconds: number;
}

export class Reconciler {
  readonly queue: WorkQueue;
  readonly rollouts: RolloutDriver;
  readonly #devices: BatchQueue;
  /**
   * Consecutive failures per device of the same steps (hash), for the retry backoff: a cache of
   * the store's `device_status` rows, loaded at start and written with every result.
   */
  readonly #failures = new Map<string, { stepsHash: string; count: number; lastAt: number }>();
  /** Statuses this pass changed, written to the store before the pass ends. */
  #changedStatuses = new Map<string, DeviceStatus>();
  /** Jobs being sent right now (waiting for the agent's ack). */
  readonly #inFlight = new Set<string>();
  /** When each connected device's current connection began (epoch ms): jobs sent before it may be lost. */
  readonly #connectedAt = new Map<string, number>();
  /** Devices that connected and have not been asked yet which of their open jobs they hold. */
  readonly #askOnConnect = new Set<string>();
  /** Job id → when its device was last asked about it (epoch ms): one question per grace. */
  readonly #askedAt = new Map<string, number>();
  /** Jobs their devices said they do not hold, written together. */
  #lost: Array<{ id: string; deviceId: string; before: string; rolloutId: string | undefined }> = [];
  #lostTimer: NodeJS.Timeout | undefined;
  readonly #streaks = new FailureStreaks();
  /** Fingerprint of the desired state each device was last planned against. */
  readonly #desiredPrints = new Map<string, string>();
  /**
   * The facts compile reads (`#factPaths`), as each device's last plan saw them: a report whose
   * observed set and these facts are unchanged cannot change the plan, and gets no pass.
   */
  readonly #factKeys = new Map<string, string>();
  #factPaths: string[][] = [];
  /** Each device's status: a cache of the store's `device_status`, loaded at start, written by every pass. */
  readonly statuses = new Map<string, DeviceStatus>();
  /** Groups and profiles of each device at the accepted revision, as its last pass compiled them. */
  readonly memberships = new Map<string, { groups: string[]; profiles: string[] }>();
  readonly timings: ReconcileTimings = { sourcePasses: 0, devicePasses: 0, deviceSeconds: 0, sourceSeconds: 0 };
  #model: FleetModel | undefined;
  /** Every live device compiled at the served model when its rollouts began (the next diff's start). */
  #compiled: FleetCompile | undefined;
  #context: CompileContext | undefined;
  /** A revision whose rollouts are begun but which is not served yet: its rollouts start no job. */
  #publishing: string | undefined;
  #macs = new Map<string, string>();
  readonly #schema = createSchemaValidator();
  readonly #parseCache = new ParseCache();
  readonly #hasher = new ContentHasher();
  /** What validating the last revision learnt: a one-file commit re-checks only what it can reach. */
  readonly #validation = new ValidationCache();

  constructor(private readonly deps: ReconcilerDeps) {
    this.queue = new WorkQueue((key) => this.#work(key), {
      concurrency: 1,
      onError: (key, error) => {
        const move = nextMove(error, this.#streaks.failed(key));
        this.#logMove(move, error, { key });
        this.queue.addAfter(key, move.afterMs);
      },
    });
    this.#devices = new BatchQueue((ids) => this.#timedDevices(ids), {
      maxBatch: 500,
      onError: (ids, error) => {
        // One streak for the device queue: its batches fail together (the store), not per device.
        const move = nextMove(error, this.#streaks.failed(DEVICES_STREAK));
        this.#logMove(move, error, { devices: ids.length });
        for (const id of ids) this.#devices.addAfter(id, move.afterMs);
      },
    });
    this.rollouts = new RolloutDriver({
      store: deps.store,
      log: deps.log,
      now: deps.now,
      random: deps.random ?? Math.random,
      isOnline: (id) => deps.gateway().isOnline(id),
      enqueue: (ids) => {
        for (const id of ids) this.#devices.add(id);
      },
      ...(deps.notifier ? { notifier: deps.notifier } : {}),
      onEvent: (notice) => deps.onEvent?.({ type: 'rollout', ...notice }),
    });
  }

  get model(): FleetModel | undefined {
    return this.#model;
  }

  get revision(): string | undefined {
    return this.#model?.revision;
  }

  /**
   * Starts from the store: the current rollouts first (so no device pass runs ungated), then the
   * last accepted revision is served until the source says more.
   */
  async start(): Promise<void> {
    for (const row of await this.deps.store.listDeviceStatuses()) {
      this.statuses.set(row.deviceId, {
        state: row.state,
        revision: row.revision,
        pendingSteps: row.pendingSteps,
        reportedDrift: row.reportedDrift,
        reason: row.reason,
        updatedAt: row.updatedAt,
        ...(row.lastAppliedRevision === undefined ? {} : { lastAppliedRevision: row.lastAppliedRevision }),
        ...(row.lastAttemptedRevision === undefined ? {} : { lastAttemptedRevision: row.lastAttemptedRevision }),
      });
      if (row.failure) this.#failures.set(row.deviceId, { stepsHash: row.failure.stepsHash, count: row.failure.count, lastAt: Date.parse(row.failure.at) });
    }
    await this.rollouts.load();
    this.queue.add(SOURCE_KEY);
  }

  enqueueSource(): void {
    this.queue.add(SOURCE_KEY);
  }

  enqueueDevice(deviceId: string): void {
    this.#devices.add(deviceId);
  }

  /**
   * Stored reports: a device gets a pass when its report observed something new or changed a
   * fact compile reads. A heartbeat that changes neither is skipped — its plan would be the last
   * one, whose time-driven follow-ups (a schedule falling due, a retry, an overdue ack) the pass
   * that made it already set timers for.
   */
  reported(reports: readonly StoredReport[]): void {
    for (const { deviceId, facts, observedChanged } of reports) {
      if (observedChanged || this.#factKeys.get(deviceId) !== this.#factKey(facts)) this.enqueueDevice(deviceId);
    }
  }

  #factKey(facts: Facts | undefined): string {
    return JSON.stringify(this.#factPaths.map((path) => lookupFactPath(facts, path) ?? null));
  }

  /** A deleted device: what the loop keeps about it goes, so stats and /metrics stop counting it. */
  forgetDevice(deviceId: string): void {
    this.statuses.delete(deviceId);
    this.memberships.delete(deviceId);
    this.#desiredPrints.delete(deviceId);
    this.#factKeys.delete(deviceId);
    this.#failures.delete(deviceId);
    this.#connectedAt.delete(deviceId);
    this.#askOnConnect.delete(deviceId);
  }

  /**
   * The device's agent connected: its rollouts learn it is online; what waits for it goes out, and
   * its pass asks it which of the jobs sent on an earlier connection it still holds.
   */
  deviceConnected(deviceId: string): void {
    this.#connectedAt.set(deviceId, this.deps.now().getTime());
    this.#askOnConnect.add(deviceId);
    this.rollouts.deviceOnline(deviceId, true);
    this.enqueueDevice(deviceId);
  }

  deviceDisconnected(deviceId: string): void {
    this.#connectedAt.delete(deviceId);
    this.#askOnConnect.delete(deviceId);
    this.rollouts.deviceOnline(deviceId, false);
  }

  /** Device passes waiting or running, for /metrics. */
  get pendingDevices(): number {
    return this.#devices.depth;
  }

  stop(): void {
    clearTimeout(this.#lostTimer);
    this.queue.stop();
    this.#devices.stop();
    this.rollouts.stop();
  }

  /** The declared device whose MAC an enrolling machine reports. */
  declaredDeviceFor(facts: Facts): string | undefined {
    for (const mac of facts.network?.macs ?? []) {
      const name = this.#macs.get(normaliseMac(mac));
      if (name) return name;
    }
    return undefined;
  }

  /**
   * How an enrolling machine with these facts claims `deviceId` when that is a declared Device:
   * `mac`, `serial`, else `hostname` (its id came from the machine's hostname or the token).
   * Undefined when no Device of that name is declared.
   */
  declaredClaim(deviceId: string, facts: Facts): string | undefined {
    const doc = this.#model?.devices.get(deviceId)?.doc;
    if (!doc) return undefined;
    const macs = new Set((facts.network?.macs ?? []).map((mac) => normaliseMac(mac)));
    if ((doc.spec.macAddresses ?? []).some((mac) => macs.has(normaliseMac(mac)))) return 'mac';
    const serial = (facts as Record<string, unknown>).serial;
    if (doc.spec.serial !== undefined && serial === doc.spec.serial) return 'serial';
    return 'hostname';
  }

  /**
   * Whether a device may download a blob: one of its open jobs (planned at whatever revision)
   * references it, or its desired state at the accepted revision does. A device reads the bodies
   * of its own files and scripts, never another profile's.
   */
  async mayFetchBlob(deviceId: string, sha256: string): Promise<boolean> {
    const open = (await this.deps.store.openJobsMany([deviceId])).get(deviceId) ?? [];
    if (open.some((job) => job.steps.some((step) => (step.action === 'file.write' || step.action === 'script.run') && step.sha256 === sha256))) return true;
    const device = await this.deps.store.getDevice(deviceId);
    if (!device || device.deletedAt !== undefined || device.approval === 'pending') return false;
    const desired = this.desiredFor(device);
    return desired?.resources.some((r) => r.type !== 'package' && r.sha256 === sha256) ?? false;
  }

  /** Desired state of a device at the accepted revision (undefined before the first one). */
  desiredFor(device: DeviceRecord): DesiredState | undefined {
    const model = this.#model;
    if (!model || !this.#context) return undefined;
    return compileWith(model, this.#context, device);
  }

  /** Says what the loop does next about a failed pass (loop/outcome.ts), at the level it deserves. */
  #logMove(move: NextMove, error: unknown, context: Record<string, unknown>): void {
    const seconds = Math.round(move.afterMs / 1000);
    const fields = { ...context, error, because: move.why };
    if (move.kind === 'stall') this.deps.log.error(`reconcile stalled: a person must act; looking again in ${seconds} s`, fields);
    else if (move.kind === 'backoff') this.deps.log.warn(`reconcile failed (transient); retrying in ${seconds} s`, fields);
    else this.deps.log.error(`reconcile failed; requeued in ${seconds} s`, fields);
  }

  async #work(key: string): Promise<void> {
    const started = performance.now();
    if (key === SOURCE_KEY) {
      await this.#reconcileSource();
      this.#streaks.succeeded(key);
      this.timings.sourcePasses++;
      this.timings.sourceSeconds += (performance.now() - started) / 1000;
    }
  }

  async #timedDevices(ids: string[]): Promise<void> {
    const started = performance.now();
    await this.#reconcileDevices(ids);
    this.#streaks.succeeded(DEVICES_STREAK);
    this.timings.devicePasses += ids.length;
    this.timings.deviceSeconds += (performance.now() - started) / 1000;
  }

  // ---- source ----

  async #reconcileSource(): Promise<void> {
    const { store, source, log } = this.deps;
    const { oid, changed } = await source.fetch();
    if (!changed && this.#model) return;
    const known = await store.getRevision(oid);
    // What was served before this revision, for its rollouts: in memory, or after a restart the
    // last accepted revision (read before this one is recorded, which would make it the last).
    const servedBefore = this.#model ? undefined : await store.latestAccepted();
    const info = await source.commitInfo(oid);
    const checked = await this.#verifySignatures(oid, known);
    if ('refused' in checked) {
      await this.#reject(revisionEntry(`${source.branch}@sha1:${oid}`, oid, source.branch, info, 'rejected', checked.refused, undefined), known);
      return;
    }
    const signer = checked.signer ?? known?.signer;
    const reader = await source.reader(oid, this.deps.fleetPath);
    const loaded = await loadRevision(reader, { cache: this.#parseCache, hasher: this.#hasher });
    const result = validateRevision(loaded, this.#schema.validators, { cache: this.#validation });
    const revision = reader.revision;
    // Warnings (a symlinked YAML file, skipped) never reject a revision; the operator is told once.
    if (!known) {
      for (const warning of result.warnings) log.warn('revision warning', { revision, file: warning.file, code: warning.code, message: warning.message });
    }
    const errors = result.issues.map((i) => ({ code: i.code, message: i.message, file: i.file, line: i.line, col: i.col, path: i.path }));
    if (!result.model) {
      await this.#reject(revisionEntry(revision, oid, source.branch, info, 'rejected', errors, signer), known);
      return;
    }
    await this.#record(revisionEntry(revision, oid, source.branch, info, 'accepted', errors, signer));
    const at = this.deps.now().toISOString();
    await this.#accept(result.model, reader, servedBefore);
    log.info('revision accepted', { revision, documents: result.documentCount, ...(signer ? { signer: signer.identity, key: signer.fingerprint } : {}) });
    this.deps.notifier?.setNotifiers(result.model.fleet?.doc.spec.notifiers ?? []);
    if (!known) this.deps.notifier?.notify(createEvent({ type: 'revision.accepted', at, revision, author: info.author, message: info.message }));
    this.deps.onEvent?.({ type: 'revision', revision, status: 'accepted', ...(signer ? { signer } : {}) });
  }

  /**
   * Stores a revision's verdict. The verdict is the server's (actor `system`) and is audited once
   * per oid, when it is first recorded; a lost audit entry is logged, never a reason to stop serving.
   */
  async #record(entry: RevisionInput): Promise<void> {
    const { store, log } = this.deps;
    const { created } = await store.recordRevision(entry);
    if (!created) return;
    const accepted = entry.status === 'accepted';
    await recordAudit(store, {
      actor: SYSTEM_ACTOR,
      action: 'revision',
      target: `revision:${entry.revision}`,
      outcome: entry.status,
      details: {
        author: entry.author,
        message: entry.message.split('\n', 1)[0]!.slice(0, 200),
        ...(entry.signer ? { signer: entry.signer.identity, key: entry.signer.fingerprint } : {}),
        ...(accepted ? {} : { errorCount: entry.errors.length, firstError: entry.errors[0]?.message.slice(0, 200) }),
      },
    }).catch((error: unknown) => log.error('audit entry not recorded', { revision: entry.revision, error }));
  }

  /** Records a rejected revision, tells the operator once, and keeps the last accepted one served. */
  async #reject(entry: RevisionInput, known: RevisionRecord | undefined): Promise<void> {
    const { store, log } = this.deps;
    const { revision, errors } = entry;
    await this.#record(entry);
    if (!known) {
      const at = this.deps.now().toISOString();
      log.warn('revision rejected', { revision, errors: errors.length, first: errors[0]?.message });
      this.deps.notifier?.notify(
        createEvent({ type: 'revision.rejected', at, revision, author: entry.author, message: entry.message, errorCount: errors.length, errors: issueRefs(errors) }),
      );
    }
    this.deps.onEvent?.({ type: 'revision', revision, status: 'rejected' });
    if (!this.#model) await this.#restoreLastAccepted();
  }

  /**
   * Commit signatures (deps.verifier): the head under mode `head`; under `all`, every commit since
   * the last accepted revision (just the head when none was accepted yet). A revision accepted
   * before is not checked again: changing the trusted keys governs what comes next, not what is
   * in force (docs/operations.md).
   */
  async #verifySignatures(oid: string, known: RevisionRecord | undefined): Promise<{ signer?: CommitSigner } | { refused: RevisionError[] }> {
    const verifier = this.deps.verifier;
    if (verifier === undefined || verifier.mode === 'off' || known?.status === 'accepted') return {};
    const base = verifier.mode === 'all' ? (await this.deps.store.latestAccepted())?.oid : undefined;
    const { verdicts, tooMany } = await verifier.verifyHead(this.deps.source, oid, base);
    if (tooMany) return { refused: [tooManyCommitsError(oid, MAX_COMMITS_VERIFIED)] };
    const refused = verdicts.map(verdictError).filter((e): e is RevisionError => e !== undefined);
    if (refused.length > 0) return { refused };
    const head = verdicts.find((v) => v.oid === oid);
    if (head?.state !== 'verified') return { refused: [] };
    this.deps.log.debug('commit signatures verified', { head: describeVerdict(head), commits: verdicts.length });
    return { signer: head.signer };
  }

  /** After a restart whose branch head is invalid: serve the last accepted revision again. */
  async #restoreLastAccepted(): Promise<void> {
    const last = await this.deps.store.latestAccepted();
    if (!last) return;
    const reader = await this.deps.source.reader(last.oid, this.deps.fleetPath);
    const loaded = await loadRevision(reader, { cache: this.#parseCache, hasher: this.#hasher });
    const result = validateRevision(loaded, this.#schema.validators, { cache: this.#validation });
    if (result.model) await this.#accept(result.model, reader);
  }

  /**
   * Serves `model`. When it replaces a revision served before (in memory, or `servedBefore` after a
   * restart), its rollouts are begun and stored first; only then is the revision published.
   */
  async #accept(model: FleetModel, reader: Parameters<BlobStore['addRevision']>[1], servedBefore?: RevisionRecord): Promise<void> {
    await this.deps.blobs.addRevision(model, reader);
    // The context validation just made for this model, which took over what the change left alone.
    const context = this.#validation.contextFor(model) ?? createCompileContext(model);
    const previous =
      this.#model !== undefined
        ? { model: this.#model, context: this.#context! }
        : servedBefore !== undefined && servedBefore.revision !== model.revision
          ? await this.#loadAccepted(servedBefore)
          : undefined;
    let changed: string[] | undefined;
    if (previous !== undefined && previous.model.revision !== model.revision) {
      this.#publishing = model.revision;
      try {
        changed = await this.#beginRollouts(model, context, previous);
      } catch (error) {
        this.#publishing = undefined;
        throw error;
      }
    }
    this.#model = model;
    this.#context = context;
    this.#publishing = undefined;
    // Rollouts already running take the policy of this revision (a widened window unblocks them).
    if (previous !== undefined) {
      const fleetPolicy = model.fleet?.doc.spec.rollout;
      await this.rollouts.adoptPolicies(
        (profile) => (profile === undefined ? mergeRollout(fleetPolicy, undefined) : model.profiles.has(profile) ? mergeRollout(fleetPolicy, model.profiles.get(profile)!.doc.spec.rollout) : undefined),
        model.revision,
      );
    }
    const factPaths = relevantFactPaths(model);
    if (JSON.stringify(factPaths) !== JSON.stringify(this.#factPaths)) {
      // Keys taken at other paths say nothing now: each device's next report gets a pass.
      this.#factPaths = factPaths;
      this.#factKeys.clear();
    }
    this.#macs = new Map();
    for (const { doc } of model.devices.values()) {
      for (const mac of doc.spec.macAddresses ?? []) this.#macs.set(normaliseMac(mac), doc.metadata.name);
    }
    if (changed !== undefined) {
      for (const id of changed) this.enqueueDevice(id);
    } else {
      await this.#enqueueChangedDevices();
    }
  }

  /** A revision accepted before, compiled again (the previous side of a restart's first diff). */
  async #loadAccepted(record: RevisionRecord): Promise<{ model: FleetModel; context: CompileContext } | undefined> {
    try {
      const reader = await this.deps.source.reader(record.oid, this.deps.fleetPath);
      const loaded = await loadRevision(reader, { cache: this.#parseCache, hasher: this.#hasher });
      const result = validateRevision(loaded, this.#schema.validators, { cache: this.#validation });
      return result.model ? { model: result.model, context: createCompileContext(result.model) } : undefined;
    } catch (error) {
      this.deps.log.warn('previous revision unreadable; this revision is not rolled out in waves', { revision: record.revision, error });
      return undefined;
    }
  }

  /**
   * Finds the live devices whose desired state differs between the two revisions, assigns them
   * (and the devices the rollouts being superseded still owe) to new rollouts, and stores them.
   * Returns the devices that need a pass: changed, carried over, or whose desired fingerprint moved.
   *
   * Both sides are compiled incrementally (compileFleetSince) from the previous revision's compile:
   * the previous revision again for the devices whose inputs changed since, then this one for the
   * devices its change can reach. Both sides use each device's current inputs, so only what the
   * revision changed counts.
   */
  async #beginRollouts(model: FleetModel, context: CompileContext, previous: { model: FleetModel; context: CompileContext }): Promise<string[]> {
    const changed = new Map<string, string[]>();
    const candidates = new Map<string, RolloutDevice>();
    const enqueue = new Set<string>();
    const devices = await this.deps.store.listDeviceInputs(factKeysRead(model, previous.model));
    const { before, after, changed: differing } = diffRevisions(
      this.#compiled,
      { ...previous, devices: devices.map((device) => deviceInput(previous.model, device)) },
      { model, context, devices: devices.map((device) => deviceInput(model, device)) },
    );
    const byId = new Map(devices.map((device) => [device.id, device]));
    for (const id of differing) {
      const device = byId.get(id)!;
      const was = before.compiled.get(id) ?? compileWith(previous.model, previous.context, device);
      const now = after.compiled.get(id) ?? compileWith(model, context, device);
      changed.set(id, changedProfiles(was, now));
    }
    for (const device of devices) {
      if (this.#desiredPrints.get(device.id) !== after.fingerprints.get(device.id)) enqueue.add(device.id);
      const input = deviceInput(model, device);
      // `online` is the driver's to fill in when the rollout is created.
      candidates.set(device.id, { name: device.id, labels: input.labels, facts: input.facts, groups: [...(after.groupsOf.get(device.id) ?? [])], online: false });
    }
    const assignment = assignRollouts(changed, this.rollouts.current(), new Set(candidates.keys()));
    const rollouts: NewRolloutInput[] = assignment.rollouts.map(({ profile, devices }) => {
      const located = model.profiles.get(profile) ?? previous.model.profiles.get(profile);
      const fleet = model.profiles.has(profile) ? model.fleet : previous.model.fleet;
      for (const id of devices) enqueue.add(id);
      return { profile, policy: mergeRollout(fleet?.doc.spec.rollout, located?.doc.spec.rollout), devices: devices.map((id) => candidates.get(id)!) };
    });
    if (rollouts.length > 0 || assignment.superseded.length > 0) {
      await this.rollouts.begin(model.revision, rollouts, assignment.superseded);
    }
    // Kept without its desired states: the next diff needs the fingerprints and the groups.
    this.#compiled = { ...after, compiled: new Map() };
    return [...enqueue];
  }

  /**
   * After a new revision without rollouts (the first one served): a pass for every device whose
   * desired state changed (compiling is cheap, a pass reads the store). Devices whose desired
   * state is the same keep their state; what they report still triggers passes.
   */
  async #enqueueChangedDevices(): Promise<void> {
    const model = this.#model!;
    for (const device of await this.deps.store.listDeviceInputs(factKeysRead(model))) {
      const desired = compileWith(model, this.#context!, device);
      if (this.#desiredPrints.get(device.id) !== desired.fingerprint) this.enqueueDevice(device.id);
    }
  }

  // ---- devices, in batches ----

  /**
   * One pass over many devices with bulk reads and writes: a report burst from 10,000 agents or a
   * fleet-wide commit costs a handful of queries per batch, not several per device.
   */
  async #reconcileDevices(ids: string[]): Promise<void> {
    const { store } = this.deps;
    const model = this.#model;
    if (!model) return;
    const [devices, open, observed, inventory] = await Promise.all([
      store.getDevicesMany(ids),
      store.openJobsMany(ids),
      store.getObservedMany(ids),
      store.getInventoryMany(ids),
    ]);
    const now = this.deps.now();
    const forgets: Array<{ deviceId: string; upserts: []; deletes: string[] }> = [];
    const created: JobRecord[] = [];
    const toDispatch: JobRecord[] = [];
    const converged: Array<{ rolloutId: string; deviceId: string }> = [];
    const attempts = new Map<string, number>();
    const grace = this.deps.jobGraceMs ?? 60_000;
    for (const id of ids) {
      const device = devices.get(id);
      // A device waiting for approval is not planned: no job until an operator approves it.
      if (!device || device.deletedAt || device.approval === 'pending') continue;
      const openJobs = open.get(id) ?? [];
      const desired = openJobs.length > 0 ? undefined : this.desiredFor(device)!;
      const since = this.#connectedAt.get(id);
      const decision = decideDevice({
        desired,
        observed: observed.get(id),
        inventory: inventory.get(id) ?? [],
        openJobs,
        gate: openJobs.length > 0 ? { kind: 'free' } : this.rollouts.gate(id),
        publishing: this.#publishing,
        failures: this.#failures.get(id),
        now,
        ackTimeoutMs: this.deps.jobAckTimeoutMs,
        graceMs: grace,
        connection: since === undefined ? undefined : { since, askOnConnect: this.#askOnConnect.has(id) },
        askedAt: this.#askedAt,
      });
      this.#askOnConnect.delete(id);
      if (desired !== undefined) {
        this.#desiredPrints.set(id, desired.fingerprint);
        this.#factKeys.set(id, this.#factKey(device.facts));
        this.memberships.set(id, { groups: desired.groups, profiles: desired.profiles.map((p) => p.name) });
      }
      this.#setStatus(id, decision.status);
      if (decision.wakeAt !== undefined) this.#devices.addAfter(id, decision.wakeAt - now.getTime());
      if (decision.forget.length > 0) forgets.push({ deviceId: id, upserts: [], deletes: decision.forget });
      if (decision.converged !== undefined) converged.push({ rolloutId: decision.converged, deviceId: id });
      toDispatch.push(...decision.send);
      if (decision.ask.length > 0) void this.#askHeld(id, decision.ask);
      if (decision.create !== undefined) {
        const job = this.#newJob(device, decision.create, now);
        if (decision.create.attempt !== undefined) attempts.set(id, decision.create.attempt);
        created.push(job);
      }
    }
    if (converged.length > 0) this.rollouts.converged(converged);
    if (forgets.length > 0) await store.applyInventoryMany(forgets);
    await this.#saveStatuses();
    if (created.length > 0) {
      const { created: inserted } = await store.createJobs(created);
      const fresh = new Set(inserted);
      for (const job of created) {
        if (!fresh.has(job.id)) continue;
        if (job.rolloutId !== undefined) this.rollouts.jobCreated(job.rolloutId, job.deviceId, job.id, attempts.get(job.deviceId)!);
        toDispatch.push(job);
        this.deps.onEvent?.({ type: 'job', deviceId: job.deviceId, jobId: job.id, state: 'pending' });
      }
    }
    // Acks come back while the next batch is planned; a job already on its way is not re-sent.
    void this.#dispatch(toDispatch.filter((job) => !this.#inFlight.has(job.id))).catch((error: unknown) =>
      this.deps.log.error('dispatch failed', { error }),
    );
  }

  /**
   * Asks the device which of `jobs` it holds. Jobs it does not hold (`unknown`) are marked lost
   * (batched) and its pass plans again, which makes a fresh job; no answer changes nothing.
   */
  async #askHeld(deviceId: string, jobs: readonly JobRecord[]): Promise<void> {
    const asked = this.deps.now().getTime();
    const before = new Date(this.#connectedAt.get(deviceId) ?? asked).toISOString();
    for (const job of jobs) this.#askedAt.set(job.id, asked);
    const held = await this.deps.gateway().askHeld(deviceId, jobs.map((j) => ({ jobId: j.id, idempotencyKey: j.idempotencyKey })), this.deps.jobAckTimeoutMs);
    if (held === undefined) {
      if (jobs.some((j) => j.state === 'running')) this.#devices.addAfter(deviceId, this.deps.jobGraceMs ?? 60_000);
      return;
    }
    for (const job of jobs) {
      if (held.get(job.id) !== 'unknown') continue;
      this.#lost.push({ id: job.id, deviceId, before, rolloutId: job.rolloutId });
    }
    if (this.#lost.length >= 500) void this.#flushLost();
    else if (this.#lost.length > 0) this.#lostTimer ??= setTimeout(() => void this.#flushLost(), 20);
  }

  async #flushLost(): Promise<void> {
    clearTimeout(this.#lostTimer);
    this.#lostTimer = undefined;
    const batch = this.#lost;
    this.#lost = [];
    if (batch.length === 0) return;
    let moved: Set<string>;
    try {
      moved = new Set(await this.deps.store.markJobsLost(batch, LOST_REASON, this.deps.now().toISOString()));
    } catch (error) {
      // Asked again: the devices' next passes (and connections) ask once more.
      this.deps.log.error('recording lost jobs failed; will ask again', { jobs: batch.length, error });
      for (const { deviceId } of batch) this.#devices.addAfter(deviceId, this.deps.jobGraceMs ?? 60_000);
      return;
    }
    for (const job of batch) {
      this.#askedAt.delete(job.id);
      if (!moved.has(job.id)) continue;
      this.deps.log.warn('job lost: the device does not hold it; planning a fresh one', { device: job.deviceId, job: job.id });
      if (job.rolloutId !== undefined) this.rollouts.jobLost(job.rolloutId, job.deviceId, job.id);
      this.deps.onEvent?.({ type: 'job', deviceId: job.deviceId, jobId: job.id, state: 'failed' });
      this.enqueueDevice(job.deviceId);
    }
  }

  /** The job a decision asked for (ids are random, hence made here and not in the decision). */
  #newJob(device: DeviceRecord, decision: NewJobDecision, now: Date): JobRecord {
    const { plan, stepsHash, rolloutId, drifted } = decision;
    const id = randomUUID();
    this.deps.log.debug('job created', { device: device.id, job: id, steps: plan.steps.length, revision: plan.revision, drift: drifted, rollout: rolloutId });
    return {
      id,
      deviceId: device.id,
      revision: plan.revision,
      ...(rolloutId === undefined ? {} : { rolloutId }),
      // Unique per job (the same steps can be needed again later, e.g. to undo drift); the steps'
      // hash in it ties retries of the same work together.
      idempotencyKey: `${device.id}:${stepsHash}:${id}`,
      steps: plan.steps,
      createdAt: now.toISOString(),
      resources: plan.resources,
      state: 'pending',
      attempts: 0,
    };
  }

  /** Sends jobs; offline devices keep theirs pending, an unacknowledged one is re-sent later. */
  async #dispatch(jobs: JobRecord[]): Promise<void> {
    if (jobs.length === 0) return;
    for (const job of jobs) this.#inFlight.add(job.id);
    // Sealed (signed, with the device's next sequence) by the gateway at this dispatch.
    let outcomes: DispatchOutcome[];
    try {
      outcomes = (
        await this.deps.gateway().sendJobs(
          jobs.map((job) => ({ id: job.id, deviceId: job.deviceId, revision: job.revision, idempotencyKey: job.idempotencyKey, steps: job.steps, createdAt: job.createdAt })),
          this.deps.jobAckTimeoutMs,
        )
      ).map((r) => r.outcome);
    } catch (error) {
      // No sequence could be taken or no key could sign: nothing left; sent again later.
      this.deps.log.error('jobs could not be sealed; will re-send', { jobs: jobs.length, error });
      outcomes = jobs.map(() => 'timeout' as const);
    }
    const acked: string[] = [];
    outcomes.forEach((outcome, i) => {
      const job = jobs[i]!;
      if (outcome === 'acked') {
        acked.push(job.id);
        // A pass that ran while this was on its way skipped the job: look at it again when a
        // missing start would be overdue.
        this.#devices.addAfter(job.deviceId, this.deps.jobAckTimeoutMs);
        this.deps.onEvent?.({ type: 'job', deviceId: job.deviceId, jobId: job.id, state: 'dispatched' });
      } else if (outcome === 'timeout' || outcome === 'refused') {
        // A refusal was logged with its reason by the gateway; the re-send carries a fresh seal.
        this.deps.log.warn('job not acknowledged; will re-send', { device: job.deviceId, job: job.id, outcome });
        this.#devices.addAfter(job.deviceId, this.deps.jobAckTimeoutMs);
      }
      // offline: the job waits (pending); the device's next connection enqueues it.
    });
    try {
      if (acked.length > 0) await this.deps.store.markDispatched(acked, this.deps.now().toISOString());
    } finally {
      for (const job of jobs) this.#inFlight.delete(job.id);
    }
  }

  /**
   * Results arrived (first deliveries): record what DeployX applied. Steps before the first
   * failure that succeeded (or found the resource already right) are applied; a removal that
   * succeeded leaves the inventory; a failed step changes nothing. A rollout job's result goes to
   * its rollout (any status but `succeeded` is a failure there); other failures feed the loop's
   * own retry backoff. `job` is the job as the gateway read it to check the result's owner (steps,
   * resources, revision and rollout never change once created), so no second read is needed.
   */
  async recordApplied(results: Array<{ deviceId: string; result: JobResult; job: JobRecord }>): Promise<void> {
    const now = this.deps.now();
    const changes = [];
    const forRollouts: Array<{ rolloutId: string; deviceId: string; succeeded: boolean }> = [];
    const outcomes: DeviceOutcomeInput[] = [];
    for (const { deviceId, result, job } of results) {
      const upserts = [];
      const deletes: string[] = [];
      for (const [i, step] of job.steps.entries()) {
        const outcome = result.steps[i];
        if (!outcome || isStepFailure(outcome.status)) break;
        const resource: DesiredResource | undefined = job.resources?.[step.key];
        if (!resource) continue;
        if (step.action === 'file.delete' || (step.action === 'package.remove' && resource.ensure !== 'absent')) {
          deletes.push(step.key);
        } else {
          upserts.push({ key: step.key, fingerprint: resource.fingerprint, resource, revision: job.revision, appliedAt: now.toISOString() });
        }
      }
      changes.push({ deviceId, upserts, deletes });
      this.#askedAt.delete(job.id);
      const stepsHash = job.idempotencyKey.split(':').at(-2) ?? '';
      const previous = this.#failures.get(deviceId);
      const succeeded = result.status === 'succeeded';
      let failure: DeviceOutcomeInput['failure'];
      if (succeeded) {
        this.#failures.delete(deviceId);
        failure = null;
      } else if (job.rolloutId === undefined) {
        const count = previous?.stepsHash === stepsHash ? previous.count + 1 : 1;
        this.#failures.set(deviceId, { stepsHash, count, lastAt: now.getTime() });
        failure = { stepsHash, count, at: now.toISOString() };
      }
      outcomes.push({ deviceId, revision: job.revision, succeeded, ...(failure === undefined ? {} : { failure }) });
      const status = this.statuses.get(deviceId);
      if (status) {
        if (succeeded) status.lastAppliedRevision = job.revision;
        else status.lastAttemptedRevision = job.revision;
      }
      if (job.rolloutId !== undefined) forRollouts.push({ rolloutId: job.rolloutId, deviceId, succeeded: result.status === 'succeeded' });
      this.deps.onEvent?.({ type: 'job', deviceId, jobId: job.id, state: result.status });
    }
    await Promise.all([this.deps.store.applyInventoryMany(changes), this.deps.store.recordDeviceOutcomes(outcomes, now.toISOString())]);
    this.rollouts.resulted(forRollouts);
    for (const { deviceId } of results) this.enqueueDevice(deviceId);
  }

  #setStatus(deviceId: string, status: Omit<DeviceStatus, 'updatedAt' | 'revision' | 'lastAppliedRevision' | 'lastAttemptedRevision'>): void {
    const previous = this.statuses.get(deviceId);
    const full: DeviceStatus = {
      ...status,
      revision: this.#model?.revision,
      updatedAt: this.deps.now().toISOString(),
      ...(previous?.lastAppliedRevision === undefined ? {} : { lastAppliedRevision: previous.lastAppliedRevision }),
      ...(previous?.lastAttemptedRevision === undefined ? {} : { lastAttemptedRevision: previous.lastAttemptedRevision }),
    };
    this.statuses.set(deviceId, full);
    if (
      previous?.state !== full.state ||
      previous.reason !== full.reason ||
      previous.pendingSteps !== full.pendingSteps ||
      previous.reportedDrift !== full.reportedDrift ||
      previous.revision !== full.revision
    ) {
      this.#changedStatuses.set(deviceId, full);
    }
    if (previous?.state !== full.state || previous.reason !== full.reason) {
      this.deps.onEvent?.({ type: 'device', deviceId, status: full });
    }
  }

  /** Writes the statuses this pass changed (one batch): the store, not this cache, is the truth. */
  async #saveStatuses(): Promise<void> {
    if (this.#changedStatuses.size === 0) return;
    const changed = this.#changedStatuses;
    this.#changedStatuses = new Map();
    await this.deps.store.saveDeviceStatuses(
      [...changed].map(([deviceId, s]) => ({
        deviceId,
        state: s.state,
        reason: s.reason,
        ...(s.revision === undefined ? {} : { revision: s.revision }),
        pendingSteps: s.pendingSteps,
        reportedDrift: s.reportedDrift,
        updatedAt: s.updatedAt,
      })),
    );
  }
}

/** What compiling a device reads of its record. */
type CompileSubject = Pick<DeviceRecord, 'id' | 'labels' | 'facts'>;

/** The device's desired state at `model` (compiled with that model's context). */
function compileWith(model: FleetModel, context: CompileContext, device: CompileSubject): DesiredState {
  const input = deviceInput(model, device);
  return compileDeviceInGroups(context, input, resolveDeviceGroups(model, input));
}

/**
 * The top-level facts compile and rollout waves read at these models (`listDeviceInputs`): the
 * first segment of every group selector's and wave selector's `matchFacts` path, and `os`.
 */
function factKeysRead(...models: FleetModel[]): string[] {
  const keys = new Set<string>();
  for (const model of models) {
    for (const path of relevantFactPaths(model)) keys.add(path[0]!);
    const policies = [model.fleet?.doc.spec.rollout, ...[...model.profiles.values()].map((p) => p.doc.spec.rollout)];
    for (const policy of policies) {
      for (const wave of policy?.waves ?? []) for (const e of wave.selector?.matchFacts ?? []) keys.add(e.key.split('.')[0]!);
    }
  }
  return [...keys];
}

/** The device as compile sees it: Git labels (when declared) over enrollment labels, and facts. */
export function deviceInput(model: FleetModel, device: CompileSubject): DeviceInput {
  const declared = model.devices.get(device.id);
  return {
    name: device.id,
    labels: { ...device.labels, ...(declared?.doc.metadata.labels ?? {}) },
    facts: Object.keys(device.facts ?? {}).length > 0 ? device.facts : undefined,
    declared: declared !== undefined,
  };
}

/** What the store records of a revision; the signer travels with it (the audit log reads it too). */
function revisionEntry(
  revision: string,
  oid: string,
  branch: string,
  info: { author: string; message: string; committedAt: string },
  status: RevisionInput['status'],
  errors: RevisionError[],
  signer: CommitSigner | undefined,
): RevisionInput {
  return { revision, oid, branch, author: info.author, message: info.message, committedAt: info.committedAt, status, errors, ...(signer ? { signer } : {}) };
}
