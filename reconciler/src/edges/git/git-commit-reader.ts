// One commit as a revision, read straight from the object store (no checkout): the ref is
// resolved once when the reader is opened, the tree is walked once, blobs are read by oid.
//
// Revision strings (source-controller style): `main@sha1:<oid>` for a branch, `v1.2@sha1:<oid>`
// for a tag (peeled to its commit), `origin/main@sha1:<oid>` for a remote-tracking branch, the
// checked-out branch for `HEAD`, and `sha1:<oid>` for an oid or a detached HEAD.
import { createHash } from 'node:crypto';
import nodeFs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import git, { type FsClient } from 'isomorphic-git';
import { gitErrorCode, RevisionError } from './errors.ts';
import { comparePaths, isIgnoredDirectory, normaliseRootPath } from './fleet-paths.ts';
import { mapLimit } from './map-limit.ts';
import { enableDeltaBaseCache } from './pack-delta-cache.ts';
import type { RevisionEntry, RevisionReader } from './revision-reader.ts';
import { readRawCommit } from './raw-commit.ts';
import { mergeBase, parseRevisionExpression, splitMergeBase, walkParents } from './revision-expression.ts';

/** Where the repository is: a working repository (`dir`, gitdir `dir/.git`) or a git directory. */
export type GitRepoLocation = { dir: string; gitdir?: string } | { gitdir: string; dir?: undefined };

export type GitCommitReaderOptions = GitRepoLocation & {
  /** A branch, tag, other ref, `HEAD`, a (possibly abbreviated) commit oid, or an expression (`HEAD~1`, `A...B`). */
  ref: string;
  /** The fleet root inside the repository; the repository root when omitted. */
  path?: string;
  /** Default node:fs. */
  fs?: FsClient;
  /**
   * isomorphic-git's cache (parsed pack indexes, packfile contents), used by every read of this
   * reader. Default: the reader's own, with isomorphic-git's delta-base cache switched on (see
   * pack-delta-cache.ts), dropped with the reader. Pass one only to share pack loading with calls
   * made at the same time (`changedPaths`, another reader); it is used as is. A cache kept for a
   * server's life holds every packfile it ever read in memory, even packs removed by `git gc`.
   */
  cache?: object;
  /** Tree objects read at once while listing. Default 16. */
  concurrency?: number;
  /**
   * Listings of tree objects already read, by oid; share one across the readers of a repository
   * so a commit that changes one file reads only the trees on that file's path. Default: none.
   */
  trees?: TreeListingCache;
};

/** What one tree object holds, as a revision sees it: its files, its subtrees and its symbolic links, by name. */
interface TreeListing {
  files: [name: string, oid: string][];
  subtrees: [name: string, oid: string][];
  links: string[];
}

export interface TreeListingCacheOptions {
  /** Trees kept; the least recently used beyond this are dropped. Default 10,000. */
  maxEntries?: number;
}

/**
 * Tree listings by tree oid. A tree object never changes, so its listing is valid in every
 * revision that holds it. LRU-bounded like ParseCache.
 */
export class TreeListingCache {
  readonly maxEntries: number;
  readonly #listings = new Map<string, TreeListing>();

  constructor(options: TreeListingCacheOptions = {}) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  get size(): number {
    return this.#listings.size;
  }

  get(oid: string): TreeListing | undefined {
    const listing = this.#listings.get(oid);
    if (listing !== undefined) {
      this.#listings.delete(oid);
      this.#listings.set(oid, listing);
    }
    return listing;
  }

  set(oid: string, listing: TreeListing): void {
    this.#listings.set(oid, listing);
    if (this.#listings.size > this.maxEntries) {
      const oldest = this.#listings.keys().next();
      if (!oldest.done) this.#listings.delete(oldest.value);
    }
  }
}

const FULL_OID = /^[0-9a-f]{40}$/i;
const SHORT_OID = /^[0-9a-f]{4,39}$/i;
const MODE_SYMLINK = '120000';

export class GitCommitReader implements RevisionReader {
  /** `<ref short name>@sha1:<oid>` or `sha1:<oid>`. */
  readonly revision: string;
  /** The commit, after peeling tags. */
  readonly oid: string;
  /** The short name the ref was resolved through; undefined for an oid or a detached HEAD. */
  readonly refName: string | undefined;
  /** The fleet root inside the repository, `''` for the repository root. */
  readonly root: string;
  readonly #fs: FsClient;
  readonly #gitdir: string;
  readonly #cache: object;
  /** Whether `#cache` is the reader's own (so its delta-base cache may be switched on). */
  readonly #ownsCache: boolean;
  readonly #concurrency: number;
  readonly #rootTree: string;
  readonly #trees: TreeListingCache | undefined;
  readonly #files: FileAccess | undefined;
  /** The `objects/xx` directories of loose objects, listed on the first read. */
  #looseDirs: Promise<ReadonlySet<string>> | undefined;
  #listing: Promise<{ entries: RevisionEntry[]; oids: Map<string, string>; links: string[] }> | undefined;

  private constructor(init: {
    fs: FsClient;
    gitdir: string;
    cache: object;
    ownsCache: boolean;
    concurrency: number;
    oid: string;
    refName: string | undefined;
    root: string;
    rootTree: string;
    trees: TreeListingCache | undefined;
  }) {
    this.#fs = init.fs;
    this.#gitdir = init.gitdir;
    this.#cache = init.cache;
    this.#ownsCache = init.ownsCache;
    this.#concurrency = init.concurrency;
    this.oid = init.oid;
    this.refName = init.refName;
    this.root = init.root;
    this.#rootTree = init.rootTree;
    this.#trees = init.trees;
    this.#files = fileAccess(init.fs);
    this.revision = init.refName === undefined ? `sha1:${init.oid}` : `${init.refName}@sha1:${init.oid}`;
  }

  /** A commit object of this repository, byte for byte (default: this reader's commit). */
  rawCommit(oid: string = this.oid): Promise<Uint8Array> {
    return readRawCommit(this.#fs, this.#gitdir, oid, this.#cache, this.#gitdir);
  }

  /** Resolves `ref` to a commit and the fleet root to a tree; typed `RevisionError`s otherwise. */
  static async open(options: GitCommitReaderOptions): Promise<GitCommitReader> {
    const fs = options.fs ?? nodeFs;
    const gitdir = options.gitdir ?? join(options.dir as string, '.git');
    const cache = options.cache ?? {};
    const root = normaliseRootPath(options.path);
    if (root === undefined) {
      throw new RevisionError('revision.path-invalid', `fleet root ${JSON.stringify(options.path)} leaves the repository`);
    }

    const { oid: resolved, refName } = await resolveRef(fs, gitdir, options.ref, cache);
    let oid: string;
    let commitTree: string;
    try {
      const { oid: commitOid, commit } = await git.readCommit({ fs, gitdir, oid: resolved, cache });
      oid = commitOid;
      commitTree = commit.tree;
    } catch (err) {
      const code = gitErrorCode(err);
      if (code === 'ObjectTypeError') {
        throw new RevisionError('revision.not-a-commit', `${options.ref} (${resolved}) is not a commit`, { cause: err });
      }
      if (code === 'NotFoundError') {
        throw new RevisionError('revision.ref-not-found', `${options.ref} (${resolved}) is not in ${gitdir}`, { cause: err });
      }
      throw err;
    }

    let rootTree = commitTree;
    if (root !== '') {
      try {
        rootTree = (await git.readTree({ fs, gitdir, oid: commitTree, filepath: root, cache })).oid;
      } catch (err) {
        const code = gitErrorCode(err);
        if (code === 'NotFoundError' || code === 'ObjectTypeError') {
          throw new RevisionError('revision.root-not-found', `${root} is not a directory in commit ${oid}`, { cause: err });
        }
        throw err;
      }
    }

    return new GitCommitReader({
      fs,
      gitdir,
      cache,
      ownsCache: options.cache === undefined,
      concurrency: options.concurrency ?? 16,
      oid,
      refName,
      root,
      rootTree,
      trees: options.trees,
    });
  }

  async list(): Promise<readonly RevisionEntry[]> {
    return (await this.#list()).entries;
  }

  async links(): Promise<readonly string[]> {
    return (await this.#list()).links;
  }

  async read(path: string): Promise<Uint8Array> {
    const { oids } = await this.#list();
    const oid = oids.get(path);
    if (oid === undefined) {
      throw new RevisionError('revision.file-not-found', `${path} is not a file of ${this.revision}`);
    }
    const loose = await this.#readLoose(oid);
    if (loose !== undefined) return loose;
    const { blob } = await git.readBlob({ fs: this.#fs, gitdir: this.#gitdir, oid, cache: this.#cache });
    // Pack indexes load lazily, on the first object of each pack: cheap to call every time.
    if (this.#ownsCache) enableDeltaBaseCache(this.#cache);
    return blob;
  }

  async #readListing(oid: string): Promise<TreeListing> {
    const { tree } = await git.readTree({ fs: this.#fs, gitdir: this.#gitdir, oid, cache: this.#cache });
    const listing: TreeListing = { files: [], subtrees: [], links: [] };
    for (const entry of tree) {
      if (entry.type === 'tree') {
        if (!isIgnoredDirectory(entry.path)) listing.subtrees.push([entry.path, entry.oid]);
      } else if (entry.type === 'blob' && entry.mode !== MODE_SYMLINK) {
        listing.files.push([entry.path, entry.oid]);
      } else if (entry.type === 'blob') {
        listing.links.push(entry.path);
      }
      // Submodules (`commit` entries) and symbolic links are not part of a revision.
    }
    this.#trees?.set(oid, listing);
    return listing;
  }

  /** readLooseBlob, tried only where loose objects are (a packed repository has none). */
  async #readLoose(oid: string): Promise<Uint8Array | undefined> {
    const files = this.#files;
    if (files === undefined) return undefined;
    this.#looseDirs ??= files.readdir(join(this.#gitdir, 'objects')).then(
      (names) => new Set(names.filter((name) => /^[0-9a-f]{2}$/.test(name))),
      () => new Set<string>(),
    );
    if (!(await this.#looseDirs).has(oid.slice(0, 2))) return undefined;
    return readLooseBlob(files.readFile, this.#gitdir, oid);
  }

  #list(): Promise<{ entries: RevisionEntry[]; oids: Map<string, string>; links: string[] }> {
    this.#listing ??= this.#walk();
    return this.#listing;
  }

  /** Every tree object is read once (or not at all when its listing is known); blobs are only named here, never read. */
  async #walk(): Promise<{ entries: RevisionEntry[]; oids: Map<string, string>; links: string[] }> {
    const entries: RevisionEntry[] = [];
    const links: string[] = [];
    let level: { oid: string; prefix: string }[] = [{ oid: this.#rootTree, prefix: '' }];
    while (level.length > 0) {
      const next = await mapLimit(level, this.#concurrency, async ({ oid, prefix }) => {
        const listing = this.#trees?.get(oid) ?? (await this.#readListing(oid));
        for (const [name, id] of listing.files) entries.push({ path: prefix + name, id });
        for (const name of listing.links) links.push(prefix + name);
        return listing.subtrees.map(([name, id]) => ({ oid: id, prefix: `${prefix}${name}/` }));
      });
      level = next.flat();
    }
    if (this.#ownsCache) enableDeltaBaseCache(this.#cache);
    entries.sort((a, b) => comparePaths(a.path, b.path));
    links.sort(comparePaths);
    return { entries, oids: new Map(entries.map((e) => [e.path, e.id as string])), links };
  }
}

/**
 * The bytes of blob `oid` when it is a loose object (`objects/12/34…`: zlib of `blob <size>\0`
 * and the bytes), checked against its oid; undefined when it is not loose (packed: isomorphic-git
 * reads it) or anything about it is unexpected (isomorphic-git then reads it, or reports why not).
 *
 * Why: `git.readBlob` costs ~0.2–0.3 ms per object on top of the read (it wraps the fs client and
 * stats the git directory on every call, inflates in JavaScript, hashes through WebCrypto), most
 * of a cold load's reading of thousands of freshly committed files; this costs ~0.05 ms.
 */
async function readLooseBlob(readFile: (path: string) => Promise<Uint8Array>, gitdir: string, oid: string): Promise<Uint8Array | undefined> {
  let wrapped: Buffer;
  try {
    wrapped = inflateSync(await readFile(join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
  } catch {
    return undefined;
  }
  const nul = wrapped.indexOf(0);
  if (nul < 0 || nul > 32) return undefined;
  const [type, size] = wrapped.subarray(0, nul).toString('latin1').split(' ');
  if (type !== 'blob' || Number(size) !== wrapped.length - nul - 1) return undefined;
  if (createHash('sha1').update(wrapped).digest('hex') !== oid) return undefined;
  return new Uint8Array(wrapped.buffer, wrapped.byteOffset + nul + 1, wrapped.length - nul - 1);
}

interface FileAccess {
  readFile: (path: string) => Promise<Uint8Array>;
  readdir: (path: string) => Promise<string[]>;
}

/**
 * `readFile` and `readdir` of the reader's fs client (node:fs's callback readFile: fewer round trips
 * than its promises); undefined for a client without promises (isomorphic-git reads everything).
 */
function fileAccess(fs: FsClient): FileAccess | undefined {
  if (fs === nodeFs) return { readFile: promisify(nodeFs.readFile), readdir: (path) => nodeFs.promises.readdir(path) };
  const promises = (fs as { promises?: { readFile?: unknown; readdir?: unknown } }).promises;
  if (typeof promises?.readFile !== 'function' || typeof promises.readdir !== 'function') return undefined;
  const { readFile, readdir } = promises as { readFile: (path: string) => Promise<Uint8Array>; readdir: (path: string) => Promise<string[]> };
  return { readFile: (path) => readFile.call(promises, path), readdir: (path) => readdir.call(promises, path) };
}

/**
 * A ref, oid or revision expression (`HEAD~1`, `main^2`, `main...feature`: revision-expression.ts)
 * → the object it names and the short name to show in the revision string (none for an
 * expression: `HEAD~1` is not a name the commit keeps).
 */
async function resolveRef(
  fs: FsClient,
  gitdir: string,
  ref: string,
  cache: object,
): Promise<{ oid: string; refName: string | undefined }> {
  const repo = { fs, gitdir, cache };
  const sides = splitMergeBase(ref);
  if (sides) {
    const [left, right] = await Promise.all(sides.map((side) => resolveRef(fs, gitdir, side, cache)));
    return { oid: await mergeBase(repo, ref, left!.oid, right!.oid), refName: undefined };
  }
  const expression = parseRevisionExpression(ref);
  if (expression && expression.steps.length > 0) {
    const start = await resolveName(fs, gitdir, expression.name, cache);
    return { oid: await walkParents(repo, ref, start.oid, expression.steps), refName: undefined };
  }
  return resolveName(fs, gitdir, ref, cache);
}

/** A ref or oid → the object it names and the short name to show in the revision string. */
async function resolveName(
  fs: FsClient,
  gitdir: string,
  ref: string,
  cache: object,
): Promise<{ oid: string; refName: string | undefined }> {
  if (FULL_OID.test(ref)) return { oid: ref.toLowerCase(), refName: undefined };
  if (!isPlausibleRefName(ref)) {
    throw new RevisionError('revision.ref-not-found', `${JSON.stringify(ref)} is not a valid ref name`);
  }
  let fullname: string | undefined;
  try {
    fullname = await git.expandRef({ fs, gitdir, ref });
  } catch (err) {
    if (gitErrorCode(err) !== 'NotFoundError') throw err;
  }
  if (fullname !== undefined) {
    let oid: string;
    try {
      oid = await git.resolveRef({ fs, gitdir, ref: fullname });
    } catch (err) {
      if (gitErrorCode(err) !== 'NotFoundError') throw err;
      throw new RevisionError('revision.ref-not-found', `${ref} does not resolve in ${gitdir}`, { cause: err });
    }
    if (fullname === 'HEAD') {
      const branch = await git.currentBranch({ fs, gitdir, fullname: false });
      return { oid, refName: branch ?? undefined };
    }
    return { oid, refName: shortRefName(fullname) };
  }
  if (SHORT_OID.test(ref)) {
    try {
      return { oid: await git.expandOid({ fs, gitdir, oid: ref.toLowerCase(), cache }), refName: undefined };
    } catch (err) {
      if (gitErrorCode(err) !== 'NotFoundError') throw err;
    }
  }
  throw new RevisionError('revision.ref-not-found', `${ref} is neither a ref nor a commit in ${gitdir}`);
}

/**
 * The parts of `git check-ref-format` that keep a ref inside the git directory: refs are looked up
 * as files under it, so `..`, absolute paths and control characters never reach the file system.
 */
function isPlausibleRefName(ref: string): boolean {
  return (
    ref !== '' &&
    !ref.startsWith('/') &&
    !ref.endsWith('/') &&
    !ref.includes('..') &&
    !ref.includes('//') &&
    !/[\\\x00-\x20\x7f~^:?*[]/.test(ref)
  );
}

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`, `refs/remotes/origin/main` → `origin/main`. */
export function shortRefName(fullname: string): string {
  for (const prefix of ['refs/heads/', 'refs/tags/', 'refs/remotes/', 'refs/']) {
    if (fullname.startsWith(prefix)) return fullname.slice(prefix.length);
  }
  return fullname;
}
