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
import type { ParsedFile } from './parse-yaml.ts';
import type { RevisionEntry, RevisionReader } from './revision-reader.ts';

export interface LoadRevisionOptions {
  /** Parsed documents by content; share one across loads so unchanged files are not re-parsed. */
  cache: ParseCache;
  /** Digests by content id; share one across loads so unchanged sources are not re-hashed. */
  hasher?: ContentHasher;
  /** Files read at once. Default 16. */
  concurrency?: number;
}

/** OSImage artifacts that may name a repository file in `source`. */
const ARTIFACT_FIELDS = ['kernel', 'initrd', 'wimboot', 'bootWim', 'image'] as const;

export async function loadRevision(reader: RevisionReader, options: LoadRevisionOptions): Promise<LoadedRevision> {
  const { cache } = options;
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
  const parsed = await mapLimit(yamlEntries, concurrency, async (entry): Promise<ParsedFile> => {
    if (entry.id !== undefined) {
      const cached = cache.peek(entry.path, entry.id);
      if (cached !== undefined) return cached;
    }
    const bytes = await reader.read(entry.path);
    return cache.get(entry.path, entry.id ?? `sha256:${sha256Hex(bytes)}`, bytes);
  });

  const documents: ParsedDocument[] = [];
  const syntaxIssues: SyntaxIssue[] = [];
  for (const file of parsed) {
    documents.push(...file.documents);
    syntaxIssues.push(...file.syntaxIssues);
  }
  // Files are in path order and documents in stream order within a file: already (file, index).
  syntaxIssues.sort((a, b) => comparePaths(a.file, b.file) || a.line - b.line || a.col - b.col);

  const sources = new Set<string>();
  for (const file of parsed) {
    for (const path of cache.derived(file, 'sources', normalisedSources)) if (paths.has(path)) sources.add(path);
  }
  const sourcePaths = [...sources].sort(comparePaths);
  // Known digests are taken at once; only the others are read (and hashed) concurrently.
  const digests = sourcePaths.map((path) => hasher.peek(byPath.get(path)?.id));
  const unknown: number[] = [];
  digests.forEach((digest, i) => digest === undefined && unknown.push(i));
  const read = await mapLimit(unknown, concurrency, (i) => hasher.digest(byPath.get(sourcePaths[i]!)?.id, () => reader.read(sourcePaths[i]!)));
  unknown.forEach((i, j) => (digests[i] = read[j]));
  const files = new Map<string, RepoFile>();
  sourcePaths.forEach((path, i) => {
    const digest = digests[i];
    if (digest !== undefined) files.set(path, { path, sha256: digest.sha256, size: digest.size });
  });

  return { revision: reader.revision, documents, syntaxIssues, paths, files };
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

/** The normalised `source` paths the documents of a file name (those that stay inside the fleet root). */
function normalisedSources(file: ParsedFile): string[] {
  const found: string[] = [];
  for (const doc of file.documents) {
    for (const source of referencedSources(doc.value)) {
      const path = normaliseFleetPath(source);
      if (path !== undefined) found.push(path);
    }
  }
  return found;
}

/**
 * The raw `source` strings of one document: `spec.source` of a FileDeployment or Script, and
 * `spec.<artifact>.source` of an OSImage. Anything that is not a string is the schema's business.
 */
export function referencedSources(value: unknown): string[] {
  if (!isRecord(value) || !isRecord(value.spec)) return [];
  if (value.kind !== 'FileDeployment' && value.kind !== 'Script' && value.kind !== 'OSImage') return [];
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
