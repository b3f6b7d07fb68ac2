// Point lookups made by many concurrent callers, read together: every `get` made in one turn of
// the event loop waits for one `read` of all their keys. The store has one connection, and each
// query is a round trip through its queue: a reconnect storm's 10,000 handshakes cost tens of
// queries instead of 10,000 (DataLoader's batching, small).
export class BatchedLookup<V> {
  #waiting = new Map<string, Array<{ resolve: (value: V | undefined) => void; reject: (error: unknown) => void }>>();
  #scheduled = false;

  constructor(
    private readonly read: (keys: string[]) => Promise<ReadonlyMap<string, V>>,
    private readonly maxBatch = 1_000,
  ) {}

  get(key: string): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const callers = this.#waiting.get(key);
      if (callers) callers.push({ resolve, reject });
      else this.#waiting.set(key, [{ resolve, reject }]);
      if (this.#waiting.size >= this.maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#waiting;
    if (batch.size === 0) return;
    this.#waiting = new Map();
    this.read([...batch.keys()]).then(
      (found) => {
        for (const [key, callers] of batch) for (const c of callers) c.resolve(found.get(key));
      },
      (error: unknown) => {
        for (const callers of batch.values()) for (const c of callers) c.reject(error);
      },
    );
  }
}
