// Turns on isomorphic-git's own delta-base cache for the packfiles held in one `cache` object.
//
// Why: in a packed repository (every clone, every `git gc`) most blobs are deltas on chains ~10–50
// deep. isomorphic-git 1.x (checked with 1.44) keeps an `offsetCache` of resolved objects per pack
// index, enabled once `readDepth > 3`, but an index loaded from an `.idx` file never initialises
// `readDepth` (`undefined++` is NaN), so the cache stays off and every blob read re-inflates its
// whole chain. Measured on 3,500 similar YAML files after `git gc`: ~0.5 ms → ~0.2 ms per blob.
//
// How: the indexes live in the caller's cache object under a private symbol, as promises. This
// only touches objects that look exactly like such an index (an `offsetCache` object and a
// `readDepth` that is not a finite number); with any other isomorphic-git it does nothing, and reads stay correct.
// Memory: every object read through the cache stays in it, so use it on a cache that lives as
// long as one revision reader, never on one kept for the life of a server.

const seen = new WeakSet<object>();

export function enableDeltaBaseCache(cache: object): void {
  for (const symbol of Object.getOwnPropertySymbols(cache)) {
    const value: unknown = (cache as Record<symbol, unknown>)[symbol];
    if (!(value instanceof Map)) continue;
    for (const entry of value.values() as Iterable<unknown>) {
      if (typeof entry !== 'object' || entry === null || seen.has(entry)) continue;
      seen.add(entry);
      void Promise.resolve(entry).then(patch, () => undefined);
    }
  }
}

function patch(index: unknown): void {
  if (typeof index !== 'object' || index === null) return;
  const candidate = index as { offsetCache?: unknown; readDepth?: unknown };
  // `undefined` before the first read, NaN after it (`undefined++`); a finite number means the
  // library initialised it itself.
  const depth = candidate.readDepth;
  if (typeof candidate.offsetCache === 'object' && candidate.offsetCache !== null && !Number.isFinite(depth)) {
    candidate.readDepth = 0;
  }
}
