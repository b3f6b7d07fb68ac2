// The content-addressed blob store: every file content, script body and OS image artifact an
// accepted revision references, on disk in the data dir as `<dir>/sha256/<first two hex>/<hex>`.
//
// Contract:
// - `addRevision` stores a revision's repository files and inline contents before the revision is
//   served, so every blob a job may reference exists on disk before that job can be planned; a
//   restarted server serves the blobs of every revision it accepted before without reading Git.
// - `url` sources are recorded (`<hex>.url` beside where the blob will be) and downloaded once, on
//   first use, into the same store; concurrent first uses share one download.
// - Every blob is written to a temp file in its final directory while its SHA-256 is computed,
//   fsynced, checked against the hash, then renamed into place: a blob file that exists is whole
//   and correct. Leftover `*.tmp` files (a crash mid-write) are removed when the store opens.
// - Blobs are never read whole into memory by the store: `get` answers a path and a size, and
//   callers stream (see edges/http/send-blob.ts).
// - Nothing is deleted yet: disk use grows with every distinct blob ever accepted (docs/operations.md).
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FleetModel } from '../../core/model.ts';
import { normaliseRepoPath } from '../../core/validate/semantic-check.ts';
import { mapLimit } from '../git/map-limit.ts';
import type { RevisionReader } from '../git/revision-reader.ts';
import type { Logger } from '../../../../schemas/log.ts';

export interface StoredBlob {
  sha256: string;
  /** Absolute path of the verified blob file; read it as a stream. */
  path: string;
  size: number;
}

/**
 * `blob.upstream`: a `url` source could not be fetched or did not match its SHA-256 (agents retry:
 * HTTP 502). `blob.store`: the store could not write a blob (disk full, permissions): the source
 * pass fails and is retried; a person may need to free disk space.
 */
export class BlobStoreError extends Error {
  constructor(
    readonly code: 'blob.upstream' | 'blob.store',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface BlobStoreOptions {
  /** The store's root, `<data>/blobs`; created when missing. */
  dir: string;
  fetch?: typeof globalThis.fetch;
  log?: Logger;
  /** A `url` download that receives nothing for this long is abandoned (default 60 s). */
  stallTimeoutMs?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const WRITE_CONCURRENCY = 16;

export class BlobStore {
  readonly #options: BlobStoreOptions;
  readonly #downloads = new Map<string, Promise<StoredBlob>>();
  /** Hashes known to be stored (blobs are never deleted while the process runs). */
  readonly #present = new Set<string>();

  private constructor(options: BlobStoreOptions) {
    this.#options = options;
  }

  /** Opens (creates) the store and removes temp files a previous process left behind. */
  static async open(options: BlobStoreOptions): Promise<BlobStore> {
    const store = new BlobStore(options);
    await mkdir(path.join(options.dir, 'sha256'), { recursive: true, mode: 0o700 });
    await store.#removeLeftovers();
    await store.#adoptFlatCache();
    return store;
  }

  /** Where the blob lives (whether or not it exists yet). */
  pathOf(sha256: string): string {
    return path.join(this.#options.dir, 'sha256', sha256.slice(0, 2), sha256);
  }

  /**
   * Stores every blob `model` references that is not stored yet: repository files (read from
   * `reader`, checked against the hash validation computed), inline contents, and the URLs of
   * `url` sources. Resolves once all are on disk; `blob.store` when one cannot be written.
   */
  async addRevision(model: FleetModel, reader: RevisionReader): Promise<void> {
    const repo = new Map<string, string>();
    const inline = new Map<string, Uint8Array>();
    const urls = new Map<string, string>();
    const addRepo = (source: string) => {
      const normalised = normaliseRepoPath(source);
      const file = normalised === undefined ? undefined : model.repoFiles.get(normalised);
      if (file && normalised !== undefined) repo.set(file.sha256, normalised);
    };
    const addInline = (content: string) => {
      const bytes = new TextEncoder().encode(content);
      inline.set(createHash('sha256').update(bytes).digest('hex'), bytes);
    };
    for (const { doc } of model.files.values()) {
      if (doc.spec.source !== undefined) addRepo(doc.spec.source);
      if (doc.spec.content !== undefined) addInline(doc.spec.content);
      if (doc.spec.url !== undefined && doc.spec.sha256 !== undefined) urls.set(doc.spec.sha256, doc.spec.url);
    }
    for (const { doc } of model.scripts.values()) {
      if (doc.spec.source !== undefined) addRepo(doc.spec.source);
      if (doc.spec.content !== undefined) addInline(doc.spec.content);
    }
    // OSImage artifacts (kernel, initrd, wimboot, boot.wim, install image) for PXE provisioning.
    for (const { doc } of model.images.values()) {
      for (const artifact of [doc.spec.kernel, doc.spec.initrd, doc.spec.wimboot, doc.spec.bootWim, doc.spec.image]) {
        if (artifact === undefined) continue;
        if (artifact.source !== undefined) addRepo(artifact.source);
        else if (artifact.url !== undefined) urls.set(artifact.sha256, artifact.url);
      }
    }
    // Several at once: the cost of a new blob is mostly its fsync, which overlaps.
    const work: Array<() => Promise<void>> = [];
    for (const [sha256, repoPath] of repo) {
      if (!this.#present.has(sha256)) work.push(async () => {
          if (!(await this.#exists(sha256))) await this.#write(sha256, [await reader.read(repoPath)]);
        });
    }
    for (const [sha256, bytes] of inline) {
      if (!this.#present.has(sha256)) work.push(async () => {
          if (!(await this.#exists(sha256))) await this.#write(sha256, [bytes]);
        });
    }
    for (const [sha256, url] of urls) {
      if (!SHA256.test(sha256) || this.#present.has(sha256)) continue;
      work.push(async () => {
        if (await this.#exists(sha256)) return;
        const sidecar = `${this.pathOf(sha256)}.url`;
        if ((await readFile(sidecar, 'utf8').catch(() => undefined)) === url) return;
        await this.#writeFile(sidecar, Buffer.from(url));
      });
    }
    await mapLimit(work, WRITE_CONCURRENCY, (task) => task());
  }

  /**
   * The stored blob, downloading a `url` source on its first use; undefined when no accepted
   * revision references `sha256`. Throws `blob.upstream` when the URL fails or does not match.
   */
  async get(sha256: string): Promise<StoredBlob | undefined> {
    if (!SHA256.test(sha256)) return undefined;
    const file = this.pathOf(sha256);
    const size = await stat(file).then(
      (s) => s.size,
      () => undefined,
    );
    if (size !== undefined) return { sha256, path: file, size };
    const url = await readFile(`${file}.url`, 'utf8').catch(() => undefined);
    if (url === undefined) return undefined;
    let download = this.#downloads.get(sha256);
    if (!download) {
      download = this.#download(sha256, url).finally(() => this.#downloads.delete(sha256));
      this.#downloads.set(sha256, download);
    }
    return download;
  }

  /**
   * Why the blob cannot be served, or undefined when it can: unknown to every accepted revision,
   * or a `url` source that cannot be downloaded or does not match its SHA-256.
   */
  async problem(sha256: string): Promise<string | undefined> {
    try {
      return (await this.get(sha256)) ? undefined : 'not in any accepted revision';
    } catch (error) {
      return (error as Error).message;
    }
  }

  async #download(sha256: string, url: string): Promise<StoredBlob> {
    const fetchImpl = this.#options.fetch ?? globalThis.fetch;
    const stallMs = this.#options.stallTimeoutMs ?? 60_000;
    const shown = url.replace(/\/\/[^@/]+@/, '//');
    const controller = new AbortController();
    let timer = setTimeout(() => controller.abort(), stallMs);
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), stallMs);
    };
    try {
      const res = await fetchImpl(url, { signal: controller.signal }).catch((error: unknown) => {
        throw new BlobStoreError('blob.upstream', `fetching ${shown}: ${(error as Error).message}`);
      });
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new BlobStoreError('blob.upstream', `fetching ${shown}: HTTP ${res.status}`);
      }
      const body = res.body;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        try {
          for await (const chunk of body) {
            alive();
            yield chunk;
          }
        } catch (error) {
          throw new BlobStoreError('blob.upstream', `fetching ${shown}: ${controller.signal.aborted ? `nothing received for ${stallMs} ms` : (error as Error).message}`);
        }
      }
      await this.#write(sha256, chunks(), shown);
      this.#options.log?.info('blob downloaded', { sha256, url: shown });
      return { sha256, path: this.pathOf(sha256), size: (await stat(this.pathOf(sha256))).size };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Streams `chunks` into the blob's file, verifying the hash before the rename makes it visible. */
  async #write(sha256: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, from?: string): Promise<void> {
    const target = this.pathOf(sha256);
    const hash = createHash('sha256');
    await this.#writeFile(target, chunks, (chunk) => hash.update(chunk), () => {
      const actual = hash.digest('hex');
      if (actual === sha256) return;
      if (from !== undefined) throw new BlobStoreError('blob.upstream', `${from} has SHA-256 ${actual}, the fleet expects ${sha256}`);
      throw new BlobStoreError('blob.store', `blob ${sha256} was read with SHA-256 ${actual}; the revision's file changed under the reader`);
    });
    this.#present.add(sha256);
  }

  /** temp file in the target's directory + fsync + rename; `check` may refuse before the rename. */
  async #writeFile(
    target: string,
    chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Buffer,
    onChunk?: (chunk: Uint8Array) => void,
    check?: () => void,
  ): Promise<void> {
    const dir = path.dirname(target);
    const temp = path.join(dir, `${path.basename(target)}.${randomUUID()}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const handle = await open(temp, 'wx', 0o600);
      try {
        for await (const chunk of Buffer.isBuffer(chunks) ? [chunks] : chunks) {
          onChunk?.(chunk);
          await handle.write(chunk);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      check?.();
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      if (error instanceof BlobStoreError) throw error;
      throw new BlobStoreError('blob.store', `cannot write ${target}: ${(error as Error).message}; check free space and permissions of the data dir`, { cause: error });
    }
  }

  async #exists(sha256: string): Promise<boolean> {
    if (this.#present.has(sha256)) return true;
    const found = await stat(this.pathOf(sha256)).then(
      () => true,
      () => false,
    );
    if (found) this.#present.add(sha256);
    return found;
  }

  /** Versions before this store kept downloaded `url` sources flat in the same dir: move them in. */
  async #adoptFlatCache(): Promise<void> {
    for (const name of await readdir(this.#options.dir)) {
      if (!SHA256.test(name)) continue;
      await mkdir(path.dirname(this.pathOf(name)), { recursive: true, mode: 0o700 });
      await rename(path.join(this.#options.dir, name), this.pathOf(name));
    }
  }

  async #removeLeftovers(): Promise<void> {
    const root = path.join(this.#options.dir, 'sha256');
    let removed = 0;
    const dirs = [this.#options.dir, ...(await readdir(root)).map((prefix) => path.join(root, prefix))];
    for (const dir of dirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!name.endsWith('.tmp')) continue;
        await rm(path.join(dir, name), { force: true });
        removed++;
      }
    }
    if (removed > 0) this.#options.log?.info('removed unfinished blob writes', { files: removed });
  }
}
