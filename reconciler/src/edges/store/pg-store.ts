// The PostgreSQL Store: the same contracts as the SQLite one (store.ts), for more than one process.
//
// Storage conventions are SQLite's (migrations/postgres/001-initial.sql): times are ISO-8601 UTC
// text with milliseconds, JSON is text, text sorts in byte order; so both backends share their
// row mapping (store-rows.ts) and their decisions (store-rules.ts), and differ in SQL and in the
// locks that stand in for SQLite's single writer (pg-db.ts). Migrations of the PostgreSQL dialect
// live in migrations/postgres/; migrating is serialised across processes by an advisory lock, so
// replicas starting together migrate once.
import { migrate, loadMigrations, PG_MIGRATIONS_DIR } from './migrate.ts';
import { openDb } from './pg-db.ts';
import { pgAccess } from './pg-access.ts';
import { pgAudit } from './pg-audit.ts';
import { pgDevices } from './pg-devices.ts';
import { pgDeviceStatus } from './pg-device-status.ts';
import { pgEnrollment } from './pg-enrollment.ts';
import { pgInventory } from './pg-inventory.ts';
import { pgJobSequences } from './pg-job-sequences.ts';
import { pgJobs } from './pg-jobs.ts';
import { pgProvisioning } from './pg-provisioning.ts';
import { pgReports } from './pg-reports.ts';
import { pgRevisions } from './pg-revisions.ts';
import { pgRollouts } from './pg-rollouts.ts';
import { pgTokens } from './pg-tokens.ts';
import type { PgContext } from './pg-util.ts';
import type { Store } from './store.ts';

export interface OpenPgStoreOptions {
  /** `postgres://user[:password]@host[:port]/database`; the schema is created in it when missing. */
  url: string;
  /** The clock for times a caller leaves out (token creation, revocation, deletion). */
  now?: () => Date;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** Where the `NNN-name.sql` migrations live; tests point it elsewhere. */
  migrationsDir?: URL;
}

/** Any fixed number, the same in every DeployX: the advisory lock migrators take. */
const MIGRATION_LOCK = 0x6465706c6f79;

/** Opens (migrating as needed) the database. Throws `store.schema-too-new`, `store.unavailable`. */
export async function openPgStore(options: OpenPgStoreOptions): Promise<Store> {
  const clock = options.now ?? (() => new Date());
  const migrations = await loadMigrations(options.migrationsDir ?? PG_MIGRATIONS_DIR);
  const db = await openDb({ url: options.url, ...(options.maxConnections === undefined ? {} : { max: options.maxConnections }) });
  try {
    await migrate(
      {
        transaction: (fn) =>
          db.transaction(async (c) => {
            await c.run('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
            return fn({
              exec: (sql) => c.exec(sql),
              all: (sql) => c.all(sql),
              record: async (m, appliedAt) => {
                await c.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, appliedAt]);
              },
            });
          }),
      },
      migrations,
      clock,
    );
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const ctx: PgContext = { db, now: () => clock().toISOString() };
  return {
    ...pgRevisions(ctx),
    ...pgTokens(ctx),
    ...pgDevices(ctx),
    ...pgReports(ctx),
    ...pgJobs(ctx),
    ...pgInventory(ctx),
    ...pgDeviceStatus(ctx),
    ...pgRollouts(ctx),
    ...pgProvisioning(ctx),
    ...pgAccess(ctx),
    ...pgAudit(ctx),
    ...pgEnrollment(ctx),
    ...pgJobSequences(ctx),
    close: () => db.close(),
  };
}
