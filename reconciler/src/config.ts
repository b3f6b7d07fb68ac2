// The server's configuration: command-line options first, then the environment. This is the only
// module of the reconciler that reads process.env.
import path from 'node:path';
import { readDuration } from '../../schemas/duration.ts';
import { StoreOpenError, storeSpecFrom, type StoreSpec } from './edges/store/open-store.ts';

export interface ServerConfig {
  /** A local repository path or an http(s) URL. */
  repo: string;
  /** The fleet root inside the repository. */
  path: string | undefined;
  branch: string;
  dataDir: string;
  /**
   * Where the state lives: `--store` / DEPLOYX_STORE, a `postgres://` URL or a SQLite file.
   * Default: the SQLite file in the data dir. Its URL may hold a password: log storeLabel(store).
   */
  store?: StoreSpec;
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
  /**
   * HTTPS and WSS on the one port: PEM files of the certificate (with its chain) and its private
   * key. Both or neither.
   */
  tls?: { certFile: string; keyFile: string } | undefined;
  /**
   * Express's `trust proxy`, for a TLS-terminating reverse proxy in front: which peers'
   * X-Forwarded-Proto / -For / -Host to believe (`loopback`, addresses or CIDRs, a hop count,
   * `true` for any). Then a request the proxy received over HTTPS is `secure` (its session cookie
   * gets `Secure`) and the client address (login throttling) is the proxy's X-Forwarded-For.
   */
  trustProxy?: boolean | number | string | undefined;
  /** How often `/ui` deltas are flushed (default 250 ms) and the convergence chart sampled (10 s). */
  uiFlushMs?: number;
  statsSampleMs?: number;
  /**
   * Which commits must carry a signature by a trusted key (docs/security.md, "Commit signatures").
   * The keys come from the server's own files, never from the repository it verifies.
   */
  commitVerification?: CommitVerificationConfig;
}

export type CommitVerificationMode = 'off' | 'head' | 'all';

export interface CommitVerificationConfig {
  /** `off`: none; `head`: the branch head; `all`: every commit since the last accepted revision. */
  mode: CommitVerificationMode;
  /** Armored OpenPGP public key files (`gpg --armor --export`). */
  openpgpKeyFiles: string[];
  /** An SSH `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS). */
  allowedSignersFile: string | undefined;
}

/** Where `npm run build` puts the dashboard, relative to this file. */
export const DEFAULT_DASHBOARD_DIR = path.resolve(import.meta.dirname, '../../dashboard/dist');

export interface ServeOptions {
  repo?: string;
  path?: string;
  branch?: string;
  data?: string;
  /** A `postgres://` URL or a SQLite file. */
  store?: string;
  host?: string;
  port?: string;
  poll?: string;
  /** `off` | `head` | `all`. */
  'verify-commits'?: string;
  /** Armored OpenPGP public key files (repeatable; also comma-separated). */
  'trusted-openpgp-keys'?: string[];
  /** An SSH allowed_signers file. */
  'trusted-ssh-signers'?: string;
  tlsCert?: string;
  tlsKey?: string;
  trustProxy?: string;
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
  const tlsCert = options.tlsCert ?? env.DEPLOYX_TLS_CERT;
  const tlsKey = options.tlsKey ?? env.DEPLOYX_TLS_KEY;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError('--tls-cert and --tls-key go together: give both PEM files, or neither for plain HTTP');
  const trustProxy = trustProxyFrom(options.trustProxy ?? env.DEPLOYX_TRUST_PROXY);
  const level = env.DEPLOYX_LOG_LEVEL ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError(`DEPLOYX_LOG_LEVEL=${level}: use debug|info|warn|error`);
  const dataDir = path.resolve(cwd, options.data ?? env.DEPLOYX_DATA ?? '.deployx/server');
  let store: StoreSpec;
  try {
    store = storeSpecFrom(options.store ?? env.DEPLOYX_STORE, dataDir, cwd);
  } catch (error) {
    if (error instanceof StoreOpenError) throw new ConfigError(error.message);
    throw error;
  }
  return {
    repo: isUrl ? repo : path.resolve(cwd, repo),
    path: options.path ?? env.DEPLOYX_PATH,
    branch: options.branch ?? env.DEPLOYX_BRANCH ?? 'main',
    dataDir,
    store,
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
    ...(tlsCert !== undefined && tlsKey !== undefined ? { tls: { certFile: path.resolve(cwd, tlsCert), keyFile: path.resolve(cwd, tlsKey) } } : {}),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    commitVerification: loadCommitVerification(options, env, cwd),
  };
}

/**
 * `--verify-commits` / DEPLOYX_VERIFY_COMMITS, `--trusted-openpgp-keys` / DEPLOYX_TRUSTED_OPENPGP_KEYS
 * (files, comma-separated), `--trusted-ssh-signers` / DEPLOYX_TRUSTED_SSH_SIGNERS. Shared by
 * `serve`, `validate` and `plan`. Only the file names are checked here; the keys are read when the
 * server starts (edges/signatures/commit-verifier.ts `loadTrustedKeys`).
 */
export function loadCommitVerification(
  options: Pick<ServeOptions, 'verify-commits' | 'trusted-openpgp-keys' | 'trusted-ssh-signers'>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): CommitVerificationConfig {
  const mode = options['verify-commits'] ?? env.DEPLOYX_VERIFY_COMMITS ?? 'off';
  if (mode !== 'off' && mode !== 'head' && mode !== 'all') throw new ConfigError(`--verify-commits ${mode}: use off, head or all`);
  const openpgp = options['trusted-openpgp-keys'] ?? (env.DEPLOYX_TRUSTED_OPENPGP_KEYS ? [env.DEPLOYX_TRUSTED_OPENPGP_KEYS] : []);
  const openpgpKeyFiles = openpgp.flatMap((list) => list.split(',')).map((f) => f.trim()).filter((f) => f !== '').map((f) => path.resolve(cwd, f));
  const signers = options['trusted-ssh-signers'] ?? env.DEPLOYX_TRUSTED_SSH_SIGNERS;
  const allowedSignersFile = signers ? path.resolve(cwd, signers) : undefined;
  if (mode !== 'off' && openpgpKeyFiles.length === 0 && allowedSignersFile === undefined) {
    throw new ConfigError(`--verify-commits ${mode} needs trusted keys: --trusted-ssh-signers FILE and/or --trusted-openpgp-keys FILE`);
  }
  return { mode, openpgpKeyFiles, allowedSignersFile };
}

const TRUST_WORD = /^(loopback|linklocal|uniquelocal)$/;
const TRUST_ADDRESS = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;

/**
 * `--trust-proxy`: `true`, a hop count, or a comma-separated list of `loopback`, `linklocal`,
 * `uniquelocal`, addresses and CIDRs (express's `trust proxy` values). Undefined: trust nobody.
 */
export function trustProxyFrom(text: string | undefined): boolean | number | string | undefined {
  if (text === undefined || text === '' || text === 'false') return undefined;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text);
  const parts = text.split(',').map((p) => p.trim());
  if (parts.every((p) => TRUST_WORD.test(p) || TRUST_ADDRESS.test(p))) return parts.join(',');
  throw new ConfigError(`--trust-proxy ${text}: use loopback, the proxy's addresses or CIDRs (comma-separated), a hop count, or true`);
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
