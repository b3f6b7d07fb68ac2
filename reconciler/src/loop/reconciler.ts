// The reconcile loop (level-triggered). Triggers only add keys to one de-duplicating queue:
//   `source`       fetch the branch; validate a new commit; accept it or reject it
//   `device:<id>`  compile the device at the accepted revision, plan against its last report and
//                  the inventory, and create or (re)dispatch its job
// Every pass recomputes from desired + observed; a lost trigger costs latency, never correctness.
import { randomUUID } from 'node:crypto';
import type { Facts } from '../../../schemas/facts.ts';
import type { Job, JobResult } from '../../../schemas/protocol.ts';
import { createSchemaValidator } from '../../../schemas/index.ts';
import { canonicalJson } from '../core/compile/fingerprint.ts';
import { compileDevice, createCompileContext, type CompileContext } from '../core/compile/compile.ts';
import { resolveGroupMembers } from '../core/compile/groups.ts';
import type { DesiredResource, DesiredState, DeviceInput, FleetModel } from '../core/model.ts';
import { planDevice, type DevicePlan } from '../core/plan/plan-device.ts';
import { validateRevision } from '../core/validate/validate-revision.ts';
import { normaliseMac } from '../core/validate/semantic-check.ts';
import { sha256Hex } from '../core/sha256.ts';
import type { GitSource } from '../edges/git/git-source.ts';
import { loadRevision } from '../edges/git/load-revision.ts';
import { ContentHasher } from '../edges/git/content-hasher.ts';
import { ParseCache } from '../edges/git/parse-cache.ts';
import type { Logger } from '../edges/log.ts';
import type { DeviceRecord, JobRecord, Store } from '../edges/store/store.ts';
import type { AgentGateway } from '../edges/transport/agent-gateway.ts';
import { BlobIndex } from './blob-index.ts';
import { WorkQueue } from './queue.ts';

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
}

const SOURCE_KEY = 'source';
const RETRY_DELAYS_MS = [5_000, 20_000];

export interface ReconcilerDeps {
  store: Store;
  source: GitSource;
  fleetPath: string | undefined;
  gateway: () => AgentGateway;
  log: Logger;
  now: () => Date;
  jobAckTimeoutMs: number;
  blobs: BlobIndex;
  /** Fired after state a dashboard shows changed. */
  onEvent?: (event: ReconcilerEvent) => void;
}

export type ReconcilerEvent =
  | { type: 'revision'; revision: string; status: 'accepted' | 'rejected' }
  | { type: 'device'; deviceId: string; status: DeviceStatus }
  | { type: 'job'; deviceId: string; jobId: string; state: string };

export interface ReconcileTimings {
  sourcePasses: number;
  devicePasses: number;
  /** Sum and count of device pass durations, for /metrics. */
  deviceSeconds: number;
  sourceSeconds: number;
}

export class Reconciler {
  readonly queue: WorkQueue;
  readonly statuses = new Map<string, DeviceStatus>();
  readonly timings: ReconcileTimings = { sourcePasses: 0, devicePasses: 0, deviceSeconds: 0, sourceSeconds: 0 };
  #model: FleetModel | undefined;
  #context: CompileContext | undefined;
  #macs = new Map<string, string>();
  readonly #schema = createSchemaValidator();
  readonly #parseCache = new ParseCache();
  readonly #hasher = new ContentHasher();

  constructor(private readonly deps: ReconcilerDeps) {
    this.queue = new WorkQueue((key) => this.#work(key), {
      concurrency: 8,
      onError: (key, error) => {
        deps.log.error('reconcile failed; retrying', { key, error });
        this.queue.addAfter(key, 5_000);
      },
    });
  }

  get model(): FleetModel | undefined {
    return this.#model;
  }

  get revision(): string | undefined {
    return this.#model?.revision;
  }

  /** Starts from the store: the last accepted revision is served until the source says more. */
  async start(): Promise<void> {
    this.queue.add(SOURCE_KEY);
  }

  enqueueSource(): void {
    this.queue.add(SOURCE_KEY);
  }

  enqueueDevice(deviceId: string): void {
    this.queue.add(`device:${deviceId}`);
  }

  stop(): void {
    this.queue.stop();
  }

  /** The declared device whose MAC an enrolling machine reports. */
  declaredDeviceFor(facts: Facts): string | undefined {
    for (const mac of facts.network?.macs ?? []) {
      const name = this.#macs.get(normaliseMac(mac));
      if (name) return name;
    }
    return undefined;
  }

  /** Desired state of a device at the accepted revision (undefined before the first one). */
  desiredFor(device: DeviceRecord): DesiredState | undefined {
    const model = this.#model;
    if (!model || !this.#context) return undefined;
    const input = deviceInput(model, device);
    return compileDevice(model, input, resolveGroupMembers(model, [input]), this.#context);
  }

  async #work(key: string): Promise<void> {
    const started = performance.now();
    if (key === SOURCE_KEY) {
      await this.#reconcileSource();
      this.timings.sourcePasses++;
      this.timings.sourceSeconds += (performance.now() - started) / 1000;
    } else if (key.startsWith('device:')) {
      await this.#reconcileDevice(key.slice('device:'.length));
      this.timings.devicePasses++;
      this.timings.deviceSeconds += (performance.now() - started) / 1000;
    }
  }

  // ---- source ----

  async #reconcileSource(): Promise<void> {
    const { store, source, log } = this.deps;
    const { oid, changed } = await source.fetch();
    if (!changed && this.#model) return;
    const known = await store.getRevision(oid);
    const info = await source.commitInfo(oid);
    const reader = await source.reader(oid, this.deps.fleetPath);
    const loaded = await loadRevision(reader, { cache: this.#parseCache, hasher: this.#hasher });
    const result = validateRevision(loaded, this.#schema.validators);
    const revision = reader.revision;
    await store.recordRevision({
      revision,
      oid,
      branch: source.branch,
      author: info.author,
      message: info.message,
      committedAt: info.committedAt,
      status: result.model ? 'accepted' : 'rejected',
      errors: result.issues.map((i) => ({ code: i.code, message: i.message, file: i.file, line: i.line, col: i.col, path: i.path })),
    });
    if (!result.model) {
      if (!known) log.warn('revision rejected', { revision, errors: result.issues.length, first: result.issues[0]?.message });
      this.deps.onEvent?.({ type: 'revision', revision, status: 'rejected' });
      if (!this.#model) await this.#restoreLastAccepted();
      return;
    }
    await this.#accept(result.model, reader);
    log.info('revision accepted', { revision, documents: result.documentCount });
    this.deps.onEvent?.({ type: 'revision', revision, status: 'accepted' });
  }

  /** After a restart whose branch head is invalid: serve the last accepted revision again. */
  async #restoreLastAccepted(): Promise<void> {
    const last = await this.deps.store.latestAccepted();
    if (!last) return;
    const reader = await this.deps.source.reader(last.oid, this.deps.fleetPath);
    const loaded = await loadRevision(reader, { cache: this.#parseCache, hasher: this.#hasher });
    const result = validateRevision(loaded, this.#schema.validators);
    if (result.model) await this.#accept(result.model, reader);
  }

  async #accept(model: FleetModel, reader: Parameters<BlobIndex['addRevision']>[1]): Promise<void> {
    this.deps.blobs.addRevision(model, reader);
    this.#model = model;
    this.#context = createCompileContext(model);
    this.#macs = new Map();
    for (const { doc } of model.devices.values()) {
      for (const mac of doc.spec.macAddresses ?? []) this.#macs.set(normaliseMac(mac), doc.metadata.name);
    }
    await this.#enqueueAllDevices();
  }

  async #enqueueAllDevices(): Promise<void> {
    for (let offset = 0; ; offset += 1000) {
      const page = await this.deps.store.listDevices({ limit: 1000, offset });
      for (const device of page) if (!device.deletedAt) this.enqueueDevice(device.id);
      if (page.length < 1000) return;
    }
  }

  // ---- device ----

  async #reconcileDevice(deviceId: string): Promise<void> {
    const { store } = this.deps;
    const device = await store.getDevice(deviceId);
    if (!device || device.deletedAt || !this.#model) return;
    const open = await store.listJobs({ deviceId, state: ['pending', 'dispatched', 'running'], limit: 10 });
    if (open.length > 0) {
      this.#setStatus(deviceId, { state: 'converging', reason: `job ${open[0]!.id} ${open[0]!.state}`, pendingSteps: open[0]!.steps.length, reportedDrift: 0 });
      await this.#dispatchOpen(open);
      return;
    }
    const desired = this.desiredFor(device)!;
    const [observed, inventory] = await Promise.all([store.getObserved(deviceId), store.getInventory(deviceId)]);
    const plan = planDevice(desired, observed?.resources, inventory, { now: this.deps.now() });
    if (plan.forget.length > 0) await store.applyInventory(deviceId, [], plan.forget);
    const reportedDrift = plan.changes.filter((c) => c.reportOnly).length;
    if (plan.steps.length === 0) {
      const never = observed?.reportedAt === undefined;
      this.#setStatus(deviceId, {
        state: never ? 'unknown' : reportedDrift > 0 ? 'drifted' : 'in_sync',
        reason: never ? 'never reported' : reportedDrift > 0 ? `${reportedDrift} drifted (drift: report)` : 'converged',
        pendingSteps: 0,
        reportedDrift,
      });
      return;
    }
    await this.#createJob(device, plan, reportedDrift);
  }

  async #createJob(device: DeviceRecord, plan: DevicePlan, reportedDrift: number): Promise<void> {
    const { store } = this.deps;
    const stepsHash = sha256Hex(canonicalJson(plan.steps)).slice(0, 16);
    const recent = await store.listJobs({ deviceId: device.id, limit: RETRY_DELAYS_MS.length + 1 });
    let failures = 0;
    for (const job of recent) {
      if (!job.idempotencyKey.includes(`:${stepsHash}:`) || job.state === 'succeeded') break;
      failures++;
    }
    const drifted = plan.changes.some((c) => c.drift);
    if (failures > RETRY_DELAYS_MS.length) {
      this.#setStatus(device.id, { state: 'failed', reason: `failed ${failures} times; waiting for a new revision`, pendingSteps: plan.steps.length, reportedDrift });
      return;
    }
    if (failures > 0) {
      const last = Date.parse(recent[0]!.finishedAt ?? recent[0]!.createdAt);
      const due = last + RETRY_DELAYS_MS[failures - 1]! - this.deps.now().getTime();
      if (due > 0) {
        this.#setStatus(device.id, { state: 'failed', reason: `retry ${failures} in ${Math.ceil(due / 1000)} s`, pendingSteps: plan.steps.length, reportedDrift });
        this.queue.addAfter(`device:${device.id}`, due);
        return;
      }
    }
    const id = randomUUID();
    const job = {
      id,
      deviceId: device.id,
      revision: plan.revision,
      // Unique per job (the same steps can be needed again later, e.g. to undo drift); the steps'
      // hash in it lets the retry count above find earlier attempts of the same work.
      idempotencyKey: `${device.id}:${stepsHash}:${id}`,
      steps: plan.steps,
      createdAt: this.deps.now().toISOString(),
      resources: plan.resources,
    };
    const created = await store.createJobs([job]);
    this.deps.log.info('job created', { device: device.id, job: job.id, steps: job.steps.length, revision: job.revision, drift: drifted });
    this.#setStatus(device.id, {
      state: drifted && failures === 0 ? 'drifted' : 'converging',
      reason: `${plan.steps.length} steps`,
      pendingSteps: plan.steps.length,
      reportedDrift,
    });
    if (created.created.length > 0) {
      this.deps.onEvent?.({ type: 'job', deviceId: device.id, jobId: job.id, state: 'pending' });
      await this.#dispatch({ ...job, state: 'pending', attempts: 0 });
    }
  }

  async #dispatchOpen(open: JobRecord[]): Promise<void> {
    const now = this.deps.now().getTime();
    for (const job of open) {
      if (job.state === 'running') continue;
      const stale = job.dispatchedAt === undefined || now - Date.parse(job.dispatchedAt) >= this.deps.jobAckTimeoutMs;
      if (job.state === 'pending' || stale) await this.#dispatch(job);
    }
  }

  /** Sends a job; offline devices keep it pending, an unacknowledged one is re-sent later. */
  async #dispatch(job: JobRecord): Promise<void> {
    const wire: Job = {
      id: job.id,
      deviceId: job.deviceId,
      revision: job.revision,
      idempotencyKey: job.idempotencyKey,
      steps: job.steps,
      createdAt: job.createdAt,
    };
    const outcome = await this.deps.gateway().sendJob(wire, this.deps.jobAckTimeoutMs);
    if (outcome === 'acked') {
      await this.deps.store.markDispatched([job.id], this.deps.now().toISOString());
      this.deps.onEvent?.({ type: 'job', deviceId: job.deviceId, jobId: job.id, state: 'dispatched' });
    } else if (outcome === 'timeout' || outcome === 'refused') {
      this.deps.log.warn('job not acknowledged; will re-send', { device: job.deviceId, job: job.id, outcome });
      this.queue.addAfter(`device:${job.deviceId}`, this.deps.jobAckTimeoutMs);
    }
    // offline: the job waits (pending); the device's next connection enqueues it.
  }

  /**
   * A job's result arrived (first delivery): record what DeployX applied. Steps before the first
   * failure that succeeded (or found the resource already right) are applied; a removal that
   * succeeded leaves the inventory; a failed step changes nothing.
   */
  async recordApplied(deviceId: string, result: JobResult): Promise<void> {
    const job = await this.deps.store.getJob(result.jobId);
    if (!job) return;
    const upserts = [];
    const deletes: string[] = [];
    const now = this.deps.now().toISOString();
    for (const [i, step] of job.steps.entries()) {
      const outcome = result.steps[i];
      if (!outcome || outcome.status === 'failed') break;
      const resource: DesiredResource | undefined = job.resources?.[step.key];
      if (!resource) continue;
      if (step.action === 'file.delete' || (step.action === 'package.remove' && resource.ensure !== 'absent')) {
        deletes.push(step.key);
      } else {
        upserts.push({ key: step.key, fingerprint: resource.fingerprint, resource, revision: job.revision, appliedAt: now });
      }
    }
    await this.deps.store.applyInventory(deviceId, upserts, deletes);
    this.deps.onEvent?.({ type: 'job', deviceId, jobId: job.id, state: result.status });
    this.enqueueDevice(deviceId);
  }

  #setStatus(deviceId: string, status: Omit<DeviceStatus, 'updatedAt' | 'revision'>): void {
    const full: DeviceStatus = { ...status, revision: this.#model?.revision, updatedAt: this.deps.now().toISOString() };
    const previous = this.statuses.get(deviceId);
    this.statuses.set(deviceId, full);
    if (previous?.state !== full.state || previous.reason !== full.reason) {
      this.deps.onEvent?.({ type: 'device', deviceId, status: full });
    }
  }
}

/** The device as compile sees it: Git labels (when declared) over enrollment labels, and facts. */
export function deviceInput(model: FleetModel, device: DeviceRecord): DeviceInput {
  const declared = model.devices.get(device.id);
  return {
    name: device.id,
    labels: { ...device.labels, ...(declared?.doc.metadata.labels ?? {}) },
    facts: Object.keys(device.facts ?? {}).length > 0 ? device.facts : undefined,
    declared: declared !== undefined,
  };
}
