// A promise wrapper over one sqlite3 connection, with every use serialised.
//
// sqlite3 has one connection here, and a connection has one transaction: a statement issued while
// another caller's transaction is open would run inside it (and be rolled back with it), and a
// read would see its half-written state (an observed set deleted but not yet re-inserted). So
// every unit of work — a transaction or a plain read — takes its turn on one queue, and the
// `Conn` handed to it is only valid until its promise settles.
import sqlite3 from 'sqlite3';
import { StoreError } from './store.ts';

export type SqlValue = string | number | bigint | null | Buffer;
export type Params = readonly SqlValue[];

export interface Conn {
  run(sql: string, params?: Params): Promise<{ changes: number; lastID: number }>;
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  all<T>(sql: string, params?: Params): Promise<T[]>;
  /** Several statements, no parameters. */
  exec(sql: string): Promise<void>;
}

export interface Db {
  /** Runs `fn` alone on the connection, without a transaction (reads). */
  read<T>(fn: (conn: Conn) => Promise<T>): Promise<T>;
  /**
   * `read`, ahead of the work already queued: for a short lookup someone is waiting on while bulk
   * passes queue up (a handshake's device key). While both lanes have work they take turns, so a
   * stream of such lookups cannot hold the queued work back. It may not see a write queued before it.
   */
  readFirst<T>(fn: (conn: Conn) => Promise<T>): Promise<T>;
  /** Runs `fn` alone inside BEGIN IMMEDIATE … COMMIT; rolls back when it throws. Do not nest. */
  transaction<T>(fn: (conn: Conn) => Promise<T>): Promise<T>;
  /** Lets queued work finish, then closes. */
  close(): Promise<void>;
}

export interface OpenDbOptions {
  file: string;
  /** How long a statement waits for another process's lock before failing `store.unavailable`. */
  busyTimeoutMs?: number;
}

/** SQLite's default maximum number of `?` in one statement since 3.32. */
export const MAX_PARAMS = 32766;

export async function openDb(options: OpenDbOptions): Promise<Db> {
  const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
    const db: sqlite3.Database = new sqlite3.Database(options.file, (err) =>
      err ? reject(toStoreError(err, `opening ${options.file}`)) : resolve(db),
    );
  });
  raw.configure('busyTimeout', options.busyTimeoutMs ?? 5000);
  const conn = makeConn(raw);
  try {
    // journal_mode must be set outside a transaction; WAL persists in the file.
    await conn.exec(
      'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;',
    );
  } catch (err) {
    raw.close();
    throw err;
  }

  // One task at a time on the one connection. A `first` task goes ahead of the `queued` ones, but
  // the two lanes take turns while both have work: in a reconnect storm handshakes' key lookups
  // never stop arriving, and the reports queued behind them waited until the storm was over
  // (their acknowledgements timed out and the agents sent them again).
  const first: Array<() => Promise<void>> = [];
  const queued: Array<() => Promise<void>> = [];
  let running = false;
  let idle: Promise<void> = Promise.resolve();
  let settleIdle: () => void = () => {};
  let closed = false;

  async function pump(): Promise<void> {
    running = true;
    // Whether the last task came from the first lane: then a queued one has its turn.
    let lastWasFirst = false;
    for (;;) {
      const fromFirst: boolean = first.length > 0 && !(lastWasFirst && queued.length > 0);
      const task = fromFirst ? first.shift() : queued.shift();
      if (!task) break;
      lastWasFirst = fromFirst;
      await task();
    }
    running = false;
    settleIdle();
  }

  function enqueue<T>(task: () => Promise<T>, lane: 'first' | 'queued' = 'queued'): Promise<T> {
    if (closed) return Promise.reject(new StoreError('store.closed', 'the store is closed'));
    return new Promise<T>((resolve, reject) => {
      (lane === 'first' ? first : queued).push(async () => {
        try {
          resolve(await task());
        } catch (error) {
          reject(error);
        }
      });
      if (!running) {
        idle = new Promise((r) => (settleIdle = r));
        void pump();
      }
    });
  }

  return {
    read: (fn) => enqueue(() => fn(conn)),
    readFirst: (fn) => enqueue(() => fn(conn), 'first'),
    transaction: (fn) => enqueue(() => inTransaction(conn, fn)),
    close: async () => {
      if (closed) return;
      closed = true;
      if (running) await idle;
      // Lets SQLite refresh the statistics its query planner uses, as its docs advise on close.
      await conn.exec('PRAGMA optimize').catch(() => undefined);
      await new Promise<void>((resolve, reject) =>
        raw.close((err) => (err ? reject(toStoreError(err, 'closing')) : resolve())),
      );
    },
  };
}

async function inTransaction<T>(conn: Conn, fn: (conn: Conn) => Promise<T>): Promise<T> {
  await conn.exec('BEGIN IMMEDIATE');
  try {
    const value = await fn(conn);
    await conn.exec('COMMIT');
    return value;
  } catch (err) {
    await conn.exec('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function makeConn(db: sqlite3.Database): Conn {
  return {
    run: (sql, params = []) =>
      new Promise((resolve, reject) => {
        db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
          if (err) reject(toStoreError(err, sql));
          else resolve({ changes: this.changes, lastID: this.lastID });
        });
      }),
    get: <T>(sql: string, params: Params = []) =>
      new Promise<T | undefined>((resolve, reject) => {
        db.get<T>(sql, params, (err, row) => (err ? reject(toStoreError(err, sql)) : resolve(row)));
      }),
    all: <T>(sql: string, params: Params = []) =>
      new Promise<T[]>((resolve, reject) => {
        db.all<T>(sql, params, (err, rows) => (err ? reject(toStoreError(err, sql)) : resolve(rows)));
      }),
    exec: (sql) =>
      new Promise((resolve, reject) => {
        db.exec(sql, (err) => (err ? reject(toStoreError(err, sql)) : resolve()));
      }),
  };
}

/**
 * Maps sqlite3's errors onto store codes. The message is SQLite's; the statement is kept beside it
 * (`statement`, its start), its parameters never are.
 */
export function toStoreError(err: unknown, context: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const statement = context.replace(/\s+/g, ' ').slice(0, 120);
  switch (code) {
    case 'SQLITE_CONSTRAINT':
      // UNIQUE / PRIMARY KEY: the record exists. FOREIGN KEY: what it refers to does not.
      // CHECK / NOT NULL: a value the schema does not allow.
      return new StoreError(
        /FOREIGN KEY/.test(message)
          ? 'store.not-found'
          : /UNIQUE|PRIMARY KEY/.test(message)
            ? 'store.conflict'
            : 'store.invalid',
        message,
        { cause: err, statement },
      );
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
    case 'SQLITE_IOERR':
    case 'SQLITE_FULL':
    case 'SQLITE_CANTOPEN':
      return new StoreError('store.unavailable', message, { cause: err, statement });
    default:
      return new StoreError('store.internal', message, { cause: err, statement });
  }
}

/**
 * Splits rows into chunks that fit one multi-row statement: at most `maxRows` rows and at most
 * MAX_PARAMS parameters.
 */
export function chunkRows<T>(rows: readonly T[], paramsPerRow: number, maxRows = 500): T[][] {
  const size = Math.max(1, Math.min(maxRows, Math.floor(MAX_PARAMS / paramsPerRow)));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** `(?,?,?),(?,?,?)` for `rows` rows of `width` parameters. */
export function placeholders(rows: number, width: number): string {
  const row = `(${new Array<string>(width).fill('?').join(',')})`;
  return new Array<string>(rows).fill(row).join(',');
}
