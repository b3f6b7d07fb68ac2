import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { chunkRows, MAX_PARAMS, openDb, placeholders, type Db } from './sqlite-db.ts';
import { isStoreError } from './store.ts';

async function tempDb(t: TestContext): Promise<Db> {
  const dir = await mkdtemp(join(tmpdir(), 'deployx-db-'));
  const db = await openDb({ file: join(dir, 'db.sqlite') });
  t.after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await db.transaction((c) => c.exec('CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);'));
  return db;
}

test('the connection runs in WAL mode with foreign keys on and synchronous=NORMAL', async (t) => {
  const db = await tempDb(t);
  const pragmas = await db.read(async (c) => ({
    journal: (await c.get<{ journal_mode: string }>('PRAGMA journal_mode'))?.journal_mode,
    fk: (await c.get<{ foreign_keys: number }>('PRAGMA foreign_keys'))?.foreign_keys,
    sync: (await c.get<{ synchronous: number }>('PRAGMA synchronous'))?.synchronous,
  }));
  assert.deepEqual(pragmas, { journal: 'wal', fk: 1, sync: 1 });
});

test('concurrent transactions never interleave: 30 read-modify-writes count to 30', async (t) => {
  const db = await tempDb(t);
  await Promise.all(
    Array.from({ length: 30 }, () =>
      db.transaction(async (c) => {
        const row = await c.get<{ n: number }>('SELECT n FROM counter');
        await sleep(1); // give another caller every chance to run in between
        await c.run('UPDATE counter SET n = ?', [(row?.n ?? 0) + 1]);
      }),
    ),
  );
  const row = await db.read((c) => c.get<{ n: number }>('SELECT n FROM counter'));
  assert.equal(row?.n, 30);
});

test('a read issued during a transaction sees its committed result, never its middle', async (t) => {
  const db = await tempDb(t);
  const writing = db.transaction(async (c) => {
    await c.run('UPDATE counter SET n = -1');
    await sleep(20);
    await c.run('UPDATE counter SET n = 7');
  });
  const read = db.read((c) => c.get<{ n: number }>('SELECT n FROM counter'));
  await writing;
  assert.equal((await read)?.n, 7);
});

test('a transaction that throws is rolled back and the queue keeps going', async (t) => {
  const db = await tempDb(t);
  await assert.rejects(
    db.transaction(async (c) => {
      await c.run('UPDATE counter SET n = 99');
      throw new Error('boom');
    }),
    /boom/,
  );
  const row = await db.read((c) => c.get<{ n: number }>('SELECT n FROM counter'));
  assert.equal(row?.n, 0);
});

test('SQL errors become StoreErrors with a code; a closed db refuses work', async (t) => {
  const db = await tempDb(t);
  await db.transaction((c) => c.exec('CREATE TABLE u (k TEXT PRIMARY KEY); INSERT INTO u VALUES (\'a\');'));
  await assert.rejects(
    db.transaction((c) => c.run('INSERT INTO u VALUES (?)', ['a'])),
    (err) => isStoreError(err, 'store.conflict'),
  );
  await db.transaction((c) => c.exec('CREATE TABLE v (n INTEGER NOT NULL CHECK (n > 0));'));
  await assert.rejects(
    db.transaction((c) => c.run('INSERT INTO v VALUES (?)', [0])),
    (err) => isStoreError(err, 'store.invalid'),
  );
  await assert.rejects(
    db.read((c) => c.all('SELECT nope FROM u')),
    (err) => isStoreError(err, 'store.internal'),
  );
  await db.close();
  await assert.rejects(
    db.read((c) => c.all('SELECT 1')),
    (err) => isStoreError(err, 'store.closed'),
  );
});

test('chunkRows keeps every statement under the parameter limit and the row cap', () => {
  const rows = Array.from({ length: 1234 }, (_, i) => i);
  assert.deepEqual(chunkRows(rows, 4).map((c) => c.length), [500, 500, 234]);
  const wide = chunkRows(rows, 100, 10_000);
  assert.ok(wide.every((c) => c.length * 100 <= MAX_PARAMS));
  assert.equal(wide.flat().length, 1234);
  assert.equal(placeholders(2, 3), '(?,?,?),(?,?,?)');
});

test('readFirst runs before the work queued ahead of it, never inside a running transaction', async (t) => {
  const db = await tempDb(t);
  const order: string[] = [];
  const writing = db.transaction(async (c) => {
    await c.run('UPDATE counter SET n = -1');
    await sleep(20);
    await c.run('UPDATE counter SET n = 1');
    order.push('transaction');
  });
  const queued = Array.from({ length: 3 }, (_, i) => db.read(async (c) => {
    await c.get('SELECT n FROM counter');
    order.push(`read ${i}`);
  }));
  const urgent = db.readFirst(async (c) => {
    const row = await c.get<{ n: number }>('SELECT n FROM counter');
    order.push('first');
    return row?.n;
  });
  assert.equal(await urgent, 1, 'after the running transaction, not in its middle');
  await Promise.all([writing, ...queued]);
  assert.deepEqual(order, ['transaction', 'first', 'read 0', 'read 1', 'read 2']);
  // A task that throws at once fails its caller only; the queue goes on.
  await assert.rejects(db.read(() => { throw new Error('boom'); }), /boom/);
  assert.equal((await db.read((c) => c.get<{ n: number }>('SELECT n FROM counter')))?.n, 1);
});


test('a steady stream of readFirst lookups does not starve the queued work (a reconnect storm\'s key reads and its reports)', async (t) => {
  const db = await tempDb(t);
  const order: string[] = [];
  // Handshakes keep arriving: each lookup, when it runs, queues the next one in the first lane.
  const lookups: Array<Promise<void>> = [];
  const lookup = (): Promise<void> =>
    db.readFirst(async (c) => {
      await c.get('SELECT n FROM counter');
      order.push('lookup');
      if (lookups.length < 50) lookups.push(lookup());
    });
  lookups.push(lookup());
  const saved = db.transaction(async (c) => {
    await c.run('UPDATE counter SET n = n + 1');
    order.push('report saved');
  });
  await saved;
  while (lookups.length < 50) await lookups.at(-1);
  await Promise.all(lookups);
  const at = order.indexOf('report saved');
  assert.ok(at >= 0 && at <= 2, `the queued write ran after ${order.filter((o) => o === 'lookup').length} lookups (${at} tasks before it), not after the stream ended`);
});
