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
import { YAML_MAX_FILE_BYTES, YAML_MAX_REVISION_BYTES } from './yaml-limits.ts';

export interface LoadRevisionOptions {
  /** Parsed documents by content; share one across loads so unchanged files are not re-parsed. */
  cache: ParseCache;
  /** Digests by content id; share one across loads so unchanged sources are not re-hashed. */
  hasher?: ContentHasher;
  /** Files read at once. Default 16. */
  concurrency?: number;
  /** Bytes of YAML parsed per revision (files over the file limit not counted). Default YAML_MAX_REVISION_BYTES. */
  maxRevisionBytes?: number;
}

/** The event loop gets a turn at least this often (ms) while files are parsed. */
const PARSE_SLICE_MS = 20;

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
  const { parsed, refused } = await parseWithinBudget(reader, yamlEntries, cache, concurrency, options.maxRevisionBytes ?? YAML_MAX_REVISION_BYTES);

  const documents: ParsedDocument[] = [];
  const syntaxIssues: SyntaxIssue[] = [];
  for (const file of parsed) {
    documents.push(...file.documents);
    syntaxIssues.push(...file.syntaxIssues);
  }
  if (refused !== undefined) syntaxIssues.push(refused);
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

  const warnings: SyntaxIssue[] = [];
  for (const link of (await reader.links?.()) ?? []) {
    if (!isYamlPath(link)) continue;
    const message = 'This YAML file is a symbolic link, so it is not read (a link may point outside the fleet root); commit the file itself.';
    warnings.push({ file: link, line: 1, col: 1, message, code: 'file.symlink' });
  }

  return { revision: reader.revision, documents, syntaxIssues, paths, files, warnings };
}

/**
 * The YAML files parsed in path order, `concurrency` read at once, until their bytes pass
 * `maxBytes`: the file that passes it gets one `revision.too-large` issue and neither it nor any
 * later file is parsed (the same files whatever the cache holds). A file over YAML_MAX_FILE_BYTES
 * is refused on its own (`file.too-large`) and does not count. Parsing is synchronous per file;
 * between files the event loop gets a turn every PARSE_SLICE_MS.
 */
async function parseWithinBudget(
  reader: RevisionReader,
  entries: readonly RevisionEntry[],
  cache: ParseCache,
  concurrency: number,
  maxBytes: number,
): Promise<{ parsed: ParsedFile[]; refused: SyntaxIssue | undefined }> {
  const parsed: ParsedFile[] = [];
  let total = 0;
  let slice = performance.now();
  for (let from = 0; from < entries.length; from += concurrency) {
    const chunk = entries.slice(from, from + concurrency);
    const contents = await mapLimit(chunk, concurrency, async (entry): Promise<ParsedFile | Uint8Array> => {
      const cached = entry.id === undefined ? undefined : cache.peek(entry.path, entry.id);
      return cached ?? reader.read(entry.path);
    });
    for (let i = 0; i < chunk.length; i++) {
      const entry = chunk[i]!;
      const content = contents[i]!;
      const size = content instanceof Uint8Array ? content.byteLength : (content.size ?? 0);
      if (size <= YAML_MAX_FILE_BYTES) total += size;
      if (total > maxBytes) {
        const message = `The YAML files up to this one hold more than ${formatMiB(maxBytes)}, the most a revision may hold, so it and the files after it are not parsed; move data out of the fleet repository or split the fleet.`;
        return { parsed, refused: { file: entry.path, line: 1, col: 1, message, code: 'revision.too-large' } };
      }
      parsed.push(content instanceof Uint8Array ? cache.get(entry.path, entry.id ?? `sha256:${sha256Hex(content)}`, content) : content);
      if (performance.now() - slice > PARSE_SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
    }
  }
  return { parsed, refused: undefined };
}

function formatMiB(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes} bytes`;
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
