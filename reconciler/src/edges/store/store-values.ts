// Value conversions at the row edge, shared by every Store implementation (SQLite, PostgreSQL):
// both keep times as ISO text and JSON as text, so what is checked and converted here is the same.
import { StoreError, type IsoTime } from './store.ts';

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

/** Agent clocks are not ours to reject: a malformed time from an agent is dropped, not an error. */
export function isoOrNullLoose(value: string | undefined): string | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

export function limitOf(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new StoreError('store.invalid', `limit must be a positive integer, got ${limit}`);
  }
  return limit;
}

/** A page of a list: a positive limit and a non-negative offset. */
export function pageOf(limit: number, offset: number): void {
  limitOf(limit);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new StoreError('store.invalid', `offset must be a non-negative integer, got ${offset}`);
  }
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

/** The last row of each key (a later row replaces an earlier one): a multi-row upsert may name a row once only. */
export function lastByKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) {
    const k = key(row);
    byKey.delete(k);
    byKey.set(k, row);
  }
  return [...byKey.values()];
}
