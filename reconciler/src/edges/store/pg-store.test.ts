// What only the PostgreSQL store has: its own migrations, migrating from several processes at
// once, and the pool's errors as store codes (a real server: DEPLOYX_TEST_PG, see test-support.ts).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { loadMigrations, PG_MIGRATIONS_DIR } from './migrate.ts';
import { openPgStore } from './pg-store.ts';
import { isStoreError } from './store.ts';
import { describePostgres, tempPgStore } from './test-support.ts';

describePostgres(() => {
  test('migrations apply once; the tables are those of the SQLite schema', async (t) => {
    const { store, open, query } = await tempPgStore(t);
    await store.close();
    const known = await loadMigrations(PG_MIGRATIONS_DIR);
    const first = await query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
    assert.deepEqual(first.map((r) => r.version), known.map((m) => m.version));
    await (await open()).close();
    assert.deepEqual(await query('SELECT version, name FROM schema_migrations ORDER BY version'), first);
    const tables = await query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    );
    assert.deepEqual(
      tables.map((r) => r.table_name),
      [
        'api_tokens', 'audit_head', 'audit_log', 'device_status', 'devices', 'enrollment_tokens', 'hostname_allocations',
        'hostname_sequences', 'inventory', 'job_sequences', 'jobs', 'observed_sets', 'provisioning', 'provisioning_runs',
        'provisioning_steps', 'pxe_arming', 'pxe_machines', 'revisions', 'rollouts', 'schema_migrations', 'sessions', 'users',
      ],
    );
  });

  test('a database migrated by a newer DeployX is refused: store.schema-too-new', async (t) => {
    const { store, open, exec } = await tempPgStore(t);
    await store.close();
    await exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from-the-future', '2030-01-01T00:00:00.000Z')");
    await assert.rejects(open(), (err) => isStoreError(err, 'store.schema-too-new'));
  });

  test('a migration that fails is rolled back whole: store.migration-failed, the database as it was', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deployx-pg-migrations-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const m of await loadMigrations(PG_MIGRATIONS_DIR)) {
      const name = `${String(m.version).padStart(3, '0')}-${m.name}.sql`;
      await copyFile(new URL(name, PG_MIGRATIONS_DIR), join(dir, name));
    }
    await writeFile(join(dir, '900-broken.sql'), 'CREATE TABLE half_done (x INTEGER);\nSELECT no_such_column FROM half_done;\n');
    const { store, open, query } = await tempPgStore(t);
    await store.close();
    await assert.rejects(open({ migrationsDir: pathToFileURL(dir + '/') }), (err) => isStoreError(err, 'store.migration-failed'));
    assert.deepEqual(await query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half_done'"), []);
    assert.equal((await query('SELECT version FROM schema_migrations WHERE version = 900')).length, 0);
    await (await open()).close();
  });

  test('replicas starting together migrate once', async (t) => {
    const { store, open, query } = await tempPgStore(t);
    await store.close();
    await query('DROP TABLE schema_migrations');
    // An empty schema again: the tables are gone with their schema_migrations rows' meaning.
    const tables = await query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()");
    for (const { table_name } of tables) await query(`DROP TABLE ${table_name} CASCADE`);
    await query('DROP FUNCTION audit_log_append_only() CASCADE');
    const stores = await Promise.all([open(), open(), open()]);
    assert.equal(stores.length, 3);
    assert.equal((await query('SELECT version FROM schema_migrations')).length, (await loadMigrations(PG_MIGRATIONS_DIR)).length);
  });

  test('nothing answering at the URL: store.unavailable, and the password is not in the message', async () => {
    await assert.rejects(openPgStore({ url: 'postgres://deployx:s3cret-pw@127.0.0.1:1/deployx' }), (err) => {
      assert.ok(isStoreError(err, 'store.unavailable'), String(err));
      assert.doesNotMatch((err as Error).message, /s3cret-pw/);
      return true;
    });
  });

  test('a database that does not exist: store.unavailable, not worth retrying', async () => {
    const url = new URL(process.env.DEPLOYX_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres');
    url.pathname = '/deployx_no_such_database';
    await assert.rejects(openPgStore({ url: url.href }), (err) => isStoreError(err, 'store.unavailable') && !err.transient);
  });
});
