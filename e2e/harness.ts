// Whole-system test harness: a real server (SQLite file, Git over smart HTTP or a local repo,
// socket.io on port 0), real agent processes, and polling helpers.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Role } from '../schemas/protocol.ts';
import { createUser } from '../reconciler/src/actions/users.ts';
import { DEFAULT_DASHBOARD_DIR, type ServerConfig } from '../reconciler/src/config.ts';
import { createLogger } from '../schemas/log.ts';
import { startServer, type RunningServer } from '../reconciler/src/main.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function startTestServer(options: {
  repo: string;
  dataDir: string;
  port?: number;
  webhookSecret?: string;
  logFile?: string;
  jobAckTimeoutMs?: number;
  /** Dashboard users created once the server is up (skipped when they exist: restarts). */
  users?: Array<{ name: string; role: Role; password: string }>;
  uiFlushMs?: number;
  statsSampleMs?: number;
  /** Trusted keys and mode for commit signatures (default: off). */
  commitVerification?: ServerConfig['commitVerification'];
  /** HTTPS and WSS with these PEM files. */
  tls?: { certFile: string; keyFile: string };
  /** Express's `trust proxy` (the test client plays the proxy: `loopback`). */
  trustProxy?: string | boolean;
}): Promise<RunningServer> {
  const config: ServerConfig = {
    repo: options.repo,
    path: undefined,
    branch: 'main',
    dataDir: options.dataDir,
    host: '127.0.0.1',
    port: options.port ?? 0,
    pollIntervalMs: 0,
    gitAuth: undefined,
    webhookSecret: options.webhookSecret,
    apiToken: undefined,
    jobAckTimeoutMs: options.jobAckTimeoutMs ?? 3_000,
    logLevel: 'debug',
    dashboardDir: DEFAULT_DASHBOARD_DIR,
    ...(options.uiFlushMs === undefined ? {} : { uiFlushMs: options.uiFlushMs }),
    ...(options.statsSampleMs === undefined ? {} : { statsSampleMs: options.statsSampleMs }),
    ...(options.commitVerification === undefined ? {} : { commitVerification: options.commitVerification }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.trustProxy === undefined || options.trustProxy === false ? {} : { trustProxy: options.trustProxy }),
  };
  await mkdir(options.dataDir, { recursive: true });
  const out = createWriteStream(options.logFile ?? path.join(options.dataDir, 'server.log'), { flags: 'a' });
  const server = await startServer(config, { log: createLogger({ level: 'debug', write: (line) => out.write(line + '\n') }) });
  for (const user of options.users ?? []) {
    if (!(await server.store.getUser(user.name))) await createUser(server.store, user);
  }
  return server;
}

export interface AgentProcess {
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A real `deployx agent` process. */
export async function spawnAgent(options: {
  server: string;
  stateDir: string;
  /** Confine the agent under this directory; omitted, it manages the machine itself. */
  root?: string;
  token?: string;
  extraArgs?: string[];
}): Promise<AgentProcess> {
  await mkdir(options.stateDir, { recursive: true });
  if (options.root) await mkdir(options.root, { recursive: true });
  const logFile = path.join(options.stateDir, `agent-${Date.now()}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const args = [CLI, 'agent', '--server', options.server, '--state', options.stateDir, '--heartbeat', '2s'];
  if (options.root) args.push('--root', options.root);
  if (options.token) args.push('--token', options.token);
  args.push(...(options.extraArgs ?? []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: PROJECT_ROOT });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logFile,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET a JSON API path with the server's admin token. */
export async function api<T = unknown>(server: RunningServer, pathname: string): Promise<T> {
  const res = await fetch(server.url + pathname, { headers: { authorization: `Bearer ${server.apiToken}` } });
  if (!res.ok) throw new Error(`${pathname}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
