// How commands find the server they act on, one way everywhere:
//
//   --server URL   with an API token from DEPLOYX_TOKEN (or DEPLOYX_API_TOKEN)
//   --data DIR     that data dir (its api-token file, and the URL of the server running on it)
//   neither        the server running on this machine: `deployx serve` and `deployx demo` write a
//                  discovery file (DEPLOYX_RUNTIME_DIR, default ~/.deployx/running/<pid>.json,
//                  0600) and remove it when they stop; the newest one whose process is alive wins
//
// Every choice not given on the command line is said on stderr, so a token is never written to a
// data dir the user did not mean.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isProcessRunning } from '../../schemas/process-alive.ts';
import { UsageError, type CommandIo } from './io.ts';

export const DEFAULT_DATA_DIR = '.deployx/server';

export interface AnnouncedServer {
  pid: number;
  url: string;
  dataDir: string;
  startedAt: string;
  /** The store the server opened, as storeLabel says it (no password). Absent: the data dir's file. */
  store?: { kind: 'sqlite' | 'postgres'; label: string };
}

function runtimeDir(env: NodeJS.ProcessEnv): string {
  return env.DEPLOYX_RUNTIME_DIR || path.join(os.homedir(), '.deployx', 'running');
}

/** Announces a server started by this process; the returned function removes the file. */
export function announceServer(
  server: { url: string; dataDir: string; store?: AnnouncedServer['store'] },
  env: NodeJS.ProcessEnv = process.env,
): () => void {
  const dir = runtimeDir(env);
  const file = path.join(dir, `${process.pid}.json`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const entry: AnnouncedServer = {
      pid: process.pid,
      url: server.url,
      dataDir: path.resolve(server.dataDir),
      startedAt: new Date().toISOString(),
      ...(server.store === undefined ? {} : { store: server.store }),
    };
    writeFileSync(file, JSON.stringify(entry) + '\n', { mode: 0o600 });
  } catch {
    // Discovery is a convenience: a read-only home leaves commands to be given --data or --server.
    return () => {};
  }
  return () => rmSync(file, { force: true });
}

/** Servers announced on this machine whose process is alive, newest first. Stale files are removed. */
export function runningServers(env: NodeJS.ProcessEnv = process.env): AnnouncedServer[] {
  const dir = runtimeDir(env);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const found: AnnouncedServer[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const entry = readEntry(file);
    if (entry === undefined) continue;
    if (isProcessRunning(entry.pid)) found.push(entry);
    else rmSync(file, { force: true });
  }
  return found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

function readEntry(file: string): AnnouncedServer | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<AnnouncedServer>;
    if (typeof value.pid !== 'number' || typeof value.url !== 'string' || typeof value.dataDir !== 'string' || typeof value.startedAt !== 'string') return undefined;
    return value as AnnouncedServer;
  } catch {
    return undefined;
  }
}


/**
 * The data dir a store command (token, user, audit, keys) works on: --data, else the running
 * server's, else `.deployx/server` in the cwd. Says on stderr which it took when not given.
 */
export function resolveDataDir(command: string, data: string | undefined, io: CommandIo, env: NodeJS.ProcessEnv = process.env): string {
  if (data !== undefined && data !== '') return path.resolve(io.cwd, data);
  const [running, ...more] = runningServers(env);
  if (running) {
    const others = more.length > 0 ? ` (${more.length} more running; pass --data to pick one)` : '';
    io.err(`deployx ${command}: using the data dir of the server running at ${running.url} (pid ${running.pid}): ${running.dataDir}${others}`);
    return running.dataDir;
  }
  return path.resolve(io.cwd, DEFAULT_DATA_DIR);
}

/**
 * The server and API token an API command (rollout, device) calls: --server with DEPLOYX_TOKEN or
 * DEPLOYX_API_TOKEN (or the api-token of the running server at that URL), --data DIR's server, or
 * the running server. A UsageError says what to give when none is found.
 */
export function resolveApiServer(
  command: string,
  options: { server?: string | undefined; data?: string | undefined },
  io: CommandIo,
  env: NodeJS.ProcessEnv = process.env,
): { url: string; token: string } {
  const envToken = env.DEPLOYX_TOKEN || env.DEPLOYX_API_TOKEN || '';
  const running = runningServers(env);
  if (options.server !== undefined && options.server !== '') {
    const url = options.server.replace(/\/+$/, '');
    if (envToken !== '') return { url, token: envToken };
    const match = running.find((r) => r.url === url);
    const token = match ? readApiToken(match.dataDir) : undefined;
    if (token === undefined) throw new UsageError(`no API token for ${url}: set DEPLOYX_TOKEN or DEPLOYX_API_TOKEN (the server writes one to <data>/api-token), or use --data DIR`);
    io.err(`deployx ${command}: using the API token of the server running at ${url} (${match!.dataDir}/api-token)`);
    return { url, token };
  }
  if (options.data !== undefined && options.data !== '') {
    const dataDir = path.resolve(io.cwd, options.data);
    const match = running.find((r) => r.dataDir === dataDir);
    if (!match) throw new UsageError(`no running server uses ${dataDir}: start it with deployx serve --data ${options.data}, or give --server URL`);
    return { url: match.url, token: envToken || tokenOf(match) };
  }
  const [first, ...more] = running;
  if (!first) throw new UsageError('no server given and none running here: give --server URL (with DEPLOYX_TOKEN) or --data DIR, or start one (npm start, deployx serve)');
  const others = more.length > 0 ? ` (${more.length} more running; pass --server or --data to pick one)` : '';
  io.err(`deployx ${command}: using the server running at ${first.url} (pid ${first.pid}, data dir ${first.dataDir})${others}`);
  return { url: first.url, token: envToken || tokenOf(first) };
}

function tokenOf(server: AnnouncedServer): string {
  const token = readApiToken(server.dataDir);
  if (token === undefined) throw new UsageError(`cannot read ${server.dataDir}/api-token: set DEPLOYX_TOKEN instead`);
  return token;
}

function readApiToken(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
