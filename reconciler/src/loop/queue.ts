/**
 * Per-key delayed re-adds, shared by both queues. A key waits for at most one timer, the earliest
 * asked for: a later delay for a key that will already be added sooner is dropped. (A pass is
 * level-triggered and asks again for the wake-ups it still needs, so the earliest is the one that
 * matters.)
 */
class DelayedAdds {
  readonly #timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();

  schedule(key: string, ms: number, add: (key: string) => void): void {
    const at = Date.now() + ms;
    const existing = this.#timers.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { timer, at });
  }

  clear(): void {
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

// A de-duplicating work queue (controller-runtime's workqueue, small): triggers add keys; a key
// already waiting is not added twice; a key being processed when it is added again runs once
// more afterwards (so nothing that happened during a pass is lost). Keys run `concurrency` at a
// time, never the same key twice at once.
export class WorkQueue {
  readonly #waiting = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new DelayedAdds();
  #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly options: { concurrency: number; onError: (key: string, error: unknown) => void },
  ) {}

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#waiting.add(key);
    this.#pump();
  }

  /** Adds `key` after `ms`; a later addAfter for the same key replaces the earlier one. */
  addAfter(key: string, ms: number): void {
    if (!this.#stopped) this.#delayed.schedule(key, ms, (k) => this.add(k));
  }

  get depth(): number {
    return this.#waiting.size + this.#running.size;
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#delayed.clear();
    this.#waiting.clear();
  }

  #pump(): void {
    while (this.#running.size < this.options.concurrency && this.#waiting.size > 0) {
      const key = this.#waiting.values().next().value as string;
      this.#waiting.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
    if (this.depth === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.work(key);
    } catch (error) {
      this.options.onError(key, error);
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key) && !this.#stopped) this.#waiting.add(key);
      this.#pump();
    }
  }
}

/**
 * The same contract for keys processed in batches: keys wait in a de-duplicating set; one batch
 * (up to `maxBatch` keys) runs at a time; a key added while its batch runs goes into the next.
 * Used for devices, whose passes are cheap one by one but need bulk reads at fleet scale.
 */
export class BatchQueue {
  readonly #waiting = new Set<string>();
  readonly #delayed = new DelayedAdds();
  #running = 0;
  #idleWaiters: Array<() => void> = [];
  #stopped = false;
  #scheduled = false;

  constructor(
    private readonly work: (keys: string[]) => Promise<void>,
    private readonly options: { maxBatch: number; onError: (keys: string[], error: unknown) => void },
  ) {}

  add(key: string): void {
    if (this.#stopped) return;
    this.#waiting.add(key);
    this.#schedule();
  }

  addAfter(key: string, ms: number): void {
    if (!this.#stopped) this.#delayed.schedule(key, ms, (k) => this.add(k));
  }

  get depth(): number {
    return this.#waiting.size + this.#running;
  }

  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#delayed.clear();
    this.#waiting.clear();
  }

  /** Runs on the next macrotask, so a burst of adds in one tick becomes one batch. */
  #schedule(): void {
    if (this.#scheduled || this.#running > 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#next();
    });
  }

  async #next(): Promise<void> {
    if (this.#running > 0 || this.#stopped) return;
    if (this.#waiting.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
      return;
    }
    const batch: string[] = [];
    for (const key of this.#waiting) {
      batch.push(key);
      if (batch.length >= this.options.maxBatch) break;
    }
    for (const key of batch) this.#waiting.delete(key);
    this.#running = batch.length;
    try {
      await this.work(batch);
    } catch (error) {
      this.options.onError(batch, error);
    } finally {
      this.#running = 0;
      void this.#next();
    }
  }
}
