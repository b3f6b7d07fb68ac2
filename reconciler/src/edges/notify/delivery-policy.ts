// When a failed delivery is retried, and after how long. Pure: the random source and the clock
// are arguments.
//
// Backoff is exponential with "equal jitter": attempt n (1-based, the attempt that just failed)
// waits between half and all of min(maxMs, baseMs · 2^(n-1)). With the defaults (1 s base, 60 s
// cap, 6 attempts) the nominal waits are 1, 2, 4, 8, 16 s: about half a minute of trying, then
// the event is given up. A `Retry-After` on a 408, 429 or 5xx replaces the backoff for that wait,
// bounded by `maxRetryAfterMs` so one server cannot hold its queue for hours.
import { backoffDelay } from '../../../../schemas/backoff.ts';

export interface RetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts per event, the first included. */
  maxAttempts: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  maxAttempts: 6,
  maxRetryAfterMs: 300_000,
};

/**
 * The wait after failed attempt `attempt` (1-based). `random` is in [0, 1).
 *   attempt 1, random 0.99… → ≈1000 ms; random 0 → 500 ms
 *   attempt 3 → 2000..4000 ms;  attempt 8 → 30 000..60 000 ms (capped)
 */
export function backoffDelayMs(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number): number {
  return backoffDelay(attempt - 1, { baseMs: policy.baseDelayMs, capMs: policy.maxDelayMs, jitter: 'equal' }, random);
}

/** Network errors aside, these statuses are worth another attempt; every other non-2xx is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * `Retry-After` in milliseconds from `nowMs`: delta-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, 0 when already past). `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** The wait before the next attempt: the server's `Retry-After` when it gave one, else backoff. */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, policy: RetryPolicy, random: () => number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  return backoffDelayMs(attempt, policy, random);
}
