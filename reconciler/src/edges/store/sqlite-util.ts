// Shared by the SQLite store's parts: the context they get, and SQLite's way of passing many ids.
// Conversions both backends make are in store-values.ts.
import type { Db } from './sqlite-db.ts';
import type { IsoTime } from './store.ts';

export { iso, isoOrNull, limitOf, parseJson, serialise, setIf } from './store-values.ts';

export interface SqliteContext {
  db: Db;
  /** The store's clock as an ISO time, for methods whose `now` is optional. */
  now: () => IsoTime;
}

/** One parameter holding many ids, for `IN (SELECT value FROM json_each(?))`: no chunking needed. */
export function idList(ids: readonly string[]): string {
  return JSON.stringify(ids);
}
