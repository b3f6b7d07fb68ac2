// The one backoff helper of the project: exponential backoff with jitter (AWS Architecture Blog,
// "Exponential Backoff And Jitter"). Agent reconnects and result re-sends, blob download retries,
// rollout retries and notification deliveries all take their delays from here. Pure: randomness
// and time come in as arguments.
//
// Retry number `attempt` (0-based) has the ceiling min(capMs, baseMs · 2^attempt), and waits
//   'full' jitter (default): uniform in [minMs, ceiling]   — 10,000 agents restarting at once
//                            spread over the whole window instead of arriving as a wave;
//   'equal' jitter:          uniform in [ceiling/2, ceiling] — a retry never comes much earlier
//                            than its nominal time (rollouts, webhooks).
//   attempt 0 → 0–1 s, 1 → 0–2 s, 2 → 0–4 s, … 6 and later → 0–60 s   ({baseMs: 1000, capMs: 60000})

export interface BackoffPolicy {
  /** Ceiling of the first delay (attempt 0). */
  baseMs: number;
  /** Ceiling of any delay. */
  capMs: number;
  /** Floor of every delay ('full' jitter only; default 0). Never above the ceiling. */
  minMs?: number;
  /** Default 'full'. */
  jitter?: 'full' | 'equal';
}

/**
 * The delay before retry number `attempt` (0-based), in whole milliseconds. `random` returns
 * [0, 1) (Math.random by default); values outside are clamped, NaN counts as 1 (the longer wait).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0)), 30);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  const raw = random();
  const r = Number.isNaN(raw) ? 1 : Math.min(Math.max(raw, 0), 1);
  const floor = policy.jitter === 'equal' ? ceiling / 2 : Math.min(policy.minMs ?? 0, ceiling);
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

export interface ReconnectPolicy extends Omit<BackoffPolicy, 'jitter'> {
  /**
   * Ceiling of every wait while the outage is younger than `outageMs`. A server restart takes
   * seconds: agents that waited up to 2^n s would come back long after it is up (5,000 devices
   * took 22–40 s to report again); after `outageMs` the waits grow on to `capMs`, so a server
   * that stays down is not polled by the whole fleet every few seconds.
   */
  outageCapMs: number;
  outageMs: number;
  /**
   * A session that lived this long proves the server healthy and starts the count over; a
   * shorter one (accepted, then dropped) does not, so a server that keeps dropping agents sees
   * them back off rather than hammer it.
   */
  stableSessionMs: number;
}

/**
 * When to reconnect: full-jitter backoff over a ReconnectPolicy, driven by what the connection
 * saw and when (`now` in ms, from the caller's clock). Each method returns the wait before the
 * next attempt.
 *
 * A reset puts the count back to 0, not the wait: the first retry after a long session is still
 * uniform in [minMs, baseMs], so a fleet dropped at once by a server's death comes back spread
 * over that window, never all at the same instant.
 */
export class ReconnectBackoff {
  private attempt = 0;
  private outageSince: number | undefined;
  private sessionSince: number | undefined;

  constructor(
    private readonly policy: ReconnectPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** A connection attempt failed (unreachable, timeout, dropped before the session). */
  failed(now: number): number {
    this.outageSince ??= now;
    const young = now - this.outageSince < this.policy.outageMs;
    const capMs = young ? Math.min(this.policy.outageCapMs, this.policy.capMs) : this.policy.capMs;
    return backoffDelay(this.attempt++, { ...this.policy, capMs, jitter: 'full' }, this.random);
  }

  /**
   * The server answered "not now, retry after `retryAfterMs`" (server.busy): that is the wait.
   * It is the server's own jittered schedule, so the count does not grow.
   */
  told(now: number, retryAfterMs: number): number {
    this.outageSince ??= now;
    return Math.max(0, Math.round(retryAfterMs));
  }

  /** A session began. */
  connected(now: number): void {
    this.sessionSince = now;
  }

  /** The session that began at connected() ended; resets the count when it lived long enough. */
  sessionEnded(now: number): number {
    if (this.sessionSince !== undefined && now - this.sessionSince >= this.policy.stableSessionMs) {
      this.attempt = 0;
      this.outageSince = undefined;
    }
    this.sessionSince = undefined;
    return this.failed(now);
  }

  get attempts(): number {
    return this.attempt;
  }
}
