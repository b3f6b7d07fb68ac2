// Content-addressed blobs the agents download: file contents and script bodies of every accepted
// revision, by SHA-256. Repository files are read from Git on demand (never held in memory);
// inline contents are small and kept; `url` sources are downloaded once by the server, verified
// against their SHA-256 and kept in the cache directory. Older revisions stay reachable, so a job
// planned before a new commit can still fetch what it was planned with.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FleetModel } from '../core/model.ts';
import { sha256Hex } from '../core/sha256.ts';
import { normaliseRepoPath } from '../core/validate/semantic-check.ts';
import type { RevisionReader } from '../edges/git/revision-reader.ts';

type BlobSource =
  | { kind: 'inline'; bytes: Uint8Array }
  | { kind: 'repo'; reader: RevisionReader; path: string }
  | { kind: 'url'; url: string };

/** A `url` source could not be fetched or did not match its SHA-256 (agents retry a 502). */
export class BlobUpstreamError extends Error {
  readonly code = 'blob.upstream';
}

export class BlobIndex {
  readonly #sources = new Map<string, BlobSource>();

  constructor(private readonly options: { cacheDir: string; fetch?: typeof globalThis.fetch }) {}

  addRevision(model: FleetModel, reader: RevisionReader): void {
    const addRepo = (source: string) => {
      const path = normaliseRepoPath(source);
      const file = path === undefined ? undefined : model.repoFiles.get(path);
      if (file && path !== undefined) this.#sources.set(file.sha256, { kind: 'repo', reader, path });
    };
    const addInline = (content: string) => {
      const bytes = new TextEncoder().encode(content);
      this.#sources.set(sha256Hex(bytes), { kind: 'inline', bytes });
    };
    for (const { doc } of model.files.values()) {
      if (doc.spec.source !== undefined) addRepo(doc.spec.source);
      if (doc.spec.content !== undefined) addInline(doc.spec.content);
      if (doc.spec.url !== undefined && doc.spec.sha256 !== undefined && !this.#sources.has(doc.spec.sha256)) {
        this.#sources.set(doc.spec.sha256, { kind: 'url', url: doc.spec.url });
      }
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
        else if (artifact.url !== undefined && !this.#sources.has(artifact.sha256)) {
          this.#sources.set(artifact.sha256, { kind: 'url', url: artifact.url });
        }
      }
    }
  }

  /**
   * Why the blob cannot be served, or undefined when it can: unknown to every accepted revision,
   * or a `url` source that cannot be downloaded or does not match its SHA-256 (downloaded once
   * and kept in the cache directory, so a later call costs a file read). Repository files were
   * checked against their SHA-256 when the revision was validated.
   */
  async problem(sha256: string): Promise<string | undefined> {
    const source = this.#sources.get(sha256);
    if (!source) return 'not in any accepted revision';
    if (source.kind !== 'url') return undefined;
    try {
      await this.#fromUrl(sha256, source.url);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  has(sha256: string): boolean {
    return this.#sources.has(sha256);
  }

  async read(sha256: string): Promise<Uint8Array | undefined> {
    const source = this.#sources.get(sha256);
    if (!source) return undefined;
    if (source.kind === 'inline') return source.bytes;
    if (source.kind === 'repo') return source.reader.read(source.path);
    return this.#fromUrl(sha256, source.url);
  }

  async #fromUrl(sha256: string, url: string): Promise<Uint8Array> {
    const file = path.join(this.options.cacheDir, sha256);
    const cached = await readFile(file).catch(() => undefined);
    if (cached) return cached;
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    let bytes: Buffer;
    try {
      const res = await fetchImpl(url, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      bytes = Buffer.from(await res.arrayBuffer());
    } catch (error) {
      throw new BlobUpstreamError(`fetching ${url.replace(/\/\/[^@/]+@/, '//')}: ${(error as Error).message}`);
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new BlobUpstreamError(`${url} has SHA-256 ${actual}, the fleet expects ${sha256}`);
    await mkdir(this.options.cacheDir, { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, bytes);
    await rename(temp, file);
    return bytes;
  }
}
