// How long a handshake refused with `server.busy` is told to wait (admission.ts).
//
// An appointment, not a lottery. While handshakes are refused the server is saturated, so what it
// completes in such a second is what it can do: the rate (handshakes per second) is the best of
// the last few such seconds. The best, not an average: a second the event loop spent on a fleet
// compile or a collection is a stall, not the capacity, and appointments given at a stalled rate
// would keep devices away long after it (a device told too early is only refused again). Each refused device is given the next free slot at
// that rate, from the minimum wait on, with jitter inside its slot. 10,000 devices refused at once
// come back spread over the time the server needs for them (10,000 / rate), each about once; a
// short burst waits about the minimum.
//
// A rate measured in a restarted server's first seconds is a cold server's (30 a second, where it
// does 600 a few seconds later), and slots given at it are kept long after: 3,350 devices refused
// in such a second were told up to 112 s and came back at 30 a second for two minutes. So the
// optimistic initial rate is remembered like a measured second until five measured ones have
// pushed it out, and slots are given only within a horizon (60 s by default): a device beyond it
// is told to ask again at a random time within it (after the queue), and then gets a slot at the
// rate measured by then.
//
// Before: a window whose upper bound grew by half every second refusals outnumbered admissions.
// In a reconnect storm it grew to its 120 s cap within seconds while the server sat idle; 10,000
// devices took 166 s to reconnect.
/** How many saturated seconds the rate remembers. */
const RATE_SECONDS = 5;

export class BusyWait {
  readonly #minMs: number;
  readonly #horizonMs: number;
  #rate: number;
  /** Rates measured in the last saturated seconds, newest last. */
  #measured: number[] = [];
  /** Where the next free slot begins (ms, the caller's clock). */
  #nextFree = Number.NEGATIVE_INFINITY;
  #windowStart = Number.NEGATIVE_INFINITY;
  /** Handshakes this second that could not start at once (queued or refused): it is saturated. */
  #turnedAway = 0;
  #admitted = 0;

  /**
   * `bounds`: the shortest wait, and the horizon: no slot is given further away than that; a
   * device beyond it is told a random wait within it.
   */
  constructor(bounds: readonly [min: number, max: number], options: { initialRate?: number } = {}) {
    this.#minMs = bounds[0];
    this.#horizonMs = bounds[1];
    // Optimistic: a device told too early is refused again (cheap); one told too late waits idle.
    this.#rate = options.initialRate ?? 1_000;
    // Remembered like a measured second: a restarted server's first saturated seconds are cold
    // (30 handshakes a second, 600 a few seconds later), and alone they would set the rate.
    this.#measured.push(this.#rate);
  }

  /** A handshake was let through (counted when its check ends). */
  admitted(nowMs: number): void {
    this.#roll(nowMs);
    this.#admitted++;
  }

  /** A handshake could not start at once and waits in the admission queue. */
  queued(nowMs: number): void {
    this.#roll(nowMs);
    this.#turnedAway++;
  }

  /**
   * A handshake is refused: the wait to tell it. `aheadMs`: how long the handshakes already
   * waiting in the queue will take; no slot is given before they are through.
   */
  refused(nowMs: number, random: () => number, aheadMs = 0): number {
    this.#roll(nowMs);
    this.#turnedAway++;
    const spacing = 1_000 / this.#rate;
    const start = Math.max(this.#nextFree, nowMs + Math.max(this.#minMs, aheadMs));
    if (start + spacing - nowMs > this.#horizonMs) {
      // Further than the measured rate can promise: ask again at a random time between the end
      // of the queue and the horizon (the rate may well be higher by then).
      const from = Math.min(this.#horizonMs, Math.max(this.#minMs, aheadMs));
      return Math.round(from + (this.#horizonMs - from) * random());
    }
    this.#nextFree = start + spacing;
    return Math.round(start - nowMs + spacing * random());
  }

  /** The admission rate the slots are given at, per second. */
  get ratePerSecond(): number {
    return this.#rate;
  }

  #roll(nowMs: number): void {
    const elapsed = nowMs - this.#windowStart;
    if (elapsed < 1_000) return;
    // A saturated second (someone had to wait or was refused) that just ended measures the
    // server's capacity.
    if (this.#turnedAway > 0 && this.#admitted > 0 && elapsed < 2_000) {
      this.#measured.push((this.#admitted * 1_000) / elapsed);
      if (this.#measured.length > RATE_SECONDS) this.#measured.shift();
      this.#rate = Math.max(10, Math.round(Math.max(...this.#measured)));
    }
    this.#turnedAway = 0;
    this.#admitted = 0;
    this.#windowStart = nowMs;
  }
}
