// Admission of agent handshakes (the /agent namespace's middleware, agent-gateway.ts).
//
// At most `maxConcurrent` handshakes are checked at once. One beyond that waits in a FIFO queue
// when the queue can be served within `queueWaitMs` at the rate the server completes handshakes;
// beyond that it is refused with `server.busy` and an appointment (busy-wait.ts) after the queue's
// end, and the agent comes back then.
//
// Why a queue: a refusal is not free. The refused device has already cost a TCP connection, a
// WebSocket upgrade and an engine.io handshake, and it costs them again when it comes back. In a
// reconnect storm of 10,000 devices, refusing everything beyond 200 checks made refusals a large
// share of the server's CPU, and the rate measured in those seconds was a fraction of what the
// server could do: 81 handshakes a second at the start, against ~600 once the refusals stopped.
// Appointments given at that rate kept devices away for a minute. A handshake that waits in the
// queue costs nothing until its turn.
//
// The queue is bounded in time, not only in length: a handshake that has waited `queueWaitMs`
// (the rate was overestimated, or the server stalled) is refused with an appointment rather than
// left to the socket server's connect timeout (CONNECT_TIMEOUT_MS, namespaces.ts), which must be
// longer. A handshake whose client has gone is dropped when its turn comes.
import { BusyWait } from './busy-wait.ts';

export interface AdmissionPolicy {
  /** Handshakes checked at once. */
  maxConcurrent: number;
  /** Bounds of the wait a refused handshake is told, in ms (busy-wait.ts). */
  retryAfterMs: readonly [min: number, max: number];
  /** The longest a handshake waits in the queue, in ms; 0: no queue. Default 5,000. */
  queueWaitMs?: number;
  /** In [0, 1): the jitter of the wait a refused handshake is told. Default Math.random. */
  random?: () => number;
}

export const DEFAULT_QUEUE_WAIT_MS = 5_000;

/** One handshake offered to the admission. */
export interface Candidate {
  /** Checks the handshake; admission counts it done when the promise settles. */
  start(): Promise<void>;
  /** False once the client has gone (its turn in the queue is skipped). */
  alive(): boolean;
  /** Tells the client to come back after `retryAfterMs`. */
  refuse(retryAfterMs: number): void;
}

interface Waiting {
  candidate: Candidate;
  since: number;
}

export class Admission {
  readonly #policy: AdmissionPolicy;
  readonly #queueWaitMs: number;
  readonly #now: () => number;
  readonly #wait: BusyWait;
  readonly #queue: Waiting[] = [];
  #head = 0;
  #checking = 0;
  #expiry: NodeJS.Timeout | undefined;
  /** Handshakes refused with server.busy since start. */
  refusals = 0;

  constructor(policy: AdmissionPolicy, now: () => number = () => performance.now()) {
    this.#policy = policy;
    this.#queueWaitMs = policy.queueWaitMs ?? DEFAULT_QUEUE_WAIT_MS;
    this.#now = now;
    this.#wait = new BusyWait(policy.retryAfterMs);
  }

  /** Handshakes waiting in the queue now. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Handshakes being checked now. */
  get checking(): number {
    return this.#checking;
  }

  /** The rate appointments are given at, per second. */
  get ratePerSecond(): number {
    return this.#wait.ratePerSecond;
  }

  /** A handshake arrived: it is checked now, waits in the queue, or is refused. */
  offer(candidate: Candidate): void {
    const now = this.#now();
    if (this.#checking < this.#policy.maxConcurrent && this.waiting === 0) {
      this.#start(candidate);
      return;
    }
    if (this.waiting < this.#queueLimit()) {
      this.#wait.queued(now);
      this.#queue.push({ candidate, since: now });
      this.#armExpiry();
      return;
    }
    this.#refuse(candidate, now);
  }

  /** Refuses everything still waiting (the server is closing). */
  close(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    const now = this.#now();
    for (let w = this.#shift(); w; w = this.#shift()) if (w.candidate.alive()) this.#refuse(w.candidate, now);
  }

  /** How many may wait: what the server completes in `queueWaitMs` at its measured rate. */
  #queueLimit(): number {
    return Math.floor((this.#wait.ratePerSecond * this.#queueWaitMs) / 1_000);
  }

  #start(candidate: Candidate): void {
    this.#checking++;
    const done = (): void => {
      this.#checking--;
      this.#wait.admitted(this.#now());
      this.#drain();
    };
    let started: Promise<void>;
    try {
      started = candidate.start();
    } catch {
      done();
      return;
    }
    started.then(done, done);
  }

  #refuse(candidate: Candidate, now: number): void {
    this.refusals++;
    const aheadMs = (this.waiting * 1_000) / this.#wait.ratePerSecond;
    candidate.refuse(this.#wait.refused(now, this.#policy.random ?? Math.random, aheadMs));
  }

  #drain(): void {
    const now = this.#now();
    while (this.#checking < this.#policy.maxConcurrent) {
      const next = this.#shift();
      if (!next) break;
      if (!next.candidate.alive()) continue;
      if (now - next.since > this.#queueWaitMs) this.#refuse(next.candidate, now);
      else this.#start(next.candidate);
    }
  }

  /** Refuses, from the front, what has waited longer than queueWaitMs; runs while anyone waits. */
  #armExpiry(): void {
    if (this.#expiry !== undefined) return;
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      const now = this.#now();
      for (let front = this.#queue[this.#head]; front && now - front.since > this.#queueWaitMs; front = this.#queue[this.#head]) {
        this.#shift();
        if (front.candidate.alive()) this.#refuse(front.candidate, now);
      }
      if (this.waiting > 0) this.#armExpiry();
    }, Math.min(500, Math.max(50, this.#queueWaitMs / 4)));
    this.#expiry.unref?.();
  }

  #shift(): Waiting | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const w = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Waiting;
    // Compact now and then: a storm pushes thousands through the queue.
    if (this.#head > 1_024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return w;
  }
}
