// N simulated devices in one process, each speaking the real protocol over its own socket.io
// connection: the same DeviceLink as the real agent (enrollment, spool-until-ack, redelivery,
// reports, heartbeats, backoff), with an in-memory machine (memory-host.ts) instead of a disk
// and package managers.
//
//   const sim = await startSimulation({ server, agents: 50, token, stateDir });
//   await sim.ready;            // every device connected once (or failed its first attempt)
//   sim.stats();                // counters across devices
//   await sim.stop();
//
// - Devices are `<prefix>-1` … `<prefix>-N`; their credentials live in one JSON file in
//   `stateDir`, so a restarted simulator reconnects as the same devices (machineId
//   `<prefix>-<n>` also lets the server re-bind them if that file is lost).
// - Connections open in batches (`batchSize`, default 200): a batch starts when the previous one
//   has settled, so 10,000 devices start on a 2-core machine without a handshake storm.
// - Faults are deterministic (faults.ts): a device fails a job when hash(name + idempotencyKey)
//   < failureRate, and always when it is in `failDevices`.
// - Blobs are fetched once per SHA-256 for all devices (blob-cache.ts) and verified.
import { SharedServerTrust } from '../state/server-trust.ts';
import { ServerTrust } from '../transport/server-trust.ts';
import { deviceBlobAuthorizer } from '../transport/blob-client.ts';
import type { Job } from '../../../schemas/protocol.ts';
import type { Facts } from '../../../schemas/facts.ts';
import { AGENT_VERSION } from '../agent.ts';
import { AgentError, describeError } from '../errors.ts';
import { createExecContext, type ExecContext } from '../executors/index.ts';
import { Inventory, observeAll } from '../state/inventory.ts';
import { MemoryObservationSequence } from '../state/observation-sequence.ts';
import type { Exec } from '../system/exec.ts';
import type { BackoffPolicy } from '../transport/backoff.ts';
import { systemClock, type Clock } from '../transport/clock.ts';
import { DeviceLink, type LinkEvent } from '../transport/device-link.ts';
import { silentLogger, type Logger } from '../../../schemas/log.ts';
import { SharedBlobCache, type BlobCacheStats } from './blob-cache.ts';
import { SimulatorCredentialFile } from './credential-file.ts';
import { simulatedFacts, simulatedPlatform, type SimulatedIdentity } from './facts.ts';
import { planFaults, type FaultPlan } from './faults.ts';
import { MemoryJournal } from './memory-journal.ts';
import { createMemoryExecutors, MemoryHost } from './memory-host.ts';

export interface SimulationOptions {
  server: string;
  agents: number;
  /** Enrollment token for devices without a stored credential. */
  token?: string;
  /** Labels of every device (plus `index`), reported as `facts.labels`. */
  labels?: Record<string, string>;
  /** 0–1: share of (device, job) pairs that fail, deterministically. Default 0. */
  failureRate?: number;
  /** Device names (`sim-3`) that fail every job. */
  failDevices?: Iterable<string>;
  /** Added to every step that changes something. Default 0. */
  latencyMs?: number;
  /** Hostname and device-name prefix. Default `sim`. */
  prefix?: string;
  /** Device i (1-based) stands for `identities[i - 1]` when given: its name, MACs and OS. */
  identities?: readonly SimulatedIdentity[];
  /** Holds simulator-credentials.json. */
  stateDir: string;
  /** Connections opened at a time. Default 200. */
  batchSize?: number;
  /** A batch that has not settled by then no longer holds the next one back. Default 30 s. */
  batchTimeoutMs?: number;
  /** Default 30 s. */
  heartbeatMs?: number;
  agentVersion?: string;
  /** Default silent; each device logs through child({device}). */
  logger?: Logger;
  clock?: Clock;
  random?: () => number;
  fetch?: typeof globalThis.fetch;
  ackTimeoutMs?: number;
  connectTimeoutMs?: number;
  enrollTimeoutMs?: number;
  backoff?: BackoffPolicy;
  refusedBackoff?: BackoffPolicy;
  resultBackoff?: BackoffPolicy;
  onEvent?: (device: SimulatedDevice, event: LinkEvent) => void;
}

export interface DeviceCounters {
  sessions: number;
  enrollments: number;
  connectFailures: number;
  refusals: number;
  jobsReceived: number;
  jobsRedelivered: number;
  jobsSucceeded: number;
  jobsFailed: number;
  jobsOther: number;
  resultsAcked: number;
  reportsAcked: number;
  /** Reports refused by the server, or whose acknowledgement timed out (each is sent again). */
  reportsRefused: number;
  reportsTimedOut: number;
}

export interface SimulatedDevice {
  readonly name: string;
  readonly index: number;
  readonly labels: Record<string, string>;
  readonly facts: Facts;
  readonly host: MemoryHost;
  readonly link: DeviceLink;
  readonly counters: DeviceCounters;
  /** Set once enrolled (or from the credential file). */
  readonly deviceId: string | undefined;
  /** Why the device stopped for good (credential refused without a token), if it did. */
  readonly fatal: AgentError | undefined;
}

export interface SimulationStats extends Omit<DeviceCounters, 'sessions'> {
  /** Failed connection attempts by code (`connect.timeout`, `server.busy`, `hello.timeout`, …). */
  failuresByCode: Record<string, number>;
  devices: number;
  connected: number;
  /** Devices holding a credential. */
  enrolled: number;
  sessions: number;
  jobsRunning: number;
  fatal: number;
  blobs: BlobCacheStats;
}

export interface Simulation {
  devices: SimulatedDevice[];
  /** By name (`sim-7`). */
  device(name: string): SimulatedDevice | undefined;
  /** Resolves when every batch has settled (each device connected or failed once). */
  ready: Promise<void>;
  stats(): SimulationStats;
  stop(): Promise<void>;
}

const noExec: Exec = async (file) => {
  throw new AgentError('exec.spawn', `a simulated device runs no programs (${file})`);
};

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  if (!Number.isInteger(options.agents) || options.agents < 1) throw new RangeError('agents must be a positive integer');
  const rate = options.failureRate ?? 0;
  if (!(rate >= 0 && rate <= 1)) throw new RangeError('failureRate must be within 0..1');
  const clock = options.clock ?? systemClock;
  const now = (): Date => clock.now();
  const logger = options.logger ?? silentLogger;
  const prefix = options.prefix ?? 'sim';
  const agentVersion = options.agentVersion ?? AGENT_VERSION;
  const failDevices = new Set(options.failDevices ?? []);
  const credentials = await SimulatorCredentialFile.open(options.stateDir);
  const sharedTrust = new SharedServerTrust(options.stateDir);
  const blobs = new SharedBlobCache({
    server: options.server,
    clock,
    logger,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.random ? { random: options.random } : {}),
  });

  const devices: SimulatedDevice[] = [];
  /** Failed attempts by code, the whole simulation's (a device does not need its own). */
  const failuresByCode: Record<string, number> = {};
  const settled: Array<Promise<void>> = [];
  const settleAll: Array<() => void> = [];
  const starters: Array<() => void> = [];
  for (let index = 1; index <= options.agents; index++) {
    const identity = options.identities?.[index - 1];
    const name = identity?.name ?? `${prefix}-${index}`;
    const labels = { ...options.labels, index: String(index) };
    const facts = simulatedFacts({ prefix, index, labels, agentVersion, ...(identity ? { identity } : {}) });
    const { platform, managers } = simulatedPlatform(labels, identity?.os);
    const host = new MemoryHost(platform, managers);
    const plans = new WeakMap<ExecContext, FaultPlan>();
    const { executors, observers } = createMemoryExecutors(host, {
      clock,
      latencyMs: options.latencyMs ?? 0,
      fault: (ctx, step) => {
        const plan = plans.get(ctx);
        return plan?.failKey === step.key ? plan.reason : undefined;
      },
    });
    const inventory = Inventory.memory({ now });
    const counters: DeviceCounters = {
      sessions: 0,
      enrollments: 0,
      connectFailures: 0,
      refusals: 0,
      jobsReceived: 0,
      jobsRedelivered: 0,
      jobsSucceeded: 0,
      jobsFailed: 0,
      jobsOther: 0,
      resultsAcked: 0,
      reportsAcked: 0,
      reportsRefused: 0,
      reportsTimedOut: 0,
    };
    let link: DeviceLink | undefined;
    let fatal: AgentError | undefined;
    let markSettled: () => void = () => {};
    settled.push(new Promise<void>((resolve) => (markSettled = resolve)));
    settleAll.push(() => markSettled());
    const trust = new ServerTrust(sharedTrust.forDevice(), options.token);
    const fetchBlob = blobs.forDevice(deviceBlobAuthorizer(() => link?.identity, () => trust.trusted[0]?.keyid, now));
    const contextFor = (signal: AbortSignal): ExecContext =>
      createExecContext({
        exec: noExec,
        fetchBlob,
        stateDir: `memory:${name}`,
        root: undefined,
        signal,
        now,
        platform,
        packages: (manager) => {
          throw new AgentError('package.manager-unsupported', `simulated device has no ${manager} adapter`);
        },
        privileged: true,
      });
    const device: SimulatedDevice = {
      name,
      index,
      labels,
      facts,
      host,
      counters,
      get link() {
        return link!;
      },
      get deviceId() {
        return link?.identity?.deviceId ?? credentials.get(name)?.deviceId;
      },
      get fatal() {
        return fatal;
      },
    };
    const onEvent = (event: LinkEvent): void => {
      switch (event.type) {
        case 'session':
          counters.sessions++;
          markSettled();
          break;
        case 'connect-failed':
          counters.connectFailures++;
          failuresByCode[event.code] = (failuresByCode[event.code] ?? 0) + 1;
          if (event.refused) counters.refusals++;
          markSettled();
          break;
        case 'enrolled':
          counters.enrollments++;
          break;
        case 'job':
          counters.jobsReceived++;
          if (event.redelivered) counters.jobsRedelivered++;
          break;
        case 'job-finished':
          if (event.status === 'succeeded') counters.jobsSucceeded++;
          else if (event.status === 'failed') counters.jobsFailed++;
          else counters.jobsOther++;
          break;
        case 'result-acked':
          counters.resultsAcked++;
          break;
        case 'report-acked':
          counters.reportsAcked++;
          break;
        case 'report-unacked':
          if (event.reason === 'refused') counters.reportsRefused++;
          else counters.reportsTimedOut++;
          break;
        case 'result-rejected':
        case 'disconnected':
          break;
      }
      options.onEvent?.(device, event);
    };
    link = new DeviceLink({
      server: options.server,
      credentials: credentials.forDevice(name),
      enrollment: { ...(options.token === undefined ? {} : { token: options.token }), machineId: `${prefix}-${index}`, facts: async () => facts },
      // The simulator verifies every hello and job like a real agent (server keys shared in its state dir).
      trust,
      journal: new MemoryJournal(now),
      inventory,
      // In memory like the journal: a restarted simulator is a device with a new state dir.
      sequence: new MemoryObservationSequence(),
      executors,
      context: (signal: AbortSignal, job: Job) => {
        const ctx = contextFor(signal);
        plans.set(ctx, planFaults(name, job, rate, failDevices));
        return ctx;
      },
      observe: async () => ({
        facts,
        observed: await observeAll(inventory, contextFor(new AbortController().signal), { observers }),
      }),
      agentVersion,
      clock,
      logger: logger.child({ device: name }),
      onEvent,
      ...pickDefined(options, [
        'random',
        'heartbeatMs',
        'ackTimeoutMs',
        'connectTimeoutMs',
        'enrollTimeoutMs',
        'backoff',
        'refusedBackoff',
        'resultBackoff',
      ]),
    });
    devices.push(device);
    const started = link;
    starters.push(() => {
      started.run().catch((error: unknown) => {
        fatal = error instanceof AgentError ? error : new AgentError('transport.refused', describeError(error));
        logger.error('simulated device stopped', { device: name, code: fatal.code, error: fatal.message });
        markSettled();
      });
    });
  }

  let stopped = false;
  const batchSize = Math.max(1, options.batchSize ?? 200);
  const batchTimeoutMs = options.batchTimeoutMs ?? 30_000;
  const ready = (async () => {
    for (let start = 0; start < devices.length && !stopped; start += batchSize) {
      const end = Math.min(start + batchSize, devices.length);
      for (let i = start; i < end; i++) starters[i]!();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(settled.slice(start, end)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, batchTimeoutMs))),
      ]);
      clearTimeout(timer);
      logger.info('simulator batch started', { devices: end, of: devices.length });
    }
  })();

  const byName = new Map(devices.map((d) => [d.name, d]));
  return {
    devices,
    device: (name) => byName.get(name),
    ready,
    stats: () => {
      const sum = (pick: (c: DeviceCounters) => number): number => devices.reduce((n, d) => n + pick(d.counters), 0);
      return {
        devices: devices.length,
        connected: devices.filter((d) => d.link.connected).length,
        enrolled: devices.filter((d) => d.deviceId !== undefined).length,
        sessions: sum((c) => c.sessions),
        enrollments: sum((c) => c.enrollments),
        connectFailures: sum((c) => c.connectFailures),
        refusals: sum((c) => c.refusals),
        jobsReceived: sum((c) => c.jobsReceived),
        jobsRedelivered: sum((c) => c.jobsRedelivered),
        jobsRunning: devices.reduce((n, d) => n + d.link.runningJobs, 0),
        jobsSucceeded: sum((c) => c.jobsSucceeded),
        jobsFailed: sum((c) => c.jobsFailed),
        jobsOther: sum((c) => c.jobsOther),
        resultsAcked: sum((c) => c.resultsAcked),
        reportsAcked: sum((c) => c.reportsAcked),
        reportsRefused: sum((c) => c.reportsRefused),
        reportsTimedOut: sum((c) => c.reportsTimedOut),
        fatal: devices.filter((d) => d.fatal !== undefined).length,
        failuresByCode: { ...failuresByCode },
        blobs: { ...blobs.stats },
      };
    },
    stop: async () => {
      stopped = true;
      for (const settle of settleAll) settle();
      await Promise.all(devices.map((d) => d.link.stop({ graceMs: 5_000, flushMs: 2_000 })));
      await ready;
    },
  };
}

function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
