// Commit-to-converged with N simulated agents (in child processes, speaking the real protocol)
// against a real server in this process: a one-group change and a fleet-wide change; server
// memory per connected idle agent; how long reports wait between arrival and being stored.
// DEPLOYX_BENCH_SYNC_TIMEOUT_S (default 600) bounds the first convergence.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { createLogger } from '../schemas/log.ts';
import { makeRepo, makeTempDir, removeDir, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import { startServer } from '../reconciler/src/main.ts';
import type { ReconcilerEvent } from '../reconciler/src/loop/reconciler.ts';
import type { BenchResult } from './measure.ts';

const GROUPS = 10;
/** Simulator processes; each runs agents / PROCESSES devices, numbered 1… (the `index` fact). */
const PROCESSES = 10;
const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../cli/bin/deployx.js');

/**
 * Group g takes the devices whose `index` fact (their number within their simulator process) is in
 * the g-th tenth: every group has devices in every simulator process, as a real group's devices
 * are separate machines, and no group's jobs queue behind one process's event loop.
 */
function indexesOf(g: number, perProcess: number): string[] {
  const size = perProcess / GROUPS;
  return Array.from({ length: size }, (_, i) => `"${g * size + i + 1}"`);
}

function inGroup0(deviceId: string, perProcess: number): boolean {
  const index = Number(deviceId.slice(deviceId.lastIndexOf('-') + 1));
  return index >= 1 && index <= perProcess / GROUPS;
}

function fleet(version: { group0: string; common: string }, perProcess: number): FileTree {
  const tree: FileTree = {
    'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: bench }\nspec: {}\n',
    'files.yaml': `apiVersion: deployx.dev/v1\nkind: FileDeployment\nmetadata: { name: common }\nspec:\n  path: /etc/bench/common.conf\n  content: ${JSON.stringify(version.common)}\n`,
    'base.yaml': `apiVersion: deployx.dev/v1\nkind: Profile\nmetadata: { name: base }\nspec:\n  targets: [${Array.from({ length: GROUPS }, (_, g) => `g${g}`).join(', ')}]\n  files: [common]\n`,
  };
  for (let g = 0; g < GROUPS; g++) {
    tree[`groups/g${g}.yaml`] = `apiVersion: deployx.dev/v1
kind: Group
metadata: { name: g${g} }
spec:
  selector:
    matchFacts: [{ key: labels.index, operator: In, values: [${indexesOf(g, perProcess).join(', ')}] }]
---
apiVersion: deployx.dev/v1
kind: FileDeployment
metadata: { name: conf-g${g} }
spec:
  path: /etc/bench/g${g}.conf
  content: ${JSON.stringify(g === 0 ? version.group0 : `group ${g}\n`)}
---
apiVersion: deployx.dev/v1
kind: Profile
metadata: { name: p-g${g} }
spec:
  targets: [g${g}]
  files: [conf-g${g}]
`;
  }
  return tree;
}

/**
 * With DEPLOYX_BENCH_CPU_PROFILE=DIR, the server's CPU profile of the first convergence and of
 * each change (commit → last result) is written to DIR/<bench>.cpuprofile (open it in Chrome's
 * DevTools).
 */
async function startProfile(): Promise<{ stop: (name: string) => Promise<void> } | undefined> {
  const dir = process.env.DEPLOYX_BENCH_CPU_PROFILE;
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** How long the server sits idle before its memory per agent is taken. */
const IDLE_MS = 30_000;

/** The process's memory after a full collection; `free`: V8 heap committed but not in use. */
function memorySample(): { rss: number; used: number; free: number } {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, used: m.heapUsed + m.external, free: m.heapTotal - m.heapUsed };
}

function timeline(m: { acceptedMs: number; sentP95: number; serverCpuMs: number; commitMs: number }): string {
  return `revision accepted after ${m.acceptedMs.toFixed(0)} ms, jobs acknowledged by p95 ${m.sentP95.toFixed(0)} ms; server CPU ${m.serverCpuMs.toFixed(0)} ms; writing the commit took the bench ${m.commitMs.toFixed(0)} ms (not counted)`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function converge(agents: number): Promise<BenchResult[]> {
  const perProcess = agents / PROCESSES;
  const dir = await makeTempDir('deployx-bench-converge-');
  const children: ChildProcess[] = [];
  const succeeded = new Map<string, number>();
  const dispatched = new Map<string, number>();
  let acceptedAt = 0;
  const onEvent = (e: ReconcilerEvent) => {
    if (e.type === 'revision' && e.status === 'accepted') acceptedAt = performance.now();
    if (e.type === 'job' && e.state === 'succeeded') succeeded.set(e.deviceId, performance.now());
    if (e.type === 'job' && e.state === 'dispatched') dispatched.set(e.deviceId, performance.now());
  };
  const logStream = createWriteStream(path.join(dir, 'server.log'));
  const repo = await makeRepo(path.join(dir, 'repo'), fleet({ group0: 'v1\n', common: 'v1\n' }, perProcess));
  const server = await startServer(
    {
      repo: path.join(dir, 'repo'),
      path: undefined,
      branch: 'main',
      dataDir: path.join(dir, 'server'),
      host: '127.0.0.1',
      port: 0,
      pollIntervalMs: 0,
      gitAuth: undefined,
      webhookSecret: undefined,
      apiToken: undefined,
      jobAckTimeoutMs: 30_000,
      logLevel: 'warn',
    },
    { onEvent, log: createLogger({ level: 'warn', write: (l) => logStream.write(l + '\n') }) },
  ).catch(async (error) => {
    await removeDir(dir);
    throw error;
  });
  try {
    server.reconciler.enqueueSource();
    await until('the first revision', () => server.reconciler.revision !== undefined, 30_000);
    const before = memorySample();

    const started = performance.now();
    for (let p = 0; p < PROCESSES; p++) {
      const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: `sim${p}` });
      const child = spawn(
        process.execPath,
        [CLI, 'simulate', '--server', server.url, '--agents', String(perProcess), '--token', token, '--prefix', `s${p}`, '--heartbeat', '1h', '--state', path.join(dir, `sim-${p}`), '--stats-every', '0s', '--batch', '100'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
    }
    const inSync = () => [...server.reconciler.statuses.values()].filter((s) => s.state === 'in_sync').length;
    // Says where a slow first convergence stands, every 30 s and in the timeout's message.
    const states = () => {
      const counts = new Map<string, number>();
      for (const s of server.reconciler.statuses.values()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
      return `${server.gateway.connectedCount} connected, ${server.gateway.busyRefusals} handshakes told server.busy; ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'no statuses'}`;
    };
    const progress = setInterval(() => console.error(`converge ${agents}: ${((performance.now() - started) / 1000).toFixed(0)} s, ${states()}`), 30_000);
    const firstProfile = await startProfile();
    try {
      await until(`${agents} devices in sync`, () => inSync() >= agents, Number(process.env.DEPLOYX_BENCH_SYNC_TIMEOUT_S ?? 600) * 1000);
    } catch (error) {
      throw new Error(`${(error as Error).message} (${states()})`);
    } finally {
      clearInterval(progress);
      await firstProfile?.stop(`first-convergence-${agents}`);
    }
    const enrolled = (performance.now() - started) / 1000;

    // Memory per idle agent: right after the first convergence, and once the server has been
    // idle for 30 s (by then V8 has given back most of what the enrolment storm left, and each
    // connection's last large frame is no longer held). Per agent is the growth over the server
    // before any agent connected.
    await new Promise((r) => setTimeout(r, 2_000));
    const busy = memorySample();
    await new Promise((r) => setTimeout(r, IDLE_MS - 2_000));
    const idle = memorySample();
    const kb = (bytes: number) => bytes / agents / 1024;
    const perAgentKb = kb(idle.rss - before.rss);
    const memoryDetail =
      `RSS growth per agent after ${IDLE_MS / 1000} s idle: V8 heap in use + external ${kb(idle.used - before.used).toFixed(1)} KB, ` +
      `heap committed but free ${kb(idle.free - before.free).toFixed(1)} KB, native and allocator ${kb(idle.rss - idle.used - idle.free - (before.rss - before.used - before.free)).toFixed(1)} KB. ` +
      `2 s after convergence: RSS ${kb(busy.rss - before.rss).toFixed(1)} KB, heap in use + external ${kb(busy.used - before.used).toFixed(1)} KB`;
    // A report burst: every idle device reports at once.
    server.gateway.resetIngestStats();
    const burstStart = performance.now();
    for (const child of children) child.kill('SIGUSR2');
    await until(`${agents} burst reports stored`, () => server.gateway.ingest.reportsStored >= agents, 120_000);
    const burst = { ...server.gateway.ingest, seconds: (performance.now() - burstStart) / 1000 };

    const measureChange = async (change: { group0: string; common: string }, targets: (id: string) => boolean, count: number, name: string) => {
      const profiler = await startProfile();
      succeeded.clear();
      dispatched.clear();
      // Latency runs from the moment the commit exists, when a push's webhook would arrive (the
      // bench's own `git commit` is the Git client's time, reported apart).
      const writing = performance.now();
      await repo.commit(fleet(change, perProcess), 'change');
      const commitMs = performance.now() - writing;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      server.reconciler.enqueueSource();
      await until(`${count} devices converged`, () => [...succeeded.keys()].filter(targets).length >= count, 600_000);
      const latencies = [...succeeded.entries()].filter(([id]) => targets(id)).map(([, t]) => t - t0).sort((a, b) => a - b);
      const sent = [...dispatched.entries()].filter(([id]) => targets(id)).map(([, t]) => t - t0).sort((a, b) => a - b);
      // CPU the server process spent from commit to the last result: what is the server's, apart
      // from the simulators competing for the same cores.
      const cpu = process.cpuUsage(cpu0);
      const serverCpuMs = (cpu.user + cpu.system) / 1000;
      await profiler?.stop(`converge-${agents}-${name}`);
      await until('all in sync again', () => inSync() >= agents, 120_000);
      return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1)!, sentP95: percentile(sent, 95), serverCpuMs, commitMs, acceptedMs: acceptedAt - t0 };
    };
    const oneGroup = await measureChange({ group0: 'v2\n', common: 'v1\n' }, (id) => inGroup0(id, perProcess), agents / GROUPS, 'one-group');
    const fleetWide = await measureChange({ group0: 'v2\n', common: 'v2\n' }, () => true, agents, 'fleet-wide');

    const label = `${agents.toLocaleString('en')} agents`;
    return [
      {
        name: `converge: one-group change (${agents / GROUPS} devices), ${label}`,
        value: oneGroup.p95,
        unit: 'ms',
        target: agents >= 10_000 ? 'p95 ≤ 1000 ms' : 'recorded',
        detail: `p50 ${oneGroup.p50.toFixed(0)} ms, p95 ${oneGroup.p95.toFixed(0)} ms, max ${oneGroup.max.toFixed(0)} ms (commit → job result stored); ${timeline(oneGroup)}`,
      },
      {
        name: `converge: fleet-wide change, ${label}`,
        value: fleetWide.max,
        unit: 'ms',
        target: agents >= 10_000 ? 'all ≤ 10000 ms' : 'recorded',
        detail: `p50 ${fleetWide.p50.toFixed(0)} ms, p95 ${fleetWide.p95.toFixed(0)} ms, last device ${fleetWide.max.toFixed(0)} ms; ${timeline(fleetWide)}`,
      },
      {
        name: `server memory per connected idle agent, ${label}`,
        value: perAgentKb,
        unit: 'KB',
        target: agents >= 10_000 ? '≤ 20 KB' : 'recorded',
        detail: `${memoryDetail}; enrolment + first convergence took ${enrolled.toFixed(1)} s`,
      },
      {
        name: `report burst: longest wait from arrival to stored, ${label}`,
        value: burst.maxStoreLatencyMs,
        unit: 'ms',
        target: agents >= 10_000 ? '≤ 1000 ms' : 'recorded',
        detail: `${burst.reportsStored} reports from every device at once (SIGUSR2 to the simulators), mean wait ${(burst.totalStoreLatencyMs / Math.max(1, burst.reportsStored)).toFixed(0)} ms, all stored ${burst.seconds.toFixed(1)} s after the signal`,
      },
    ];
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await server.close();
    await removeDir(dir);
  }
}

export async function benchConverge(): Promise<BenchResult[]> {
  const sizes = (process.env.DEPLOYX_BENCH_AGENTS ?? '1000,10000').split(',').map(Number);
  const results: BenchResult[] = [];
  for (const n of sizes) results.push(...(await converge(n)));
  return results;
}
