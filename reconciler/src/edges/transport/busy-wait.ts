// How long a handshake refused with `server.busy` is told to wait (agent-gateway.ts admission).
//
// A fixed window (1–5 s) is right for a short burst and wrong for a long one: 10,000 devices
// enrolling at ~25 per second were told to come back within 5 s, so ~550 handshakes per second
// were refused, and setting up and tearing down those connections took most of the CPU the
// enrolments needed (the converge bench at 10,000 never got everyone in sync). So the window's
// upper bound follows the load, once per second: it grows by half while refusals outnumber
// admitted handshakes more than twice, and shrinks back towards the configured bound once they no
// longer outnumber them. The waits stay uniformly spread over the window, so the refused come back
// as the server can take them.
export class BusyWait {
  #maxMs: number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #refused = 0;
  #admitted = 0;

  constructor(
    private readonly bounds: readonly [min: number, max: number],
    private readonly capMs = 120_000,
  ) {
    this.#maxMs = bounds[1];
  }

  /** A handshake was let through (counted when its check ends). */
  admitted(nowMs: number): void {
    this.#roll(nowMs);
    this.#admitted++;
  }

  /** A handshake is refused: the wait to tell it, in [min, current upper bound]. */
  refused(nowMs: number, random: () => number): number {
    this.#roll(nowMs);
    this.#refused++;
    const min = this.bounds[0];
    return Math.round(min + random() * (this.#maxMs - min));
  }

  /** The current upper bound of the wait, in ms. */
  get maxWaitMs(): number {
    return this.#maxMs;
  }

  #roll(nowMs: number): void {
    if (nowMs - this.#windowStart < 1_000) return;
    if (this.#refused > 2 * Math.max(1, this.#admitted)) this.#maxMs = Math.min(this.capMs, this.#maxMs * 1.5);
    else if (this.#refused <= this.#admitted) this.#maxMs = Math.max(this.bounds[1], this.#maxMs / 1.5);
    this.#refused = 0;
    this.#admitted = 0;
    this.#windowStart = nowMs;
  }
}
