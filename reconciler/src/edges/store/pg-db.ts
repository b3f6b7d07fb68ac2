// A small layer over a pg.Pool: reads on any pooled connection, transactions on one checked-out
// connection, pg's errors mapped onto StoreError codes as sqlite-db.ts maps SQLite's.
//
// Unlike SQLite (one connection, one writer, every unit of work queued), PostgreSQL runs
// transactions side by side, from this process and from other replicas. What SQLite's single
// writer gave for free is asked for explicitly by the parts that need it: a row lock
// (`SELECT … FOR UPDATE`, or the lock an `UPDATE` or `ON CONFLICT DO UPDATE` takes), a table lock,
// or a SERIALIZABLE transaction. A transaction that loses a serialization check or a deadlock is
// rolled back and run again from the start (so `fn` must not have effects outside the database),
// a few times with a short jittered pause, before failing `store.unavailable`.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StoreError } from './store.ts';

export type SqlValue = string | number | boolean | null | ReadonlyArray<string | number | null>;
export type Params = readonly SqlValue[];

export interface Conn {
  run(sql: string, params?: Params): Promise<{ changes: number }>;
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  all<T>(sql: string, params?: Params): Promise<T[]>;
  /** Several statements, no parameters. */
  exec(sql: string): Promise<void>;
}

export type Isolation = 'read committed' | 'serializable';

export interface Db {
  /** Runs `fn` without a transaction: each statement sees what was committed when it began. */
  read<T>(fn: (conn: Conn) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection (READ COMMITTED unless asked); rolls back
   * when it throws, and runs it again after a serialization failure or a deadlock. Do not nest.
   */
  transaction<T>(fn: (conn: Conn) => Promise<T>, options?: { isolation?: Isolation }): Promise<T>;
  /** Lets the work already started finish, then closes the pool. */
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** `postgres://user[:password]@host[:port]/database[?…]`. */
  url: string;
  /** Connections in the pool. */
  max?: number;
  /** How long opening may wait for the server before failing `store.unavailable`. */
  connectTimeoutMs?: number;
  /**
   * How long a unit of work may wait for a connection — a free one of the pool, or a new one —
   * before failing `store.unavailable` (pg's pool times both out alike). Longer than connecting at
   * open: a burst queues for a while on a busy pool, and that is not an outage.
   */
  acquireTimeoutMs?: number;
}

/** How many times a transaction runs before a serialization failure is reported. */
const MAX_ATTEMPTS = 8;

/** SQLSTATEs after which the transaction is run again: serialization_failure, deadlock_detected. */
const RETRY = new Set(['40001', '40P01']);

/** BIGINT (count(*), identity columns) as a JS number: every value the store keeps is far below 2^53. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export async function openDb(options: OpenDbOptions): Promise<Db> {
  // One connection first, with the short timeout: a server that is not there is said at once.
  const probe = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000, application_name: 'deployx' });
  try {
    await probe.connect();
  } catch (err) {
    throw toStoreError(err, 'connecting');
  } finally {
    await probe.end().catch(() => undefined);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.acquireTimeoutMs ?? 60_000,
    application_name: 'deployx',
    types,
  });
  // An idle connection that the server closes emits here; without a listener it would end the
  // process. The pool drops that connection and the next query connects anew.
  pool.on('error', () => undefined);

  const running = new Set<Promise<unknown>>();
  let closed = false;

  function track<T>(work: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new StoreError('store.closed', 'the store is closed'));
    const promise = work();
    running.add(promise);
    const forget = () => running.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  const poolConn = makeConn(pool);

  async function inTransaction<T>(fn: (conn: Conn) => Promise<T>, isolation: Isolation): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw toStoreError(err, 'connecting');
      }
      let broken: Error | undefined;
      try {
        await client.query(isolation === 'serializable' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
        const value = await fn(makeConn(client));
        await client.query('COMMIT');
        return value;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        if (attempt < MAX_ATTEMPTS && RETRY.has(sqlState(err) ?? '')) {
          await sleep(Math.random() * 5 * 2 ** attempt);
          continue;
        }
        throw toStoreError(err, 'COMMIT');
      } finally {
        // A connection that could not roll back is discarded, not handed to the next caller.
        client.release(broken);
      }
    }
  }

  return {
    read: (fn) => track(() => fn(poolConn)),
    transaction: (fn, opts) => track(() => inTransaction(fn, opts?.isolation ?? 'read committed')),
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...running]);
      await pool.end();
    },
  };
}

function makeConn(client: pg.Pool | pg.PoolClient): Conn {
  const query = async <T>(sql: string, params: Params = []): Promise<pg.QueryResult<T & pg.QueryResultRow>> => {
    try {
      return await client.query<T & pg.QueryResultRow>(sql, params as unknown[]);
    } catch (err) {
      throw toStoreError(err, sql);
    }
  };
  return {
    run: async (sql, params) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
    get: async <T>(sql: string, params?: Params) => (await query<T>(sql, params)).rows[0],
    all: async <T>(sql: string, params?: Params) => (await query<T>(sql, params)).rows,
    exec: async (sql) => {
      await query(sql);
    },
  };
}

/** The SQLSTATE of a pg error, or of the pg error a StoreError wraps. */
export function sqlState(err: unknown): string | undefined {
  const cause = err instanceof StoreError ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Network errors of the driver: the server is not there (yet). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * Maps pg's errors onto store codes as toStoreError in sqlite-db.ts maps SQLite's: a unique key
 * taken → conflict, a foreign key missing → not-found, a value the schema refuses → invalid, a
 * server that is busy, away or out of space → unavailable. The message is PostgreSQL's; the
 * statement is kept beside it (`statement`, its start), its parameters never are.
 */
export function toStoreError(err: unknown, context: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = sqlState(err) ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const where = message || code;
  const statement = context.replace(/\s+/g, ' ').slice(0, 120);
  const cls = code.slice(0, 2);
  if (code === '23505' || code === '23P01') return new StoreError('store.conflict', where, { cause: err, statement });
  if (code === '23503') return new StoreError('store.not-found', where, { cause: err, statement });
  // check, not-null, a raised exception (the append-only audit trigger), bad data (22xxx).
  if (cls === '23' || cls === '22' || code === 'P0001') return new StoreError('store.invalid', where, { cause: err, statement });
  // serialization or deadlock after the retries, lock or statement timeouts, resources, connection, shutdown.
  if (cls === '40' || cls === '53' || cls === '08' || cls === '57' || code === '55P03' || UNREACHABLE.has(code) || /timeout|terminated|Connection/i.test(message)) {
    return new StoreError('store.unavailable', where, { cause: err, statement });
  }
  // Wrong password, unknown role or database: retrying does not help until someone acts.
  if (cls === '28' || code === '3D000') return new StoreError('store.unavailable', where, { cause: err, transient: false, statement });
  return new StoreError('store.internal', where, { cause: err, statement });
}
