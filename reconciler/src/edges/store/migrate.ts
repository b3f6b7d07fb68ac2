// Forward-only schema migrations.
//
// A migration is a file `NNN-name.sql` in a dialect's migrations folder (`migrations/` for SQLite,
// `migrations/postgres/` for PostgreSQL); NNN is its version. Applied
// versions are recorded in `schema_migrations`. Each missing version is applied in ascending
// order, each inside its own transaction together with its `schema_migrations` row, so a failed
// migration leaves the database at the previous version. A database that holds a version this
// code does not know was migrated by a newer DeployX: opening it is refused (`store.schema-too-new`)
// rather than risking writes the newer schema does not expect. A migration file must not contain
// BEGIN/COMMIT (the migrator owns the transaction) nor change journal_mode or foreign_keys.
// Each backend hands the migrator a MigrationDb: its transaction, alone among the processes that
// may migrate the same database at once (SQLite's one writer; a PostgreSQL advisory lock).
import { readdir, readFile } from 'node:fs/promises';
import { StoreError } from './store.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
export const PG_MIGRATIONS_DIR = new URL('./migrations/postgres/', import.meta.url);

/** What the migrator needs of a connection inside its transaction. */
export interface MigrationConn {
  /** Several statements, no parameters. */
  exec(sql: string): Promise<void>;
  all<T>(sql: string): Promise<T[]>;
  /** Inserts the `schema_migrations` row of a migration just applied. */
  record(migration: Migration, appliedAt: string): Promise<void>;
}

export interface MigrationDb {
  /** Runs `fn` in one transaction that no other migrator of the database runs beside. */
  transaction<T>(fn: (c: MigrationConn) => Promise<T>): Promise<T>;
}

const FILE_NAME = /^(\d+)-([a-z0-9][a-z0-9-]*)\.sql$/;

/** Reads and orders the migrations in `dir`; two files with one version are a build error. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql'));
  const migrations: Migration[] = [];
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    if (!m) {
      throw new StoreError('store.migration-failed', `migration file ${name} is not named NNN-name.sql`);
    }
    migrations.push({
      version: Number(m[1]),
      name: m[2] ?? '',
      sql: await readFile(new URL(name, dir), 'utf8'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version) {
      throw new StoreError(
        'store.migration-failed',
        `two migration files have version ${migrations[i]?.version}`,
      );
    }
  }
  return migrations;
}

export interface MigrateResult {
  /** Versions applied by this call, ascending. */
  applied: number[];
  /** The highest version now in the database (0 for an empty list). */
  version: number;
}

export async function migrate(
  db: MigrationDb,
  migrations: readonly Migration[],
  now: () => Date,
): Promise<MigrateResult> {
  const known = Math.max(0, ...migrations.map((m) => m.version));
  await db.transaction(async (c) => {
    await c.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version    INTEGER PRIMARY KEY,
         name       TEXT NOT NULL,
         applied_at TEXT NOT NULL
       )`,
    );
    refuseNewer(await appliedVersions(c), known);
  });
  const applied: number[] = [];
  for (const migration of migrations) {
    // Decided inside the transaction: another process may have migrated in the meantime.
    const didApply = await db.transaction(async (c) => {
      const versions = await appliedVersions(c);
      refuseNewer(versions, known);
      if (versions.includes(migration.version)) return false;
      try {
        await c.exec(migration.sql);
      } catch (err) {
        throw new StoreError(
          'store.migration-failed',
          `migration ${migration.version}-${migration.name} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      await c.record(migration, now().toISOString());
      return true;
    });
    if (didApply) applied.push(migration.version);
  }
  const version = await db.transaction(async (c) => Math.max(0, ...(await appliedVersions(c))));
  return { applied, version };
}

async function appliedVersions(c: MigrationConn): Promise<number[]> {
  const rows = await c.all<{ version: number }>('SELECT version FROM schema_migrations');
  return rows.map((r) => r.version);
}

function refuseNewer(versions: readonly number[], known: number): void {
  const newest = Math.max(0, ...versions);
  if (newest > known) {
    throw new StoreError(
      'store.schema-too-new',
      `the database is at schema version ${newest}; this DeployX knows up to ${known}. ` +
        'Run a DeployX at least as new as the one that migrated it.',
    );
  }
}
