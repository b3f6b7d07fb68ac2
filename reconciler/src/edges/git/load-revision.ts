// One revision → LoadedRevision: every YAML file parsed (through the ParseCache), every path
// listed, and the SHA-256 of every repository file a document names as its `source`.
//
// Source paths are keyed in `files` by `normaliseFleetPath(source)` (`./files/motd` →
// `files/motd`); the validator must look them up the same way. A source that is absolute or
// leaves the fleet root is never read (the validator reports it); a source that is not a file of
// the revision has no entry (the validator reports it too).
import type { LoadedRevision, ParsedDocument, RepoFile, SyntaxIssue } from '../../core/model.ts';
import { ContentHasher, sha256Hex } from './content-hasher.ts';
import { RevisionError } from './errors.ts';
import { comparePaths, isYamlPath, normaliseFleetPath } from './fleet-paths.ts';
import { mapLimit } from './map-limit.ts';
import type { ParseCache } from './parse-cache.ts';
import { parseFilesInParallel } from './parallel-parse.ts';
import { parseYamlBytes, type ParsedFile } from './parse-yaml.ts';
import type { RevisionEntry, RevisionReader } from './revision-reader.ts';

export interface LoadRevisionOptions {
  /** Parsed documents by content; share one across loads so unchanged files are not re-parsed. */
  cache: ParseCache;
  /** Digests by content id; share one across loads so unchanged sources are not re-hashed. */
  hasher?: ContentHasher;
  /** Files read at once. Default 16. */
  concurrency?: number;
  /**
   * Parse on worker threads as well (parallel-parse.ts) when the files not in the cache add up to
   * at least `minBytes` (default 512 KiB: a cold load, or a commit that rewrites much of the
   * repository); `workers` as in ParallelParseOptions. `false`: always parse on this thread.
   */
  parallel?: false | { minBytes?: number; workers?: number };
}

export const DEFAULT_PARALLEL_PARSE_BYTES = 512 * 1024;

/** OSImage artifacts that may name a repository file in `source`. */
const ARTIFACT_FIELDS = ['kernel', 'initrd', 'wimboot', 'bootWim', 'image'] as const;

export async function loadRevision(reader: RevisionReader, options: LoadRevisionOptions): Promise<LoadedRevision> {
  const hasher = options.hasher ?? new ContentHasher();
  const concurrency = options.concurrency ?? 16;

  const entries = await reader.list();
  const paths = new Set<string>();
  const byPath = new Map<string, RevisionEntry>();
  for (const entry of entries) {
    paths.add(entry.path);
    byPath.set(entry.path, entry);
  }

  const yamlEntries = entries.filter((e) => isYamlPath(e.path)).sort((a, b) => comparePaths(a.path, b.path));
  const parsed = await parseEntries(reader, yamlEntries, options, concurrency);

  const documents: ParsedDocument[] = [];
  const syntaxIssues: SyntaxIssue[] = [];
  for (const file of parsed) {
    documents.push(...file.documents);
    syntaxIssues.push(...file.syntaxIssues);
  }
  // Files are in path order and documents in stream order within a file: already (file, index).
  syntaxIssues.sort((a, b) => comparePaths(a.file, b.file) || a.line - b.line || a.col - b.col);

  const sources = new Set<string>();
  for (const doc of documents) {
    for (const source of referencedSources(doc.value)) {
      const path = normaliseFleetPath(source);
      if (path !== undefined && paths.has(path)) sources.add(path);
    }
  }
  const sourcePaths = [...sources].sort(comparePaths);
  const digests = await mapLimit(sourcePaths, concurrency, (path) =>
    hasher.digest(byPath.get(path)?.id, () => reader.read(path)),
  );
  const files = new Map<string, RepoFile>();
  sourcePaths.forEach((path, i) => {
    const digest = digests[i];
    if (digest !== undefined) files.set(path, { path, sha256: digest.sha256, size: digest.size });
  });

  return { revision: reader.revision, documents, syntaxIssues, paths, files };
}

/** Every entry's ParsedFile, from the cache or parsed (and cached), in entry order. */
async function parseEntries(
  reader: RevisionReader,
  yamlEntries: readonly RevisionEntry[],
  options: LoadRevisionOptions,
  concurrency: number,
): Promise<ParsedFile[]> {
  const { cache } = options;
  const parsed = new Array<ParsedFile | undefined>(yamlEntries.length);
  /** Files to parse, by content id: one parse however many paths hold the same content. */
  const misses = new Map<string, { file: string; bytes: Uint8Array; entries: number[] }>();
  await mapLimit(yamlEntries, concurrency, async (entry, i): Promise<void> => {
    if (entry.id !== undefined) {
      const cached = cache.peek(entry.path, entry.id);
      if (cached !== undefined) {
        parsed[i] = cached;
        return;
      }
    }
    const bytes = await reader.read(entry.path);
    const id = entry.id ?? `sha256:${sha256Hex(bytes)}`;
    const miss = misses.get(id);
    if (miss !== undefined) {
      miss.entries.push(i);
      return;
    }
    const cached = entry.id === undefined ? cache.peek(entry.path, id) : undefined;
    if (cached !== undefined) parsed[i] = cached;
    else misses.set(id, { file: entry.path, bytes, entries: [i] });
  });

  const jobs = [...misses.values()];
  let bytes = 0;
  for (const job of jobs) bytes += job.bytes.byteLength;
  const parallel = options.parallel ?? {};
  const results =
    parallel !== false && jobs.length > 1 && bytes >= (parallel.minBytes ?? DEFAULT_PARALLEL_PARSE_BYTES)
      ? await parseFilesInParallel(jobs, parallel.workers === undefined ? {} : { workers: parallel.workers })
      : jobs.map((job) => parseYamlBytes(job.file, job.bytes));
  [...misses.keys()].forEach((id, j) => {
    const [first, ...others] = jobs[j]!.entries;
    cache.add(id, results[j]!);
    parsed[first!] = results[j]!;
    // Other paths with the same content: the cache labels its result with their path.
    for (const i of others) parsed[i] = cache.peek(yamlEntries[i]!.path, id) ?? results[j]!;
  });
  return parsed as ParsedFile[];
}

/**
 * The bytes of one file of the revision, for serving blobs. The path is normalised first;
 * `revision.path-invalid` for an absolute path or one that leaves the fleet root,
 * `revision.file-not-found` for a path that is not a file of the revision.
 */
export async function readRepoFile(reader: RevisionReader, path: string): Promise<Uint8Array> {
  const normal = normaliseFleetPath(path);
  if (normal === undefined) {
    throw new RevisionError('revision.path-invalid', `${JSON.stringify(path)} is absolute or leaves the fleet root`);
  }
  return reader.read(normal);
}

/**
 * The raw `source` strings of one document: `spec.source` of a FileDeployment or Script, and
 * `spec.<artifact>.source` of an OSImage. Anything that is not a string is the schema's business.
 */
export function referencedSources(value: unknown): string[] {
  if (!isRecord(value) || !isRecord(value.spec)) return [];
  const spec = value.spec;
  const found: string[] = [];
  switch (value.kind) {
    case 'FileDeployment':
    case 'Script':
      if (typeof spec.source === 'string') found.push(spec.source);
      break;
    case 'OSImage':
      for (const field of ARTIFACT_FIELDS) {
        const artifact = spec[field];
        if (isRecord(artifact) && typeof artifact.source === 'string') found.push(artifact.source);
      }
      break;
  }
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
