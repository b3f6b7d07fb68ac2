// The server's configuration: command-line options first, then the environment. This is the only
// module of the reconciler that reads process.env.
import path from 'node:path';
import { readDuration } from '../../schemas/duration.ts';

export interface ServerConfig {
  /** A local repository path or an http(s) URL. */
  repo: string;
  /** The fleet root inside the repository. */
  path: string | undefined;
  branch: string;
  dataDir: string;
  host: string;
  port: number;
  pollIntervalMs: number;
  /** Basic or bearer auth for an http(s) repository. */
  gitAuth: { username?: string; password?: string; token?: string } | undefined;
  /** HMAC secret of push webhooks; unsigned webhooks are refused when set. */
  webhookSecret: string | undefined;
  /** Admin API token; generated into the data dir when not given. */
  apiToken: string | undefined;
  /** How long an agent has to acknowledge a job before it is re-sent. */
  jobAckTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The built dashboard served at `/` (`npm run build` makes it); none when undefined. */
  dashboardDir?: string | undefined;
  /**
   * The URL machines and installers are given for this server (`http://deployx.corp:8080`), when
   * it is not the one they used to reach it (a proxy or NAT in between). Default: the request's
   * Host header.
   */
  publicUrl?: string | undefined;
  /** How long a dashboard login lasts. Default 12 h. */
  sessionTtlMs?: number;
  /** How often `/ui` deltas are flushed (default 250 ms) and the convergence chart sampled (10 s). */
  uiFlushMs?: number;
  statsSampleMs?: number;
}

/** Where `npm run build` puts the dashboard, relative to this file. */
export const DEFAULT_DASHBOARD_DIR = path.resolve(import.meta.dirname, '../../dashboard/dist');

export interface ServeOptions {
  repo?: string;
  path?: string;
  branch?: string;
  data?: string;
  host?: string;
  port?: string;
  poll?: string;
}

export function loadServerConfig(options: ServeOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ServerConfig {
  const repo = options.repo ?? env.DEPLOYX_REPO;
  if (!repo) throw new ConfigError('--repo DIR|URL is required (or DEPLOYX_REPO)');
  const port = Number(options.port ?? env.DEPLOYX_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port ${options.port}: not a port`);
  const poll = parseSeconds(options.poll ?? env.DEPLOYX_POLL ?? '30s');
  if (poll === undefined) throw new ConfigError(`--poll ${options.poll}: use a duration like 30s or 5m`);
  const isUrl = /^https?:\/\//.test(repo);
  const gitAuth =
    env.DEPLOYX_GIT_TOKEN || env.DEPLOYX_GIT_USERNAME
      ? {
          ...(env.DEPLOYX_GIT_USERNAME ? { username: env.DEPLOYX_GIT_USERNAME } : {}),
          ...(env.DEPLOYX_GIT_PASSWORD ? { password: env.DEPLOYX_GIT_PASSWORD } : {}),
          ...(env.DEPLOYX_GIT_TOKEN ? { token: env.DEPLOYX_GIT_TOKEN } : {}),
        }
      : undefined;
  const level = env.DEPLOYX_LOG_LEVEL ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError(`DEPLOYX_LOG_LEVEL=${level}: use debug|info|warn|error`);
  return {
    repo: isUrl ? repo : path.resolve(cwd, repo),
    path: options.path ?? env.DEPLOYX_PATH,
    branch: options.branch ?? env.DEPLOYX_BRANCH ?? 'main',
    dataDir: path.resolve(cwd, options.data ?? env.DEPLOYX_DATA ?? '.deployx/server'),
    host: options.host ?? env.DEPLOYX_HOST ?? '127.0.0.1',
    port,
    pollIntervalMs: poll,
    gitAuth,
    webhookSecret: env.DEPLOYX_WEBHOOK_SECRET || undefined,
    apiToken: env.DEPLOYX_API_TOKEN || undefined,
    jobAckTimeoutMs: 10_000,
    logLevel: level as ServerConfig['logLevel'],
    publicUrl: publicUrlFrom(env.DEPLOYX_PUBLIC_URL),
    dashboardDir: env.DEPLOYX_DASHBOARD_DIR ? path.resolve(cwd, env.DEPLOYX_DASHBOARD_DIR) : DEFAULT_DASHBOARD_DIR,
  };
}

function publicUrlFrom(text: string | undefined): string | undefined {
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`DEPLOYX_PUBLIC_URL=${text}: not a URL`);
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`DEPLOYX_PUBLIC_URL=${text}: use http(s)://host[:port][/path], without credentials or query`);
  }
  return url.toString().replace(/\/+$/, '');
}

export class ConfigError extends Error {
  readonly code = 'config.invalid';
}

/** A duration (`30s`, `5m`, `1h`) → milliseconds; `0` (or `0s`) disables polling. */
function parseSeconds(text: string): number | undefined {
  return text === '0' ? 0 : readDuration(text, { zero: true });
}
