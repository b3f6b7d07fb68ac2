// Use-cases of bare-metal provisioning, called by the /pxe routes and the agent gateway:
// a machine boots (decide, record, maybe start a run), a boot environment fetches its installer
// config, task sequence and artifacts and reports task status, an agent of a provisioned device
// connects (enrolled).
//
// Tokens. A run's provisioning token (`dxp_…`, random) is handed out once, in the install
// script's kernel line; only its SHA-256 is stored. It works while the run is active (not
// finished, not superseded by a newer boot of the device) and not expired (RUN_TTL). The agent
// enrollment token is derived from it, HMAC-SHA256(provisioning token, "deployx-enroll:" + run
// id), so each config render and the task list carry the same token without the server keeping
// it: only its hash is stored, as a single-use enrollment token bound to the device and revoked
// when a newer run starts. Anyone holding neither gets nothing; a finished run's token gets nothing.
import { formatEnrollmentToken } from '../../../schemas/enrollment-token.ts';
import type { DiscoveredMachine, ProvisioningTimeline } from '../../../schemas/protocol.ts';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FleetModel } from '../core/model.ts';
import { adoptedDeviceId, bootArtifactFields, decideBoot, deviceForMachine, type BootDecision } from '../core/pxe/boot-decision.ts';
import { bootScript, entryScript } from '../core/pxe/boot-script.ts';
import { formatHostname, isHostname, planHostname } from '../core/pxe/hostname.ts';
import { installerFiles, type InstallerContext } from '../core/pxe/installer-config.ts';
import { renderIpxe } from '../core/pxe/ipxe-script.ts';
import type { MachineIdentity } from '../core/pxe/machine-identity.ts';
import { acceptStep, type StepStatus } from '../core/pxe/task-progress.ts';
import { compileTaskSequence, runArtifacts, type RunnerTask, type TaskSequence } from '../core/pxe/task-sequence.ts';
import type { Logger } from '../../../schemas/log.ts';
import { newCryptSalt, sha512Crypt, unattendPasswordValue } from '../edges/pxe/sha512-crypt.ts';
import type { ProvisioningRun, Store } from '../edges/store/store.ts';
import { hashSecret } from '../edges/transport/agent-gateway.ts';
import { DISCOVERY_LIMITS } from '../core/pxe/discovery-limits.ts';
import { DiscoveryNotices, SourceRateLimiter } from './discovery-guard.ts';
import type { BlobStore, StoredBlob } from '../edges/blobs/blob-store.ts';

export const RUN_TTL_MS = 4 * 3_600_000;
export const ENROLL_TTL_MS = 24 * 3_600_000;
export const ADMIN_USER = 'deployx-admin';

export type ProvisioningErrorCode = 'pxe.invalid' | 'pxe.token' | 'pxe.not-found' | 'pxe.step-order' | 'pxe.step-index' | 'pxe.stale' | 'pxe.rate-limited';

export class ProvisioningError extends Error {
  constructor(
    readonly code: ProvisioningErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ProvisioningDeps {
  store: Store;
  /** The accepted revision being served. */
  model: () => FleetModel | undefined;
  blobs: BlobStore;
  /** Server-side secrets by name (`<data>/secrets.json`). */
  secrets: () => Record<string, string>;
  log: Logger;
  now: () => Date;
  /** Fingerprint of the current server signing key: the installer's enrollment token carries it (agents pin it). */
  serverKey: () => string;
  retrySeconds?: number;
  runTtlMs?: number;
  /** Overrides of core/pxe/discovery-limits.ts (tests). */
  discoveryLimits?: typeof DISCOVERY_LIMITS;
  /** What people watching the fleet are told (the dashboard's notifications). Must not throw. */
  onEvent?: (event: ProvisioningEvent) => void;
}

/** Provisioning transitions worth a notification. */
export type ProvisioningEvent =
  /** `count` > 1: that many machines were discovered in the notification window, `mac` the last. */
  | { type: 'discovered'; mac: string; platform?: string | undefined; count?: number }
  | { type: 'started'; device: string; hostname: string; profile: string }
  | { type: 'finished'; device: string; status: string }
  | { type: 'enrolled'; device: string };

/** Runner scripts served at /pxe/runner/<name>: a fixed list, never a path from the request. */
const RUNNERS: Record<string, { file: URL; type: string }> = {
  'deployx-tasks.sh': { file: new URL('../../../pxe/runner/deployx-tasks.sh', import.meta.url), type: 'text/x-shellscript' },
  'deployx-tasks.ps1': { file: new URL('../../../pxe/runner/deployx-tasks.ps1', import.meta.url), type: 'text/plain' },
};

/** A run's stored tasks: the compiled sequence, pinned to the revision the run started at. */
type StoredTask = RunnerTask;

export class Provisioning {
  /**
   * Devices being provisioned whose agent has not connected yet, loaded from the store once (a
   * promise, so 10,000 agents connecting at start cause one query, not one each).
   */
  #awaiting: Promise<Set<string>> | undefined;

  readonly #sources: SourceRateLimiter;
  readonly #discoveries: DiscoveryNotices<{ mac: string; platform?: string | undefined }>;

  constructor(private readonly deps: ProvisioningDeps) {
    this.#sources = new SourceRateLimiter(deps.discoveryLimits ?? DISCOVERY_LIMITS);
    this.#discoveries = new DiscoveryNotices(
      (event, count) => this.deps.onEvent?.({ type: 'discovered', ...event, ...(count > 1 ? { count } : {}) }),
      (deps.discoveryLimits ?? DISCOVERY_LIMITS).notifyWindowMs,
    );
  }

  /** Tells the discovery notifications still held back (the server is closing). */
  flushNotices(): void {
    this.#discoveries.flush();
  }

  entryScript(base: string): string {
    return renderIpxe(entryScript(base));
  }

  /**
   * A machine's boot: decide, record what it was told, and for an install start a run. `source`
   * is the address the request came from: a machine never seen before that no Device matches is
   * recorded only within that address's discovery budget (else `pxe.rate-limited`).
   */
  async boot(machine: MachineIdentity, base: string, choice: string | undefined, source = 'unknown'): Promise<{ script: string; decision: BootDecision }> {
    const { store } = this.deps;
    const nowDate = this.deps.now();
    const at = nowDate.toISOString();
    const model = this.deps.model();
    const device = model ? deviceForMachine(model, machine) : undefined;
    const [state, record, known, arming] = await Promise.all([
      device ? store.getProvisioning(device.id) : undefined,
      device ? store.getDevice(device.id) : undefined,
      store.getPxeMachine(machine.mac),
      device?.declared ? store.getArming(device.id, at) : undefined,
    ]);
    if (known === undefined && !device?.declared) {
      if (!this.#sources.take(source, nowDate.getTime())) {
        this.deps.log.warn('pxe discovery rate-limited', { source, mac: machine.mac });
        throw new ProvisioningError('pxe.rate-limited', 'too many unknown machines from this address; try again in a minute');
      }
      await this.#pruneDiscovered(nowDate);
    }
    const input = {
      machine,
      model,
      device,
      state: state?.state,
      enrolled: record !== undefined && record.deletedAt === undefined,
      armed: arming !== undefined,
      choice,
      chosenProfile: known?.chosenProfile,
      unavailable: new Map<string, string>(),
      retrySeconds: this.deps.retrySeconds ?? 30,
    };
    let decision = decideBoot(input);
    if (decision.action === 'install') {
      // Never point a machine at an artifact that is not there or not the declared bytes.
      for (const field of bootArtifactFields(decision.image)) {
        const sha = decision.image.spec[field]!.sha256;
        const problem = await this.deps.blobs.problem(sha);
        if (problem !== undefined) input.unavailable.set(sha, problem);
      }
      if (input.unavailable.size > 0) decision = decideBoot(input);
    }
    // Build mode: the arming is consumed by the one boot that gets the install token (two racing
    // boots of one MAC: one wins, the other boots from disk).
    if (decision.action === 'install' && decision.device.declared && !(await store.consumeArming(decision.device.id, at))) {
      input.armed = false;
      decision = decideBoot(input);
    }
    let script: string;
    if (decision.action === 'install') {
      const { token, hostname } = await this.#startRun(decision, machine, model!);
      this.deps.onEvent?.({ type: 'started', device: decision.device.id, hostname, profile: decision.profile.metadata.name });
      script = renderIpxe(bootScript(decision, { base, machine }, { token, hostname }));
    } else {
      script = renderIpxe(bootScript(decision, { base, machine }));
      if (device?.declared && state === undefined && decision.action === 'wait') {
        await store.setProvisioningState(device.id, 'discovered', at, machine.mac);
      }
    }
    const label = decision.action === 'wait' ? `wait:${decision.reason}` : decision.action === 'local-disk' ? `local-disk:${decision.reason}` : decision.action;
    const deviceId =
      device === undefined ? null : device.declared || decision.action === 'install' || decision.action === 'local-disk' ? device.id : null;
    await store.recordMachineBoot({
      ...machine,
      at,
      deviceId,
      ...(decision.action === 'install' && decision.picked ? { chosenProfile: decision.profile.metadata.name } : {}),
      decision: label,
    });
    if (known === undefined && deviceId === null) this.#discoveries.add({ mac: machine.mac, platform: machine.platform }, nowDate.getTime());
    this.deps.log.info('pxe boot', {
      mac: machine.mac,
      platform: machine.platform,
      device: deviceId,
      decision: label,
      ...(decision.action === 'wait' ? { message: decision.message } : {}),
    });
    return { script, decision };
  }

  async #startRun(decision: Extract<BootDecision, { action: 'install' }>, machine: MachineIdentity, model: FleetModel) {
    const at = this.deps.now();
    const token = `dxp_${randomBytes(32).toString('base64url')}`;
    const runId = randomUUID();
    const hostname = await this.#hostname(decision, at.toISOString());
    const sequence = compileTaskSequence(model, decision.profile, {
      deviceId: decision.device.id,
      hostname,
      server: '',
      enrollmentToken: '',
    });
    await this.deps.store.startProvisioningRun({
      id: runId,
      deviceId: decision.device.id,
      tokenHash: hashSecret(token),
      revision: model.revision,
      profile: decision.profile.metadata.name,
      image: decision.image.metadata.name,
      hostname,
      mac: machine.mac,
      tasks: sequence.tasks satisfies StoredTask[],
      createdAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + (this.deps.runTtlMs ?? RUN_TTL_MS)).toISOString(),
      enrollmentToken: {
        id: `prov-${runId}`,
        name: `provisioning ${decision.device.id}`,
        tokenHash: hashSecret(enrollmentTokenFor(token, runId)),
        maxUses: 1,
        boundDevice: decision.device.id,
        expiresAt: new Date(at.getTime() + ENROLL_TTL_MS).toISOString(),
        labels: decision.device.declared ? {} : { 'deployx.dev/profile': decision.profile.metadata.name },
      },
    });
    // Loaded already: keep it current. Not loaded: the store load will include this device.
    void this.#awaiting?.then((set) => set.add(decision.device.id)).catch(() => undefined);
    this.deps.log.info('provisioning run started', { device: decision.device.id, run: runId, profile: decision.profile.metadata.name, hostname });
    return { token, hostname };
  }

  /** Device.spec.hostname wins; else the profile's pattern (sequence allocated once per device); else the device id. */
  async #hostname(decision: Extract<BootDecision, { action: 'install' }>, at: string): Promise<string> {
    const { device, profile } = decision;
    if (device.hostname !== undefined) return device.hostname.toLowerCase();
    const pattern = profile.spec.provisioning!.hostnamePattern;
    const fallback = device.id.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 63).replace(/^-+|-+$/g, '');
    if (pattern === undefined) return fallback;
    const plan = planHostname(pattern, device.labels);
    if (plan.kind === 'fixed') return plan.hostname;
    if (plan.kind === 'invalid') {
      this.deps.log.warn('hostname pattern not usable for this machine; using its device id', { device: device.id, reason: plan.reason });
      return isHostname(fallback) ? fallback : 'deployx-host';
    }
    return formatHostname(plan, await this.deps.store.allocateHostnameSeq(plan.scope, device.id, at));
  }

  /** The run a token belongs to; a finished, superseded, expired or unknown token is refused. */
  async #run(token: string | undefined): Promise<ProvisioningRun> {
    if (token === undefined || !/^dxp_[A-Za-z0-9_-]{20,100}$/.test(token)) throw new ProvisioningError('pxe.token', 'a provisioning token is required');
    const run = await this.deps.store.findActiveRun(hashSecret(token), this.deps.now().toISOString());
    if (!run) throw new ProvisioningError('pxe.token', 'this provisioning token is not valid (finished, superseded, expired or unknown)');
    return run;
  }

  async installerConfig(token: string | undefined, file: string, base: string): Promise<{ body: string; type: string }> {
    const run = await this.#run(token);
    const model = this.deps.model();
    const profile = model?.profiles.get(run.profile)?.doc;
    const image = model?.images.get(run.image)?.doc;
    if (!profile?.spec.provisioning || !image) {
      throw new ProvisioningError('pxe.stale', `profile ${run.profile} or image ${run.image} is gone from the served revision`);
    }
    const render = installerFiles(image)[file];
    if (!render) throw new ProvisioningError('pxe.not-found', `a ${image.spec.installer} run has no ${file}`);
    const ctx: InstallerContext = {
      deviceId: run.deviceId,
      hostname: run.hostname,
      base,
      token: token!,
      enrollmentToken: formatEnrollmentToken(enrollmentTokenFor(token!, run.id), this.deps.serverKey()),
      profile,
      image,
      admin: this.#admin(run.profile),
    };
    this.deps.log.info('installer config served', { device: run.deviceId, run: run.id, file });
    return { body: render(ctx), type: file.endsWith('.xml') ? 'application/xml' : file.endsWith('.json') ? 'application/json' : 'text/plain' };
  }

  /**
   * The admin credential: the server-side secret `provisioning.<profile>.adminPassword`, else
   * `provisioning.adminPassword`. Never from Git, never logged; absent → a locked account.
   */
  #admin(profile: string): InstallerContext['admin'] {
    const secrets = this.deps.secrets();
    const password = secrets[`provisioning.${profile}.adminPassword`] ?? secrets['provisioning.adminPassword'];
    if (password === undefined || password === '') {
      this.deps.log.warn('no admin password secret for provisioning; the admin account is created locked', { profile });
      return { user: ADMIN_USER, passwordCrypt: undefined, windowsPasswordValue: undefined };
    }
    return { user: ADMIN_USER, passwordCrypt: sha512Crypt(password, newCryptSalt()), windowsPasswordValue: unattendPasswordValue(password) };
  }

  async tasks(token: string | undefined, base: string): Promise<TaskSequence & { runId: string; revision: string }> {
    const run = await this.#run(token);
    this.deps.log.info('task sequence served', { device: run.deviceId, run: run.id });
    return {
      runId: run.id,
      revision: run.revision,
      deviceId: run.deviceId,
      hostname: run.hostname,
      server: base,
      enrollmentToken: formatEnrollmentToken(enrollmentTokenFor(token!, run.id), this.deps.serverKey()),
      installer: this.deps.model()?.images.get(run.image)?.doc.spec.installer ?? 'unknown',
      tasks: run.tasks as StoredTask[],
    };
  }

  async reportStep(token: string | undefined, index: number, report: { status: StepStatus; exitCode?: number; log?: string }): Promise<{ runStatus: string }> {
    const run = await this.#run(token);
    const outcome = await this.deps.store.recordProvisioningStep(
      {
        runId: run.id,
        index,
        status: report.status,
        at: this.deps.now().toISOString(),
        ...(report.exitCode !== undefined ? { exitCode: report.exitCode } : {}),
        ...(report.log !== undefined ? { log: report.log } : {}),
      },
      acceptStep,
    );
    if (outcome.outcome === 'inactive') throw new ProvisioningError('pxe.token', 'this provisioning run has ended');
    if (outcome.outcome === 'refused') throw new ProvisioningError(outcome.code as ProvisioningErrorCode, outcome.message);
    const task = run.tasks[index]!;
    this.deps.log.info('provisioning step', { device: run.deviceId, run: run.id, index, type: task.type, status: report.status, exitCode: report.exitCode });
    if (outcome.run.status !== 'active') {
      this.deps.log.info('provisioning run finished', { device: run.deviceId, run: run.id, status: outcome.run.status });
      this.deps.onEvent?.({ type: 'finished', device: run.deviceId, status: outcome.run.status });
    }
    return { runStatus: outcome.run.status };
  }

  /** An artifact the token's run may download (its image artifacts and scripts), to be streamed. */
  async artifact(token: string | undefined, sha256: string): Promise<StoredBlob> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ProvisioningError('pxe.invalid', 'not a sha256');
    const run = await this.#run(token);
    const model = this.deps.model();
    const profile = model?.profiles.get(run.profile)?.doc;
    const allowed = new Set<string>(run.tasks.flatMap((t) => [t.script?.sha256, t.image?.sha256]).filter((x): x is string => x !== undefined));
    if (model && profile?.spec.provisioning) for (const sha of runArtifacts(model, profile)) allowed.add(sha);
    if (!allowed.has(sha256)) throw new ProvisioningError('pxe.not-found', `artifact ${sha256} is not part of this run`);
    const blob = await this.deps.blobs.get(sha256);
    if (!blob) throw new ProvisioningError('pxe.not-found', `artifact ${sha256} is not available`);
    this.deps.log.info('pxe artifact served', { device: run.deviceId, run: run.id, sha256, bytes: blob.size });
    return blob;
  }

  async runner(name: string): Promise<{ body: Buffer; type: string }> {
    const runner = Object.hasOwn(RUNNERS, name) ? RUNNERS[name] : undefined;
    if (!runner) throw new ProvisioningError('pxe.not-found', `no runner ${name}`);
    return { body: await readFile(runner.file), type: runner.type };
  }

  /** An agent connected: the first connection of a device being provisioned makes it `enrolled`. */
  async agentConnected(deviceId: string): Promise<void> {
    this.#awaiting ??= this.deps.store.devicesAwaitingEnrollment().then(
      (ids) => new Set(ids),
      (error: unknown) => {
        this.#awaiting = undefined; // asked again at the next connection
        throw error;
      },
    );
    const awaiting = await this.#awaiting;
    if (!awaiting.has(deviceId)) return;
    awaiting.delete(deviceId);
    if (await this.deps.store.markEnrolled(deviceId, this.deps.now().toISOString())) {
      this.deps.log.info('provisioned device enrolled', { device: deviceId });
      this.deps.onEvent?.({ type: 'enrolled', device: deviceId });
    }
  }

  /** Expiry and cap of discovered machines (discovery-limits.ts), before a new one is recorded. */
  async #pruneDiscovered(now: Date): Promise<void> {
    const limits = this.deps.discoveryLimits ?? DISCOVERY_LIMITS;
    const removed = await this.deps.store.pruneDiscovered({
      before: new Date(now.getTime() - limits.expireAfterMs).toISOString(),
      keep: limits.maxUnknownMachines - 1,
    });
    if (removed > 0) this.deps.log.info('discovered machines forgotten', { removed });
  }

  async discovered(limit: number, all: boolean): Promise<DiscoveredMachine[]> {
    return this.deps.store.listPxeMachines({ limit, unknownOnly: !all });
  }

  async timeline(deviceId: string): Promise<ProvisioningTimeline> {
    const [state, runs, steps] = await Promise.all([
      this.deps.store.getProvisioning(deviceId),
      this.deps.store.listProvisioningRuns(deviceId, 20),
      this.deps.store.listProvisioningSteps(deviceId, 500),
    ]);
    if (!state && runs.length === 0) throw new ProvisioningError('pxe.not-found', `device ${deviceId} has no provisioning history`);
    return {
      deviceId,
      state: state?.state ?? null,
      mac: state?.mac ?? null,
      provisionedAt: state?.provisionedAt ?? null,
      enrolledAt: state?.enrolledAt ?? null,
      runs: runs.map(({ tokenHash: _hidden, ...run }) => ({ ...run, tasks: run.tasks.map((t) => ({ index: t.index, type: t.type, name: t.name, continueOnError: t.continueOnError })) })),
      steps,
    };
  }
}

/** The agent enrollment token of a run, derived from its provisioning token (see the header). */
export function enrollmentTokenFor(provisioningToken: string, runId: string): string {
  return `dxe_${createHmac('sha256', provisioningToken).update(`deployx-enroll:${runId}`).digest('base64url')}`;
}

export { adoptedDeviceId };
