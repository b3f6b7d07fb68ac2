// Reconnect and retry delays: exponential backoff with full jitter (AWS Architecture Blog,
// "Exponential Backoff And Jitter"). After a server restart, 10,000 agents must not come back in
// lock-step: each waits a uniformly random time in [min, min(cap, base·2^attempt)], so the
// reconnects spread over the whole window instead of arriving as a wave. Pure.

export interface BackoffPolicy {
  /** Ceiling of the first delay (attempt 0). */
  baseMs: number;
  /** Ceiling of any delay. */
  capMs: number;
  /** Floor of every delay (default 0: "full" jitter). */
  minMs?: number;
}

/** Connection attempts: 1 s doubling to a 60 s ceiling. */
export const CONNECT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/**
 * After the server refused the handshake (bad credential, expired token): something a human or
 * the server's state must change, so retrying often only adds load. 15 s floor, 10 min ceiling.
 */
export const REFUSED_BACKOFF: BackoffPolicy = { baseMs: 30_000, capMs: 600_000, minMs: 15_000 };

/** Re-sending a job result whose ack did not come: 1 s doubling to 60 s. */
export const RESULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/**
 * The delay before retry number `attempt` (0-based): uniform in
 * [minMs, min(capMs, baseMs · 2^attempt)]. `random` returns [0, 1) (Math.random by default).
 *
 *   attempt 0 → 0–1 s, 1 → 0–2 s, 2 → 0–4 s, … 6 and later → 0–60 s   (CONNECT_BACKOFF)
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  const floor = Math.min(policy.minMs ?? 0, ceiling);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(floor + r * (ceiling - floor));
}

/** A retry counter over a policy: next() gives the delay and counts; reset() after success. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    return backoffDelay(this.attempt++, this.policy, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
