// What anonymous PXE boots may cost (core/pxe/discovery-limits.ts has the numbers): a token bucket
// per source address for recording new machines, and coalesced discovery notifications. In
// memory, per process: a restart forgets the buckets, which only lets one more burst in.
import { DISCOVERY_LIMITS } from '../core/pxe/discovery-limits.ts';

export interface DiscoveryLimits {
  perSourceBurst: number;
  perSourcePerMinute: number;
  maxTrackedSources: number;
  notifyWindowMs: number;
}

/** Token buckets by source address. `take` is true when a new discovery from it may be recorded. */
export class SourceRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limits: Pick<DiscoveryLimits, 'perSourceBurst' | 'perSourcePerMinute' | 'maxTrackedSources'> = DISCOVERY_LIMITS) {}

  take(source: string, nowMs: number): boolean {
    const { perSourceBurst, perSourcePerMinute, maxTrackedSources } = this.limits;
    const bucket = this.#buckets.get(source) ?? { tokens: perSourceBurst, at: nowMs };
    bucket.tokens = Math.min(perSourceBurst, bucket.tokens + ((nowMs - bucket.at) / 60_000) * perSourcePerMinute);
    bucket.at = nowMs;
    // Re-inserted: the map's order is least recently used first.
    this.#buckets.delete(source);
    this.#buckets.set(source, bucket);
    if (this.#buckets.size > maxTrackedSources) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/**
 * At most one discovery notification per window: the first is told at once, the rest of the
 * window are counted and told as one summary when it ends.
 */
export class DiscoveryNotices<E> {
  #windowEnds = 0;
  #held = 0;
  #last: E | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (event: E, count: number) => void,
    private readonly windowMs: number = DISCOVERY_LIMITS.notifyWindowMs,
  ) {}

  add(event: E, nowMs: number): void {
    if (nowMs >= this.#windowEnds) {
      this.#windowEnds = nowMs + this.windowMs;
      this.emit(event, 1);
      return;
    }
    this.#held++;
    this.#last = event;
    this.#timer ??= setTimeout(() => this.flush(), this.#windowEnds - nowMs);
    this.#timer.unref();
  }

  /** Tells what is held now (the window's end, or the server closing). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held > 0 && this.#last !== undefined) this.emit(this.#last, this.#held);
    this.#held = 0;
    this.#last = undefined;
  }
}
