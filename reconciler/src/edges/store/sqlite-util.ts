// Shared by the SQLite store's parts: the context they get, and value conversions at the row edge.
import type { Db } from './sqlite-db.ts';
import { StoreError, type IsoTime } from './store.ts';

export interface SqliteContext {
  db: Db;
  /** The store's clock as an ISO time, for methods whose `now` is optional. */
  now: () => IsoTime;
}

/** Normalises an ISO time to `toISOString()` form so stored times sort as text. */
export function iso(value: string, field: string): IsoTime {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new StoreError('store.invalid', `${field} is not an ISO time: ${JSON.stringify(value)}`);
  }
  return new Date(ms).toISOString();
}

export function isoOrNull(value: string | undefined, field: string): IsoTime | null {
  return value === undefined ? null : iso(value, field);
}

export function limitOf(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new StoreError('store.invalid', `limit must be a positive integer, got ${limit}`);
  }
  return limit;
}

/** One parameter holding many ids, for `IN (SELECT value FROM json_each(?))`: no chunking needed. */
export function idList(ids: readonly string[]): string {
  return JSON.stringify(ids);
}

/**
 * JSON text of a value from the wire, or undefined when it cannot be serialised (nested deeper than
 * V8's stack allows, a BigInt): such a row is refused for its own device, never for its batch.
 */
export function serialise(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

export function parseJson<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}

/** Copies `value` onto `target[key]` unless it is NULL, so optional fields stay absent. */
export function setIf<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | null | undefined,
): void {
  if (value !== null && value !== undefined) target[key] = value;
}
