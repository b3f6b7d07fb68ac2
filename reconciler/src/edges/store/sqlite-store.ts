// The embedded Store: one SQLite file, one connection, every unit of work queued (sqlite-db.ts).
//
// Storage conventions (see migrations/001-initial.sql): times are ISO-8601 UTC strings with
// milliseconds, normalised on write so they sort as text; JSON values are TEXT. The file runs in
// WAL mode with synchronous=NORMAL (a committed transaction survives a process crash; a power loss
// may lose the last few), foreign keys on, and a busy timeout for other processes' locks.
import { sqliteJobSequences } from './sqlite-job-sequences.ts';
import { sqliteAccess } from './sqlite-access.ts';
import { sqliteAudit } from './sqlite-audit.ts';
import { migrate, loadMigrations, MIGRATIONS_DIR } from './migrate.ts';
import { openDb } from './sqlite-db.ts';
import { sqliteDevices } from './sqlite-devices.ts';
import { sqliteEnrollment } from './sqlite-enrollment.ts';
import { sqliteDeviceStatus } from './sqlite-device-status.ts';
import { sqliteInventory } from './sqlite-inventory.ts';
import { sqliteProvisioning } from './sqlite-provisioning.ts';
import { sqliteJobs } from './sqlite-jobs.ts';
import { sqliteReports } from './sqlite-reports.ts';
import { sqliteRevisions } from './sqlite-revisions.ts';
import { sqliteRollouts } from './sqlite-rollouts.ts';
import { sqliteTokens } from './sqlite-tokens.ts';
import type { SqliteContext } from './sqlite-util.ts';
import type { Store } from './store.ts';

export interface OpenSqliteStoreOptions {
  /** Path of the database file; created with its schema when missing. */
  file: string;
  /** The clock for times a caller leaves out (token creation, revocation, deletion). */
  now?: () => Date;
  busyTimeoutMs?: number;
  /** Where the `NNN-name.sql` migrations live; tests point it elsewhere. */
  migrationsDir?: URL;
}

/** Opens (creating and migrating as needed) the database. Throws `store.schema-too-new`. */
export async function openSqliteStore(options: OpenSqliteStoreOptions): Promise<Store> {
  const clock = options.now ?? (() => new Date());
  const migrations = await loadMigrations(options.migrationsDir ?? MIGRATIONS_DIR);
  const db = await openDb({
    file: options.file,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
  try {
    await migrate(
      {
        transaction: (fn) =>
          db.transaction((c) =>
            fn({
              exec: (sql) => c.exec(sql),
              all: (sql) => c.all(sql),
              record: async (m, appliedAt) => {
                await c.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, appliedAt]);
              },
            }),
          ),
      },
      migrations,
      clock,
    );
    // SQLite's advice for a long-lived connection: refresh planner statistics where useful.
    await db.read((c) => c.exec('PRAGMA optimize=0x10002'));
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const ctx: SqliteContext = { db, now: () => clock().toISOString() };
  return {
    ...sqliteRevisions(ctx),
    ...sqliteTokens(ctx),
    ...sqliteDevices(ctx),
    ...sqliteReports(ctx),
    ...sqliteJobs(ctx),
    ...sqliteInventory(ctx),
    ...sqliteDeviceStatus(ctx),
    ...sqliteRollouts(ctx),
    ...sqliteProvisioning(ctx),
    ...sqliteAccess(ctx),
    ...sqliteAudit(ctx),
    ...sqliteEnrollment(ctx),
    ...sqliteJobSequences(ctx),
    close: () => db.close(),
  };
}
