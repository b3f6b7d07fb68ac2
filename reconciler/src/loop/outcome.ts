// What the loop does next when a pass fails (STYLE 14), read in ONE place: the source queue's and
// the device queue's onError handlers ask `nextMove` and do what it says.
//   backoff  transient (the store busy or locked, the Git remote unreachable): try again soon,
//            later each time the same key fails again in a row;
//   requeue  waiting (any other failure of a pass, which is recomputed from scratch): look again
//            after a fixed delay;
//   stall    a person must act (Git credentials, URL or branch; a database from a newer DeployX;
//            a closed store): logged as such, looked at again only after a long delay (a webhook
//            or poll after the fix comes sooner).
import { GitSourceError } from '../edges/git/source-errors.ts';
import { StoreError } from '../edges/store/store.ts';

export type NextMove =
  | { kind: 'backoff'; afterMs: number; why: string }
  | { kind: 'requeue'; afterMs: number; why: string }
  | { kind: 'stall'; afterMs: number; why: string };

/** Delays of consecutive transient failures of one key; the last repeats. */
export const BACKOFF_STEPS_MS: readonly number[] = [1_000, 5_000, 15_000, 30_000, 60_000];
export const REQUEUE_MS = 5_000;
export const STALL_MS = 5 * 60_000;

/** `failures`: how many times in a row this key's pass failed, this one included (≥ 1). */
export function nextMove(error: unknown, failures: number): NextMove {
  if (error instanceof StoreError) {
    if (error.transient) return backoff(failures, `store ${error.code}`);
    if (error.code === 'store.closed' || error.code === 'store.schema-too-new' || error.code === 'store.migration-failed') {
      return { kind: 'stall', afterMs: STALL_MS, why: `store ${error.code}` };
    }
    return { kind: 'requeue', afterMs: REQUEUE_MS, why: `store ${error.code}` };
  }
  if (error instanceof GitSourceError) {
    return error.disposition === 'transient'
      ? backoff(failures, `source ${error.code}`)
      : { kind: 'stall', afterMs: STALL_MS, why: `source ${error.code}` };
  }
  return { kind: 'requeue', afterMs: REQUEUE_MS, why: 'pass failed' };
}

function backoff(failures: number, why: string): NextMove {
  const i = Math.min(Math.max(failures, 1), BACKOFF_STEPS_MS.length) - 1;
  return { kind: 'backoff', afterMs: BACKOFF_STEPS_MS[i]!, why };
}

/** Consecutive failures per key, for `nextMove`; a key's success clears it. */
export class FailureStreaks {
  readonly #counts = new Map<string, number>();

  failed(key: string): number {
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, n);
    return n;
  }

  succeeded(key: string): void {
    this.#counts.delete(key);
  }
}
