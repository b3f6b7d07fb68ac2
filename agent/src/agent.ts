// The agent: one device's composition of state (spool, inventory, credential), the real
// executors and the protocol (transport/device-link.ts) over the reconnecting connection.
//
//   const agent = new Agent({ server, token, stateDir, exec, logger });
//   await agent.start();        // opens the local state, starts connecting
//   await agent.finished;       // resolves after stop(); rejects with `transport.refused` or
//                               // `transport.not-enrolled` when it cannot connect at all
//   await agent.stop();         // graceful: finish (or cancel and spool) the running job
//
// State directory (0700): credential.json (0600), machine-id, inventory.json, spool/jobs/*.json,
// scripts/ (run records, run intents and runs/<id>/ of scripts, see executors/script.ts),
// children.json (process groups of running jobs, see system/orphans.ts), tmp/. Nothing here reads
// process.env: the CLI passes PATH and the token in.
//
// At start, before any job: temp files of writes a crash interrupted are removed
// (system/temp-cleanup.ts); process groups a dead predecessor left are killed, except scripts,
// whose exit the job that resumes them waits for (a script never runs twice because its agent died).
//
// Sandboxed (`root` set, `deployx agent --root DIR`): every managed path lives under DIR, and the
// agent runs NO package manager — package steps fail with `package.manager-unsupported` instead
// of installing on the host, and the facts say so: `agent.sandbox: true`, no
// `os.packageManager` (the example fleet's groups select sandboxes by `agent.sandbox`).
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Facts } from '../../schemas/facts.ts';
import packageJson from '../../package.json' with { type: 'json' };
import type { PackageManager } from '../../schemas/kinds.ts';
import type { Job } from '../../schemas/protocol.ts';
import { AgentError } from './errors.ts';
import { createExecContext, executors as realExecutors, type ExecContext, type FetchBlob } from './executors/index.ts';
import type { PackageAdapter } from './executors/package/adapter.ts';
import { findRunningScriptGroups } from './executors/script.ts';
import { createPackageAdapters } from './executors/package/index.ts';
import { readCredentials, writeCredentials } from './state/credentials.ts';
import { Inventory, observeAll } from './state/inventory.ts';
import { ObservationSequence } from './state/observation-sequence.ts';
import { Spool } from './state/spool.ts';
import { ServerTrustFiles } from './state/server-trust.ts';
import { ServerTrust } from './transport/server-trust.ts';
import type { Exec } from './system/exec.ts';
import { collectFacts, DEFAULT_SEARCH_PATH } from './system/facts.ts';
import { writeFileAtomic } from './system/fs-atomic.ts';
import { ChildRegistry } from './system/orphans.ts';
import { resolveManagedPath } from './system/paths.ts';
import { removeLeftoverTemps } from './system/temp-cleanup.ts';
import type { BackoffPolicy } from './transport/backoff.ts';
import { createBlobFetcher, deviceBlobAuthorizer, removeStaleParts } from './transport/blob-client.ts';
import { fetchTrusting } from './transport/trusted-fetch.ts';
import { systemClock, type Clock } from './transport/clock.ts';
import { DeviceLink, type LinkEvent, type StopOptions } from './transport/device-link.ts';
import { SecretSet, type Logger } from '../../schemas/log.ts';

export const AGENT_VERSION: string = packageJson.version;

export interface AgentOptions {
  /** Server base URL, e.g. `http://deployx.example:8080`. */
  server: string;
  /** Enrollment token: used when there is no stored credential (or it was refused). */
  token?: string;
  /** The agent's private state directory. */
  stateDir: string;
  /** Sandbox root (`--root`): every managed device path lives under it. */
  root?: string;
  exec: Exec;
  logger: Logger;
  clock?: Clock;
  /** Default AGENT_VERSION (package.json). */
  agentVersion?: string;
  /** Report interval. Default 30 s. */
  heartbeatMs?: number;
  /** Replaces the HTTP blob download (simulator, tests). Callers of it still verify hashes. */
  fetchBlob?: FetchBlob;
  /** Operator labels, reported as `facts.labels`. */
  labels?: Record<string, string>;
  /** Facts merged over the collected ones. */
  facts?: Facts;
  /** Default: `<stateDir>/machine-id`, created once with a random UUID. */
  machineId?: string;
  /** PATH for finding package managers and for scripts. Default DEFAULT_SEARCH_PATH. */
  searchPath?: string;
  /** Device roots file steps may write (per-platform defaults when absent). */
  allowedRoots?: readonly string[];
  /** A job running longer ends `timed_out`. */
  jobTimeoutMs?: number;
  ackTimeoutMs?: number;
  connectTimeoutMs?: number;
  enrollTimeoutMs?: number;
  backoff?: BackoffPolicy;
  refusedBackoff?: BackoffPolicy;
  resultBackoff?: BackoffPolicy;
  random?: () => number;
  /** global fetch by default (fetchTrusting(ca) with `ca`). */
  fetch?: typeof globalThis.fetch;
  /**
   * PEM CA certificates to trust for an https:// server instead of the system's (`--ca FILE`):
   * the socket and blob downloads accept only certificates they issued.
   */
  ca?: string;
  /** Shared with the logger so the credential and token are masked in logs. */
  secrets?: SecretSet;
  onEvent?: (event: LinkEvent) => void;
}

export class Agent {
  private link: DeviceLink | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: AgentOptions) {}

  /** Opens the local state and starts connecting. */
  async start(): Promise<void> {
    if (this.link) throw new Error('agent already started');
    const o = this.options;
    const clock = o.clock ?? systemClock;
    const now = (): Date => clock.now();
    const stateDir = path.resolve(o.stateDir);
    const agentVersion = o.agentVersion ?? AGENT_VERSION;
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const spool = await Spool.open(stateDir, { now });
    const inventory = await Inventory.open(stateDir, { now });
    const sequence = await ObservationSequence.open(stateDir);
    const machineId = o.machineId ?? (await loadMachineId(stateDir));
    const leftovers = await removeLeftoverTemps(await writtenDirectories(stateDir, o.root, o.allowedRoots, inventory, spool));
    if (leftovers.length > 0) o.logger.info('removed temp files left by an interrupted write', { files: leftovers });
    const secrets = o.secrets ?? new SecretSet();
    secrets.add(o.token);

    const trust = new ServerTrust(new ServerTrustFiles(stateDir), o.token);
    const stale = await removeStaleParts(path.join(stateDir, 'downloads'), now());
    if (stale > 0) o.logger.info('removed downloads abandoned for a week', { files: stale });
    const fetchBlob: FetchBlob =
      o.fetchBlob ??
      createBlobFetcher({
        server: o.server,
        authorize: deviceBlobAuthorizer(() => this.link?.identity, () => trust.trusted[0]?.keyid, now),
        // Part files survive an agent restart: the next attempt resumes where this one stopped.
        partDir: path.join(stateDir, 'downloads'),
        clock,
        logger: o.logger,
        ...(o.fetch ? { fetch: o.fetch } : o.ca !== undefined ? { fetch: fetchTrusting(o.ca) } : {}),
        ...(o.random ? { random: o.random } : {}),
      });
    // Process groups a job starts are recorded until they end: after a crash, the next start
    // kills the ones still running before the interrupted job is run again.
    // Script runs are spared: their exit status is collected by the job that resumes them
    // (executors/script.ts), so a script never runs twice because its agent died.
    const children = await ChildRegistry.open(stateDir, { now });
    const scriptGroups = await findRunningScriptGroups(stateDir);
    for (const outcome of await children.reapOrphans({ spare: scriptGroups })) {
      const fields = { pid: outcome.pid, killed: outcome.killed, reason: outcome.reason };
      if (outcome.killed) o.logger.warn('killed a process group left running by a previous run', fields);
      else o.logger.debug('process group of a previous run not killed', fields);
    }
    const jobExec: Exec = (file, args, options = {}) => {
      let pid: number | undefined;
      return o
        .exec(file, args, {
          ...options,
          onSpawn: (spawned) => {
            pid = spawned;
            void children.add(spawned);
            options.onSpawn?.(spawned);
          },
        })
        .finally(() => {
          if (pid !== undefined) void children.remove(pid);
        });
    };

    const sandboxed = o.root !== undefined;
    const contextFor = (exec: Exec) => {
      const packages = sandboxed ? noPackageManagers : createPackageAdapters({ exec });
      return (signal: AbortSignal, job?: Job): ExecContext =>
        createExecContext({
          ...(job === undefined ? {} : { job: { id: job.id, idempotencyKey: job.idempotencyKey } }),
          exec,
          fetchBlob,
          stateDir,
          root: o.root,
          signal,
          now,
          allowedRoots: o.allowedRoots,
          packages,
          scriptEnv: { PATH: o.searchPath ?? DEFAULT_SEARCH_PATH },
        });
    };
    const context = contextFor(jobExec);
    const observeContext = contextFor(o.exec);
    const factOverrides: Facts = {
      ...o.facts,
      ...(o.labels ? { labels: { ...o.labels } } : {}),
      ...(sandboxed ? { agent: { ...o.facts?.agent, sandbox: true } } : {}),
    };
    const facts = async (): Promise<Facts> => {
      const collected = await collectFacts({
        agentVersion,
        ...(o.root === undefined ? {} : { root: o.root }),
        ...(o.searchPath === undefined ? {} : { searchPath: o.searchPath }),
        overrides: factOverrides,
      });
      if (sandboxed && collected.os) delete collected.os.packageManager;
      return collected;
    };

    const latest = inventory.list().reduce<{ at: string; revision?: string }>(
      (best, e) => (e.updatedAt > best.at ? { at: e.updatedAt, revision: e.revision } : best),
      { at: '' },
    );

    this.link = new DeviceLink({
      server: o.server,
      ...(o.ca === undefined ? {} : { ca: o.ca }),
      credentials: { read: () => readCredentials(stateDir), write: (c) => writeCredentials(stateDir, c) },
      enrollment: { ...(o.token === undefined ? {} : { token: o.token }), machineId, facts },
      trust,
      journal: spool,
      inventory,
      sequence,
      executors: realExecutors,
      context,
      observe: async () => ({
        facts: await facts(),
        observed: await observeAll(inventory, observeContext(new AbortController().signal), {
          onError: (key, error) => o.logger.warn('cannot observe a resource', { key, error }),
        }),
      }),
      agentVersion,
      ...(latest.revision === undefined ? {} : { revision: latest.revision }),
      clock,
      logger: o.logger,
      secrets,
      ...pickDefined(o, [
        'random',
        'heartbeatMs',
        'ackTimeoutMs',
        'jobTimeoutMs',
        'backoff',
        'refusedBackoff',
        'resultBackoff',
        'connectTimeoutMs',
        'enrollTimeoutMs',
        'onEvent',
      ]),
    });
    o.logger.info('agent starting', { server: o.server, stateDir, root: o.root, agentVersion, machineId });
    this.running = this.link.run();
  }

  /** Settles when the agent has stopped: resolves after stop(), rejects on a fatal refusal. */
  get finished(): Promise<void> {
    if (!this.running) return Promise.reject(new AgentError('transport.stopped', 'the agent was not started'));
    return this.running;
  }

  get deviceId(): string | undefined {
    return this.link?.identity?.deviceId;
  }

  get connected(): boolean {
    return this.link?.connected ?? false;
  }

  async stop(options: StopOptions = {}): Promise<void> {
    await this.link?.stop(options);
  }
}

/** A sandboxed agent's package managers: none, so nothing is ever installed on the host. */
function noPackageManagers(manager: PackageManager): PackageAdapter {
  throw new AgentError(
    'package.manager-unsupported',
    `${manager}: a sandboxed agent (--root) runs no package manager; package steps are not applied`,
  );
}

/**
 * The directories writeFileAtomic may have left temp files in: the state directory's own, and
 * those of the files the agent manages (the inventory) or was writing (jobs still in flight),
 * resolved and checked like the file executor does (a path outside the allowed roots is skipped).
 */
async function writtenDirectories(
  stateDir: string,
  root: string | undefined,
  allowedRoots: readonly string[] | undefined,
  inventory: Inventory,
  spool: Spool,
): Promise<string[]> {
  const dirs = [stateDir, path.join(stateDir, 'spool', 'jobs'), path.join(stateDir, 'scripts')];
  const steps = [...inventory.list().map((e) => e.step), ...(await spool.inFlight().catch(() => [] as Job[])).flatMap((j) => j.steps ?? [])];
  for (const step of steps) {
    if (step.action !== 'file.write' && step.action !== 'file.delete') continue;
    try {
      const target = await resolveManagedPath(root, step.path, process.platform, allowedRoots === undefined ? {} : { allowedRoots });
      dirs.push(path.dirname(target.hostPath));
    } catch {
      // Not a path the agent may write: nothing of ours there.
    }
  }
  return dirs;
}

/** A stable id for this installation, kept in the state directory. */
async function loadMachineId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'machine-id');
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing !== '') return existing;
  const id = randomUUID();
  await writeFileAtomic(file, `${id}\n`, { mode: 0o600 });
  return id;
}

function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
