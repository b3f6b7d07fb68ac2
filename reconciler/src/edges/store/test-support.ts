// Builders and temporary stores for the store's tests: real SQLite files and real PostgreSQL
// schemas, no mocks. `describeStores` runs a file's contract tests once per backend.
//
// PostgreSQL: DEPLOYX_TEST_PG names the server (default postgres://postgres@127.0.0.1:5432/postgres);
// every test gets a schema of its own there, dropped after it. When no server answers, the
// PostgreSQL suites skip and say why — except under CI=true, where that is a failure.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import type { AgentReport, JobResult, ObservedResource } from '../../../../schemas/protocol.ts';
import { openPgStore, type OpenPgStoreOptions } from './pg-store.ts';
import { openSqliteStore, type OpenSqliteStoreOptions } from './sqlite-store.ts';
import type { DeviceRecord, NewJob, Store } from './store.ts';

/** A store for one test, closed (and its database removed) when the test ends. */
export interface TempStore {
  store: Store;
  /** Opens another store on the same database (closed with the test). */
  open(options?: { now?: () => Date }): Promise<Store>;
  /** Runs SQL on the database directly, beside the store: what another client could do. */
  exec(sql: string): Promise<void>;
}

export interface SqliteTempStore extends TempStore {
  dir: string;
  file: string;
  open(options?: Partial<OpenSqliteStoreOptions>): Promise<Store>;
}

export interface PgTempStore extends TempStore {
  /** The URL of the test's schema (`options=-c search_path=…`). */
  url: string;
  open(options?: Partial<OpenPgStoreOptions>): Promise<Store>;
  /** Rows of `sql`, run beside the store in the test's schema. */
  query<T>(sql: string): Promise<T[]>;
}

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  tempStore(t: TestContext, options?: { now?: () => Date }): Promise<TempStore>;
}

export async function tempStore(t: TestContext, options: Partial<OpenSqliteStoreOptions> = {}): Promise<SqliteTempStore> {
  const dir = await mkdtemp(join(tmpdir(), 'deployx-store-'));
  const file = join(dir, 'deployx.sqlite');
  const opened: Store[] = [];
  t.after(async () => {
    for (const s of opened) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const open = async (more: Partial<OpenSqliteStoreOptions> = {}) => {
    const s = await openSqliteStore({ file, ...options, ...more });
    opened.push(s);
    return s;
  };
  const exec = (sql: string) =>
    new Promise<void>((resolve, reject) => {
      const db = new sqlite3.Database(file);
      db.exec(sql, (err) => db.close(() => (err ? reject(err) : resolve())));
    });
  return { store: await open(), dir, file, open, exec };
}

/** The server the PostgreSQL tests use. */
export const TEST_PG_URL = process.env.DEPLOYX_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `sql` on the test server's database through a connection of its own. */
async function adminQuery<T>(sql: string, url = TEST_PG_URL): Promise<{ rows: T[] }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query<T & pg.QueryResultRow>(sql);
  } finally {
    await client.end();
  }
}

async function adminExec(sql: string): Promise<void> {
  await adminQuery(sql);
}

/** Why PostgreSQL cannot be used here, or undefined when it answers. Asked once per test file. */
async function pgUnavailable(): Promise<string | undefined> {
  try {
    await adminExec('SELECT 1');
    return undefined;
  } catch (err) {
    const shown = new URL(TEST_PG_URL);
    shown.password = '';
    return `no PostgreSQL answers at ${shown.href} (${(err as Error).message || (err as { code?: string }).code}); set DEPLOYX_TEST_PG to a server's URL`;
  }
}

const PG_UNAVAILABLE = await pgUnavailable();

/** A fresh schema on the test server, dropped after the test; its stores see only it. */
export async function tempPgStore(
  t: TestContext,
  options: Partial<OpenPgStoreOptions> = {},
): Promise<PgTempStore> {
  const schema = `deployx_test_${randomBytes(6).toString('hex')}`;
  await adminExec(`CREATE SCHEMA ${schema}`);
  const url = new URL(TEST_PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const opened: Store[] = [];
  t.after(async () => {
    for (const s of opened) await s.close();
    await adminExec(`DROP SCHEMA ${schema} CASCADE`);
  });
  const open = async (more: Partial<OpenPgStoreOptions> = {}) => {
    const s = await openPgStore({ url: url.href, maxConnections: 4, ...options, ...more });
    opened.push(s);
    return s;
  };
  const query = async <T>(sql: string): Promise<T[]> => (await adminQuery<T>(sql, url.href)).rows;
  return { store: await open(), url: url.href, open, exec: async (sql) => void (await query(sql)), query };
}

export const STORE_BACKENDS: readonly StoreBackend[] = [
  { name: 'sqlite', tempStore: (t, options) => tempStore(t, options) },
  { name: 'postgres', tempStore: (t, options) => tempPgStore(t, options) },
];

/**
 * The contract tests of a file, once per backend: `fn` declares its tests with the backend's
 * `tempStore`.
 */
export function describeStores(fn: (backend: StoreBackend) => void): void {
  for (const backend of STORE_BACKENDS) {
    if (backend.name === 'postgres') describePostgres(() => fn(backend));
    else describe(backend.name, () => fn(backend));
  }
}

/**
 * Tests that need a PostgreSQL server: they skip, saying why, when none answers — and fail under
 * CI=true, where the server is part of the job.
 */
export function describePostgres(fn: () => void): void {
  if (PG_UNAVAILABLE === undefined) describe('postgres', fn);
  else if (process.env.CI === 'true') {
    describe('postgres', () => {
      test('PostgreSQL is reachable for the store tests', () => {
        throw new Error(PG_UNAVAILABLE);
      });
    });
  } else describe('postgres', { skip: PG_UNAVAILABLE }, fn);
}

export const T0 = Date.UTC(2025, 0, 1);

/** `T0 + minutes`, as an ISO time. */
export function at(minutes: number): string {
  return new Date(T0 + minutes * 60_000).toISOString();
}

export function enroll(store: Store, id: string, extra: { machineId?: string; credentialHash?: string } = {}): Promise<DeviceRecord> {
  return store.enrollDevice({
    id,
    machineId: extra.machineId ?? `machine-${id}`,
    labels: { site: 'lab' },
    facts: { hostname: `${id}.lab`, os: { family: 'debian' } },
    credentialHash: extra.credentialHash ?? `hash-${id}`,
    now: at(0),
  });
}

export function pkg(name: string, version: string): ObservedResource {
  return { key: `package/${name}`, type: 'package', manager: 'apt', name, installed: true, version };
}

export function file(path: string, sha256: string): ObservedResource {
  return { key: `file/${path}`, type: 'file', path, exists: true, sha256, size: 10, mode: '0644' };
}

export function report(observed: ObservedResource[], extra: Partial<AgentReport> = {}): AgentReport {
  return {
    agentVersion: '1.0.0',
    facts: { hostname: 'h', os: { family: 'debian' } },
    observed,
    sentAt: at(0),
    ...extra,
  };
}

export function newJob(id: string, deviceId: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    id,
    deviceId,
    revision: 'main@sha1:aaaa',
    idempotencyKey: `key-${id}`,
    steps: [{ action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: 'any' }],
    createdAt: at(1),
    ...extra,
  };
}

export function jobResult(jobId: string, extra: Partial<JobResult> = {}): JobResult {
  return {
    jobId,
    idempotencyKey: `key-${jobId}`,
    status: 'succeeded',
    steps: [{ key: 'package/nginx', action: 'package.install', status: 'succeeded', durationMs: 12 }],
    observed: [pkg('nginx', '1.22.1')],
    startedAt: at(2),
    finishedAt: at(3),
    ...extra,
  };
}
