import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import sqlite3 from 'sqlite3';
import { loadMigrations } from './migrate.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { isStoreError, REVISION_ERRORS_KEPT } from './store.ts';
import { at, tempStore } from './test-support.ts';

function rawAll<T>(file: string, sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file);
    db.all<T>(sql, (err, rows) => db.close(() => (err ? reject(err) : resolve(rows))));
  });
}

function rawExec(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file);
    db.exec(sql, (err) => db.close(() => (err ? reject(err) : resolve())));
  });
}

test('migrations apply once and reopening applies nothing', async (t) => {
  const { store, file, open } = await tempStore(t);
  await store.close();
  const known = await loadMigrations();
  const first = await rawAll<{ version: number; name: string; applied_at: string }>(file, 'SELECT * FROM schema_migrations ORDER BY version');
  assert.deepEqual(first.map((r) => r.version), known.map((m) => m.version));
  assert.equal(first[0]?.name, 'initial');

  const again = await open();
  await again.close();
  const second = await rawAll<{ version: number; name: string; applied_at: string }>(file, 'SELECT * FROM schema_migrations ORDER BY version');
  assert.deepEqual(second, first);
  const tables = await rawAll<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  assert.deepEqual(
    tables.map((r) => r.name),
    [
      'api_tokens',
      'audit_head',
      'audit_log',
      'device_status',
      'devices',
      'enrollment_tokens',
      'hostname_allocations',
      'hostname_sequences',
      'inventory',
      'job_sequences',
      'jobs',
      'observed_sets',
      'provisioning',
      'provisioning_runs',
      'provisioning_steps',
      'pxe_arming',
      'pxe_machines',
      'revisions',
      'rollouts',
      'schema_migrations',
      'sessions',
      'users',
    ],
  );
});

test('a database migrated by a newer DeployX is refused with store.schema-too-new', async (t) => {
  const { store, file, open } = await tempStore(t);
  await store.recordRevision({
    revision: 'main@sha1:abc', oid: 'abc', branch: 'main', author: 'a', message: 'm',
    committedAt: '2025-01-01T00:00:00Z', seenAt: '2025-01-01T00:00:00Z', status: 'accepted', errors: [],
  });
  await store.close();
  await rawExec(file, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2030-01-01T00:00:00.000Z')");
  await assert.rejects(open(), (err) => isStoreError(err, 'store.schema-too-new'));
  // Refusing did not touch the data.
  const rows = await rawAll<{ oid: string }>(file, 'SELECT oid FROM revisions');
  assert.deepEqual(rows, [{ oid: 'abc' }]);
});

test('a failing migration is rolled back whole and the store does not open', async (t) => {
  const { store, file, dir, open } = await tempStore(t);
  await store.close();
  const migrations = join(dir, 'migrations');
  await mkdir(migrations);
  const dirUrl = pathToFileURL(migrations + '/');
  for (const m of await loadMigrations()) {
    await writeFile(join(migrations, `${String(m.version).padStart(3, '0')}-${m.name}.sql`), m.sql);
  }
  await writeFile(
    join(migrations, '900-broken.sql'),
    'CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);',
  );
  await assert.rejects(open({ migrationsDir: dirUrl }), (err) => isStoreError(err, 'store.migration-failed'));
  const tables = await rawAll<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE name = 'half_done'");
  assert.deepEqual(tables, []);
  const versions = await rawAll<{ v: number }>(file, 'SELECT max(version) AS v FROM schema_migrations');
  assert.notEqual(versions[0]?.v, 900);

  // Fixed, it applies on the next start.
  await writeFile(join(migrations, '900-broken.sql'), 'CREATE TABLE half_done (x INTEGER);');
  const fixed = await open({ migrationsDir: dirUrl });
  await fixed.close();
  const after = await rawAll<{ v: number }>(file, 'SELECT max(version) AS v FROM schema_migrations');
  assert.equal(after[0]?.v, 900);
});

test('migration files must be named NNN-name.sql and versions must be unique', async (t) => {
  const { dir } = await tempStore(t);
  const bad = join(dir, 'bad');
  await mkdir(bad);
  await writeFile(join(bad, 'initial.sql'), 'SELECT 1;');
  await assert.rejects(loadMigrations(pathToFileURL(bad + '/')), (err) => isStoreError(err, 'store.migration-failed'));

  const dup = join(dir, 'dup');
  await mkdir(dup);
  await writeFile(join(dup, '001-a.sql'), 'SELECT 1;');
  await writeFile(join(dup, '1-b.sql'), 'SELECT 1;');
  await assert.rejects(loadMigrations(pathToFileURL(dup + '/')), (err) => isStoreError(err, 'store.migration-failed'));

  const ok = join(dir, 'ok');
  await mkdir(ok);
  await writeFile(join(ok, '010-later.sql'), 'SELECT 1;');
  await writeFile(join(ok, '002-earlier.sql'), 'SELECT 1;');
  await writeFile(join(ok, 'README.md'), 'not a migration');
  const loaded = await loadMigrations(pathToFileURL(ok + '/'));
  assert.deepEqual(loaded.map((m) => [m.version, m.name]), [[2, 'earlier'], [10, 'later']]);
});

test('a database at an older version gets exactly the missing migrations, in order', async (t) => {
  const { store, dir } = await tempStore(t);
  await store.close();
  const all = await loadMigrations();
  assert.ok(all.length >= 2, 'this test needs at least two migrations');
  // Build the old database from the first migration only.
  const old = join(dir, 'old');
  await mkdir(old);
  const first = all[0]!;
  await writeFile(join(old, `${String(first.version).padStart(3, '0')}-${first.name}.sql`), first.sql);
  const oldFile = join(dir, 'old.sqlite');
  await (await openSqliteStore({ file: oldFile, migrationsDir: pathToFileURL(old + '/') })).close();
  const before = await rawAll<{ version: number; applied_at: string }>(oldFile, 'SELECT version, applied_at FROM schema_migrations');
  assert.deepEqual(before.map((r) => r.version), [first.version]);

  await (await openSqliteStore({ file: oldFile, now: () => new Date('2031-01-01T00:00:00Z') })).close();
  const after = await rawAll<{ version: number; applied_at: string }>(oldFile, 'SELECT version, applied_at FROM schema_migrations ORDER BY version');
  assert.deepEqual(after.map((r) => r.version), all.map((m) => m.version));
  assert.equal(after[0]?.applied_at, before[0]?.applied_at);
  assert.ok(after.slice(1).every((r) => r.applied_at === '2031-01-01T00:00:00.000Z'));
  const index = await rawAll<{ name: string }>(oldFile, "SELECT name FROM sqlite_master WHERE name = 'jobs_pending'");
  assert.equal(index.length, 1);
});

test('migration 009 trims the errors stored by older versions and counts them', async (t) => {
  const { store, dir } = await tempStore(t);
  await store.close();
  const old = join(dir, 'old');
  await mkdir(old);
  for (const m of (await loadMigrations()).filter((m) => m.version < 9)) {
    await writeFile(join(old, `${String(m.version).padStart(3, '0')}-${m.name}.sql`), m.sql);
  }
  const file = join(dir, 'old.sqlite');
  await (await openSqliteStore({ file, migrationsDir: pathToFileURL(old + '/') })).close();
  const errors = Array.from({ length: 300 }, (_, i) => ({ code: 'yaml.syntax', message: `bad ${i}`, file: 'a.yaml', line: i + 1, col: 1, path: '' }));
  await new Promise<void>((resolve, reject) => {
    const db = new sqlite3.Database(file);
    db.run(
      `INSERT INTO revisions (oid, revision, branch, author, message, committed_at, seen_at, last_seen_at, status, errors)
       VALUES ('old', 'main@sha1:old', 'main', 'a', 'm', ?, ?, ?, 'rejected', ?)`,
      [at(1), at(2), at(2), JSON.stringify(errors)],
      (err) => db.close(() => (err ? reject(err) : resolve())),
    );
  });
  const migrated = await openSqliteStore({ file });
  const record = await migrated.getRevision('old');
  await migrated.close();
  assert.equal(record?.errorCount, 300);
  assert.deepEqual(record?.errors, errors.slice(0, REVISION_ERRORS_KEPT));
});
