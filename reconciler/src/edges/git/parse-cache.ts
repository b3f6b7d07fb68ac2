// Parsed YAML by content: a file is parsed once per content however many revisions hold it.
//
// Keyed by a content id: a git blob oid, or `sha256:<hex>` of the bytes for a working tree. The
// cache keeps the most recently used `maxEntries` files (LRU), so a server that runs for months
// holds at most that many. Cached results are shared between revisions: treat them as immutable.
import { parseYamlBytes, parseYamlFile, type ParsedFile } from './parse-yaml.ts';

export interface ParseCacheOptions {
  /** Files kept; the least recently used beyond this are dropped. Default 50,000. */
  maxEntries?: number;
}

export interface ParseCacheStats {
  entries: number;
  hits: number;
  /** How many times a file was actually parsed. */
  parses: number;
}

export const DEFAULT_PARSE_CACHE_ENTRIES = 50_000;

export class ParseCache {
  readonly maxEntries: number;
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly #entries = new Map<string, ParsedFile>();
  readonly #derived = new WeakMap<ParsedFile, Map<string, unknown>>();
  #hits = 0;
  #parses = 0;

  constructor(options: ParseCacheOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_PARSE_CACHE_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  get stats(): ParseCacheStats {
    return { entries: this.#entries.size, hits: this.#hits, parses: this.#parses };
  }

  /** The cached result for content `id`, labelled with `file`; undefined when not cached. */
  peek(file: string, id: string): ParsedFile | undefined {
    const cached = this.#entries.get(id);
    if (cached === undefined) return undefined;
    this.#hits++;
    const result = relabel(cached, file);
    // Move to the most recent end, under the file's current name.
    this.#entries.delete(id);
    this.#entries.set(id, result);
    return result;
  }

  /** The parsed content `id` of `file`: from the cache, or parsed from `text` and cached. */
  get(file: string, id: string, text: string | Uint8Array): ParsedFile {
    const cached = this.peek(file, id);
    if (cached !== undefined) return cached;
    this.#parses++;
    const parsed = typeof text === 'string' ? parseYamlFile(file, text) : parseYamlBytes(file, text);
    this.#entries.set(id, parsed);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return parsed;
  }

  /**
   * `compute(parsed)`, remembered with `parsed` under `key`: for facts about a result's documents
   * that do not depend on its file name (the repository files they name, ...), worked out once per
   * content instead of once per load. Kept as long as the result object lives.
   */
  derived<T>(parsed: ParsedFile, key: string, compute: (parsed: ParsedFile) => T): T {
    let values = this.#derived.get(parsed);
    if (values === undefined) this.#derived.set(parsed, (values = new Map()));
    if (values.has(key)) return values.get(key) as T;
    const value = compute(parsed);
    values.set(key, value);
    return value;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** The same content under another path (a moved or copied file): same values, new `file`. */
function relabel(parsed: ParsedFile, file: string): ParsedFile {
  const labelled = parsed.documents[0]?.file ?? parsed.syntaxIssues[0]?.file;
  if (labelled === undefined || labelled === file) return parsed;
  return {
    documents: parsed.documents.map((doc) => ({ ...doc, file })),
    syntaxIssues: parsed.syntaxIssues.map((issue) => ({ ...issue, file })),
    ...(parsed.size === undefined ? {} : { size: parsed.size }),
  };
}
