// The one way a process opens its store: SQLite in a file (the embedded default,
// `<data dir>/deployx.sqlite`) or PostgreSQL at a `postgres://` URL, chosen by `--store` or
// DEPLOYX_STORE. A failure to open is a StoreOpenError whose message a person can act on: what
// failed, why, what to do. It never holds the URL's password, nor SQL or driver text (those stay
// in `cause`, for --debug).
import path from 'node:path';
import { openPgStore } from './pg-store.ts';
import { sqlState } from './pg-db.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { isStoreError, type Store } from './store.ts';

export type StoreSpec = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  readonly code = 'store.open';
}

/** The file a data dir's embedded store lives in. */
export function defaultStoreFile(dataDir: string): string {
  return path.join(dataDir, 'deployx.sqlite');
}

/**
 * What `--store` (or DEPLOYX_STORE) names: a `postgres://` or `postgresql://` URL, or a SQLite
 * file (relative to `cwd`); absent or empty, the data dir's file. Any other URL is refused.
 */
export function storeSpecFrom(value: string | undefined, dataDir: string, cwd = process.cwd()): StoreSpec {
  if (value === undefined || value.trim() === '') return { kind: 'sqlite', file: defaultStoreFile(dataDir) };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'sqlite', file: path.resolve(cwd, value) };
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new StoreOpenError(`--store: ${scheme}:// is not a store DeployX opens; give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or a SQLite file path`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StoreOpenError('--store: the postgres:// URL cannot be read; give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (percent-encode special characters in the password)');
  }
  return { kind: 'postgres', url: url.href };
}

/** How logs and messages name a store: the file, or the server, user and database — never the password. */
export function storeLabel(spec: StoreSpec): string {
  if (spec.kind === 'sqlite') return `the SQLite store ${spec.file}`;
  const url = new URL(spec.url);
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return `PostgreSQL ${user}${url.host || 'localhost'}${database ? `/${database}` : ''}`;
}

/** Opens (creating and migrating as needed) the store `spec` names. Throws StoreOpenError. */
export async function openStore(spec: StoreSpec, options: { now?: () => Date } = {}): Promise<Store> {
  try {
    return spec.kind === 'sqlite' ? await openSqliteStore({ file: spec.file, ...options }) : await openPgStore({ url: spec.url, ...options });
  } catch (err) {
    throw new StoreOpenError(openFailure(spec, err), { cause: err });
  }
}

/** Driver and network codes, in words. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'no answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

function openFailure(spec: StoreSpec, err: unknown): string {
  const where = storeLabel(spec);
  if (isStoreError(err, 'store.schema-too-new')) return `${where}: ${err.message}`;
  if (isStoreError(err, 'store.migration-failed')) {
    return `${where}: a schema migration failed and was rolled back, the database is unchanged; run again with --debug for the database's reason`;
  }
  if (spec.kind === 'sqlite') {
    if (isStoreError(err, 'store.unavailable')) return `${where} cannot be opened (busy, locked, unreadable or out of space); check the file and its directory, then retry`;
    return `${where} cannot be opened; run again with --debug for the reason`;
  }
  const url = new URL(spec.url);
  const code = sqlState(err) ?? '';
  if (code === '28P01' || code === '28000') {
    return `${where} refused the login (${code === '28P01' ? 'wrong password' : 'not allowed'}); check the user and password in --store / DEPLOYX_STORE`;
  }
  if (code === '3D000') {
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    return `${where}: the database does not exist; create it (createdb ${database}) or name another in --store / DEPLOYX_STORE`;
  }
  if (isStoreError(err, 'store.unavailable')) {
    const reason = REASONS[code] ?? (/timeout/i.test((err as Error).message) ? 'no answer' : 'unavailable');
    return `${where} cannot be reached (${reason}); start PostgreSQL or fix --store / DEPLOYX_STORE, then retry`;
  }
  return `${where} refused to open the store${code ? ` (SQLSTATE ${code})` : ''}; run again with --debug for the reason`;
}
