// The fleet repository as a source of revisions: fetch the branch, then read any commit of it
// without a checkout. `fetch()` only moves the branch; what to do with the new head (load,
// validate, compile) is the caller's pass, pinned to the oid it returned.
//
// Two kinds of source:
// - an http(s) URL: a BARE mirror in `<dataDir>/repo.git`, created with `git.init({ bare: true })`
//   and updated with isomorphic-git's `fetch` (single branch, full history, no tags). Writes go
//   through atomic-fs.ts, so readers of the mirror never see a half-written pack index or ref.
// - a local path (a working or bare repository, or a `file://` URL): read IN PLACE, no mirror and
//   no copy (isomorphic-git cannot fetch from a path). `fetch()` resolves `refs/heads/<branch>` in
//   that repository; `dataDir` is not used. The repository's own objects are the source of truth,
//   so a commit that its owner rewrites away and prunes (`git gc --prune`) stops being readable;
//   the next fetch returns the new head.
//
// Revision strings are `<branch>@sha1:<oid>` (source-controller style) for every commit read
// through the source, including older commits of the branch.
import nodeFs from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import git, { type FsClient, type HttpClient } from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import { createAtomicWriteFs } from './atomic-fs.ts';
import { gitErrorCode, RevisionError } from './errors.ts';
import { changedPaths } from './git-files.ts';
import { GitCommitReader, TreeListingCache } from './git-commit-reader.ts';
import { resolveLocalGitdir } from './local-repo.ts';
import { readRawCommit } from './raw-commit.ts';
import { enableDeltaBaseCache } from './pack-delta-cache.ts';
import type { RevisionEntry, RevisionReader } from './revision-reader.ts';
import { GitSourceError, redactUrl } from './source-errors.ts';

/** Basic credentials (`username` + `password`, e.g. a user and a personal access token) or a bearer `token`. */
export interface GitAuth {
  username?: string;
  password?: string;
  /** Sent as `Authorization: Bearer <token>` on every request; wins over username/password. */
  token?: string;
}

export interface GitSourceOptions {
  /** `http(s)://…` (credentials in it are used, then stripped), `file://…`, or a local path. */
  url: string;
  /** Where the mirror of a remote source lives (`<dataDir>/repo.git`). Unused for a local path. */
  dataDir: string;
  /** Default `main`. */
  branch?: string;
  auth?: GitAuth;
  /** What isomorphic-git reads and writes through. Default: node:fs with atomic writes. */
  fs?: FsClient;
  /** Default `isomorphic-git/http/node`. */
  http?: HttpClient;
  /** A fetch that takes longer fails with `git.fetch-failed`. Default 120 000. */
  fetchTimeoutMs?: number;
}

export interface FetchResult {
  /** The branch head after the fetch. */
  oid: string;
  /**
   * Whether `oid` differs from the head the previous fetch of this instance returned; true on an
   * instance's first fetch. Level-triggered callers compare `oid` with the revision they last
   * loaded instead.
   */
  changed: boolean;
}

export interface CommitInfo {
  oid: string;
  /** `Name <email>`. */
  author: string;
  /** The full message, trailing newlines removed. */
  message: string;
  /** The committer date, ISO 8601 in UTC. */
  committedAt: string;
}

type Location =
  | { kind: 'remote'; url: string; gitdir: string }
  | { kind: 'local'; path: string };

const FULL_OID = /^[0-9a-f]{40}$/i;

export class GitSource {
  /** The URL with credentials removed, or the local path: safe to log and to show. */
  readonly url: string;
  readonly branch: string;
  readonly kind: 'remote' | 'local';
  readonly #location: Location;
  readonly #fs: FsClient;
  readonly #http: HttpClient;
  readonly #auth: GitAuth;
  readonly #fetchTimeoutMs: number;
  #localGitdir: string | undefined;
  #head: string | undefined;
  /**
   * isomorphic-git's cache shared by the readers and commitInfo of one head: replaced when a
   * fetch moves the head, so memory follows the revisions in use, not every pack ever read.
   */
  #cache: object = {};
  /** Tree listings by oid, for every reader of this source: a commit re-reads only the trees it changed. */
  readonly #trees = new TreeListingCache();
  #running: Promise<FetchResult> | undefined;
  #queued: Promise<FetchResult> | undefined;

  private constructor(init: {
    location: Location;
    url: string;
    branch: string;
    fs: FsClient;
    http: HttpClient;
    auth: GitAuth;
    fetchTimeoutMs: number;
  }) {
    this.#location = init.location;
    this.kind = init.location.kind;
    this.url = init.url;
    this.branch = init.branch;
    this.#fs = init.fs;
    this.#http = init.http;
    this.#auth = init.auth;
    this.#fetchTimeoutMs = init.fetchTimeoutMs;
  }

  /**
   * Parses the URL and, for a remote source, creates the mirror if missing. Never touches the
   * network or a local source's repository: those errors come from `fetch()`.
   */
  static async open(options: GitSourceOptions): Promise<GitSource> {
    const branch = options.branch ?? 'main';
    if (!isPlausibleBranch(branch)) {
      throw new GitSourceError('git.config-invalid', `${JSON.stringify(branch)} is not a valid branch name`);
    }
    const parsed = parseSourceUrl(options.url);
    const common = {
      branch,
      http: options.http ?? nodeHttp,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 120_000,
    };
    if (parsed.kind === 'local') {
      return new GitSource({
        ...common,
        location: { kind: 'local', path: parsed.path },
        url: parsed.path,
        fs: options.fs ?? nodeFs,
        auth: {},
      });
    }

    const dataDir = resolve(options.dataDir);
    const gitdir = join(dataDir, 'repo.git');
    const tmpDir = join(dataDir, 'tmp');
    await mkdir(dataDir, { recursive: true });
    await rm(tmpDir, { recursive: true, force: true }); // leftovers of writes cut short by a crash
    const fs = options.fs ?? createAtomicWriteFs(tmpDir);
    await git.init({ fs, gitdir, bare: true, defaultBranch: branch }); // a no-op on an existing mirror
    // fetch() records the remote head under refs/remotes/origin/ (it needs a refspec for that),
    // then moves refs/heads/<branch> itself. The URL is kept for people inspecting the mirror.
    await git.setConfig({ fs, gitdir, path: 'remote.origin.url', value: parsed.url });
    await git.setConfig({ fs, gitdir, path: 'remote.origin.fetch', value: '+refs/heads/*:refs/remotes/origin/*' });
    return new GitSource({
      ...common,
      location: { kind: 'remote', url: parsed.url, gitdir },
      url: parsed.url,
      fs,
      auth: {
        username: options.auth?.username ?? parsed.username,
        password: options.auth?.password ?? parsed.password,
        token: options.auth?.token,
      },
    });
  }

  /** A local repository read in place (watch it with `watchLocalRefs`), not a remote mirror. */
  get isLocal(): boolean {
    return this.kind === 'local';
  }

  /** The head the last successful fetch returned. */
  get head(): string | undefined {
    return this.#head;
  }

  /**
   * Fetches the branch; typed `GitSourceError`s otherwise. One fetch runs at a time: calls made
   * while one runs share the single fetch that starts after it (which sees anything pushed
   * meanwhile), so a burst of triggers costs at most two fetches.
   */
  fetch(): Promise<FetchResult> {
    if (this.#queued !== undefined) return this.#queued;
    if (this.#running !== undefined) {
      const queued = this.#running
        .catch(() => undefined)
        .then(() => {
          this.#queued = undefined;
          return this.#start();
        });
      this.#queued = queued;
      return queued;
    }
    return this.#start();
  }

  async commitInfo(oid: string): Promise<CommitInfo> {
    const gitdir = await this.#gitdir();
    let result: Awaited<ReturnType<typeof git.readCommit>>;
    try {
      result = await git.readCommit({ fs: this.#fs, gitdir, oid: requireOid(oid), cache: this.#cache });
    } catch (err) {
      const code = gitErrorCode(err);
      if (code === 'NotFoundError' || code === 'ObjectTypeError') {
        throw new RevisionError('revision.ref-not-found', `${oid} is not a commit of ${this.url}`, { cause: err });
      }
      throw err;
    }
    const { author, committer, message } = result.commit;
    return {
      oid: result.oid,
      author: `${author.name} <${author.email}>`,
      message: message.replace(/\n+$/, ''),
      committedAt: new Date(committer.timestamp * 1000).toISOString(),
    };
  }

  /** The commit object's bytes as stored (for signature checks, edges/signatures/). */
  async rawCommit(oid: string): Promise<Uint8Array> {
    return readRawCommit(this.#fs, await this.#gitdir(), requireOid(oid), this.#cache, this.url);
  }

  /** Commit `oid` as a revision, `path` its fleet root; `RevisionError`s as GitCommitReader. */
  async reader(oid: string, path?: string): Promise<SourceRevisionReader> {
    const gitdir = await this.#gitdir();
    const cache = this.#cache;
    const commit = await GitCommitReader.open({ fs: this.#fs, gitdir, ref: requireOid(oid), path, cache, trees: this.#trees });
    return new SourceRevisionReader(commit, `${this.branch}@sha1:${commit.oid}`, cache);
  }

  /** Files that differ between two commits of the source, as `changedPaths` in git-files.ts. */
  async changedPaths(oidA: string, oidB: string, path?: string): Promise<string[]> {
    return changedPaths(this.#fs, await this.#gitdir(), requireOid(oidA), requireOid(oidB), path);
  }

  #start(): Promise<FetchResult> {
    const running: Promise<FetchResult> = this.#fetchOnce().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #fetchOnce(): Promise<FetchResult> {
    const oid = this.#location.kind === 'local' ? await this.#resolveLocal() : await this.#fetchRemote(this.#location);
    const changed = oid !== this.#head;
    if (changed) this.#cache = {};
    this.#head = oid;
    return { oid, changed };
  }

  async #resolveLocal(): Promise<string> {
    const gitdir = await this.#gitdir();
    try {
      return await git.resolveRef({ fs: this.#fs, gitdir, ref: `refs/heads/${this.branch}` });
    } catch (err) {
      if (gitErrorCode(err) === 'NotFoundError') {
        throw new GitSourceError('git.branch-missing', `branch ${this.branch} does not exist in ${this.url}`, { cause: err });
      }
      throw new GitSourceError('git.fetch-failed', `cannot read branch ${this.branch} of ${this.url}: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  async #fetchRemote(location: Extract<Location, { kind: 'remote' }>): Promise<string> {
    const remoteRef = `refs/heads/${this.branch}`;
    const { username, password, token } = this.#auth;
    const signal = AbortSignal.timeout(this.#fetchTimeoutMs);
    const http: HttpClient = { request: (request) => this.#http.request({ ...request, signal }) };
    let fetchHead: string | null | undefined;
    try {
      const result = await git.fetch({
        fs: this.#fs,
        http,
        gitdir: location.gitdir,
        url: location.url,
        ref: remoteRef, // our own ref of the same name: its head is sent as a "have"
        remoteRef,
        singleBranch: true,
        tags: false,
        headers: token !== undefined ? { Authorization: `Bearer ${token}` } : {},
        // Asked only after a 401; a second 401 (no onAuthFailure) fails the fetch.
        onAuth: token === undefined && (username !== undefined || password !== undefined) ? () => ({ username, password }) : undefined,
        cache: {},
      });
      fetchHead = result.fetchHead;
    } catch (err) {
      throw this.#fetchError(err, signal, remoteRef);
    }
    if (fetchHead === null || fetchHead === undefined) {
      throw new GitSourceError('git.branch-missing', `${this.url} has no commits (branch ${this.branch} does not exist)`);
    }
    try {
      await git.writeRef({ fs: this.#fs, gitdir: location.gitdir, ref: remoteRef, value: fetchHead, force: true });
    } catch (err) {
      throw new GitSourceError('git.fetch-failed', `cannot update ${remoteRef} in the mirror: ${describe(err)}`, { cause: err });
    }
    return fetchHead;
  }

  #fetchError(err: unknown, signal: AbortSignal, remoteRef: string): GitSourceError {
    const code = gitErrorCode(err);
    const where = `${this.url} (branch ${this.branch})`;
    if (code === 'HttpError') {
      const status = (err as { data?: { statusCode?: number } }).data?.statusCode;
      if (status === 401 || status === 403) {
        const what = this.#hasCredentials() ? 'refused the credentials' : 'requires credentials';
        return new GitSourceError('git.auth-failed', `${where} ${what} (HTTP ${status})`, { cause: err });
      }
      if (status === 404) {
        return new GitSourceError('git.repository-not-found', `no repository at ${this.url} (HTTP 404)`, { cause: err });
      }
      return new GitSourceError('git.fetch-failed', `fetching ${where} failed: HTTP ${status}`, { cause: err });
    }
    if (code === 'UserCanceledError') {
      return new GitSourceError('git.auth-failed', `${where} refused the credentials`, { cause: err });
    }
    if (code === 'NotFoundError' && (err as { data?: { what?: string } }).data?.what === remoteRef) {
      return new GitSourceError('git.branch-missing', `branch ${this.branch} does not exist in ${this.url}`, { cause: err });
    }
    if (code === 'SmartHttpError') {
      return new GitSourceError('git.repository-not-found', `${this.url} is not a Git smart-HTTP repository`, { cause: err });
    }
    if (signal.aborted) {
      return new GitSourceError('git.fetch-failed', `fetching ${where} timed out after ${this.#fetchTimeoutMs} ms`, { cause: err });
    }
    return new GitSourceError('git.fetch-failed', `fetching ${where} failed: ${describe(err)}`, { cause: err });
  }

  #hasCredentials(): boolean {
    const { username, password, token } = this.#auth;
    return username !== undefined || password !== undefined || token !== undefined;
  }

  async #gitdir(): Promise<string> {
    if (this.#location.kind === 'remote') return this.#location.gitdir;
    this.#localGitdir ??= await resolveLocalGitdir(this.#location.path);
    return this.#localGitdir;
  }
}

/**
 * A commit read through a GitSource: GitCommitReader's listing and bytes under the source's
 * revision string. The shared cache gets isomorphic-git's delta-base cache (pack-delta-cache.ts):
 * it lives as long as the readers of one head.
 */
export class SourceRevisionReader implements RevisionReader {
  /** `<branch>@sha1:<oid>`. */
  readonly revision: string;
  readonly oid: string;
  /** The fleet root inside the repository, `''` for the repository root. */
  readonly root: string;
  readonly commit: GitCommitReader;
  readonly #cache: object;

  constructor(commit: GitCommitReader, revision: string, cache: object) {
    this.commit = commit;
    this.revision = revision;
    this.oid = commit.oid;
    this.root = commit.root;
    this.#cache = cache;
  }

  async list(): Promise<readonly RevisionEntry[]> {
    const entries = await this.commit.list();
    enableDeltaBaseCache(this.#cache);
    return entries;
  }

  links(): Promise<readonly string[]> {
    return this.commit.links();
  }

  /** A commit object of the source, byte for byte (default: this revision's commit). */
  rawCommit(oid: string = this.oid): Promise<Uint8Array> {
    return this.commit.rawCommit(oid);
  }

  async read(path: string): Promise<Uint8Array> {
    try {
      return await this.commit.read(path);
    } finally {
      enableDeltaBaseCache(this.#cache);
    }
  }
}

type ParsedUrl = { kind: 'remote'; url: string; username?: string; password?: string } | { kind: 'local'; path: string };

function parseSourceUrl(raw: string): ParsedUrl {
  if (/^https?:\/\//i.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new GitSourceError('git.config-invalid', `${redactUrl(raw)} is not a valid URL`);
    }
    const username = url.username === '' ? undefined : decodeURIComponent(url.username);
    const password = url.password === '' ? undefined : decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    return { kind: 'remote', url: url.href.replace(/\/+$/, ''), username, password };
  }
  if (/^file:\/\//i.test(raw)) return { kind: 'local', path: fileURLToPath(raw) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || /^[^/\\]+@[^/\\]+:/.test(raw)) {
    throw new GitSourceError('git.config-invalid', `${redactUrl(raw)}: only http(s) URLs and local paths are supported`);
  }
  if (raw === '') throw new GitSourceError('git.config-invalid', 'the source URL is empty');
  return { kind: 'local', path: resolve(raw) };
}

/** The parts of `git check-ref-format --branch` that keep `refs/heads/<branch>` a plain file path. */
function isPlausibleBranch(branch: string): boolean {
  return (
    branch !== '' &&
    !branch.startsWith('/') &&
    !branch.startsWith('-') &&
    !branch.endsWith('/') &&
    !branch.endsWith('.lock') &&
    !branch.includes('..') &&
    !branch.includes('//') &&
    !branch.split('/').some((part) => part.startsWith('.')) &&
    !/[\\\x00-\x20\x7f~^:?*[]/.test(branch) &&
    branch !== 'HEAD'
  );
}

function requireOid(oid: string): string {
  if (!FULL_OID.test(oid)) {
    throw new RevisionError('revision.ref-not-found', `${JSON.stringify(oid)} is not a full commit oid`);
  }
  return oid.toLowerCase();
}

function describe(err: unknown): string {
  return redactUrl(err instanceof Error ? err.message : String(err));
}
