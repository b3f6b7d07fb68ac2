// SHA-256 and size of repository files, remembered by content id (git blob oid) so a file that
// did not change between revisions is neither read nor hashed again. LRU-bounded like ParseCache.
import { createHash } from 'node:crypto';

export interface ContentDigest {
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  size: number;
}

export interface ContentHasherOptions {
  /** Digests kept; the least recently used beyond this are dropped. Default 50,000. */
  maxEntries?: number;
}

export interface ContentHasherStats {
  entries: number;
  hits: number;
  /** How many times bytes were actually hashed. */
  hashes: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ContentHasher {
  readonly maxEntries: number;
  readonly #digests = new Map<string, ContentDigest>();
  #hits = 0;
  #hashes = 0;

  constructor(options: ContentHasherOptions = {}) {
    const max = options.maxEntries ?? 50_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  get stats(): ContentHasherStats {
    return { entries: this.#digests.size, hits: this.#hits, hashes: this.#hashes };
  }

  /** The digest of content `id` when it is known (a hit, as for `digest`), without reading anything. */
  peek(id: string | undefined): ContentDigest | undefined {
    if (id === undefined) return undefined;
    const known = this.#digests.get(id);
    if (known === undefined) return undefined;
    this.#hits++;
    this.#digests.delete(id);
    this.#digests.set(id, known);
    return known;
  }

  /**
   * The digest of content `id`, calling `read` only when it is not known. Without an id (a working
   * tree file, whose id would itself be its hash) the bytes are always read and nothing is kept.
   */
  async digest(id: string | undefined, read: () => Promise<Uint8Array>): Promise<ContentDigest> {
    const known = this.peek(id);
    if (known !== undefined) return known;
    const bytes = await read();
    this.#hashes++;
    const digest: ContentDigest = { sha256: sha256Hex(bytes), size: bytes.byteLength };
    if (id !== undefined) {
      this.#digests.set(id, digest);
      if (this.#digests.size > this.maxEntries) {
        const oldest = this.#digests.keys().next();
        if (!oldest.done) this.#digests.delete(oldest.value);
      }
    }
    return digest;
  }
}
