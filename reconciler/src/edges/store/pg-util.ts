// Shared by the PostgreSQL store's parts: the context they get, and PostgreSQL's ways of passing
// many rows in one statement. Conversions both backends make are in store-values.ts.
import type { Db, SqlValue } from './pg-db.ts';
import type { IsoTime } from './store.ts';

export interface PgContext {
  db: Db;
  /** The store's clock as an ISO time, for methods whose `now` is optional. */
  now: () => IsoTime;
}

/** `$1, $2, …, $n`, starting after `from` parameters. */
export function params(n: number, from = 0): string {
  return Array.from({ length: n }, (_, i) => `$${from + i + 1}`).join(', ');
}

/**
 * Rows as one array parameter per column, for `SELECT … FROM unnest($1::text[], $2::bigint[], …)`:
 * a batch of any size is one statement with `types.length` parameters.
 */
export function columns(rows: ReadonlyArray<readonly SqlValue[]>, types: readonly string[]): { sql: string; values: SqlValue[] } {
  const values = types.map((_, i) => rows.map((row) => row[i] ?? null) as Array<string | number | null>);
  return { sql: `unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`, values };
}

/**
 * The ids a lookup can match. PostgreSQL text cannot hold NUL ("\u0000"), so no stored id has one,
 * and one such id from an agent (a handshake, a job's progress) would fail the whole statement —
 * and with it every other agent's row of the batch. It matches nothing, so it is left out.
 */
export function named(ids: readonly string[]): string[] {
  return ids.filter((id) => !id.includes('\u0000'));
}
