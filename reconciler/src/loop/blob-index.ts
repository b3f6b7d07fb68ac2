// Content-addressed blobs the agents download: file contents and script bodies of every accepted
// revision, by SHA-256. Repository files are read from Git on demand (never held in memory);
// inline contents are small and kept. Older revisions stay reachable, so a job planned before a
// new commit can still fetch what it was planned with.
import type { FleetModel } from '../core/model.ts';
import { sha256Hex } from '../core/sha256.ts';
import { normaliseRepoPath } from '../core/validate/semantic-check.ts';
import type { RevisionReader } from '../edges/git/revision-reader.ts';

type BlobSource = { kind: 'inline'; bytes: Uint8Array } | { kind: 'repo'; reader: RevisionReader; path: string };

export class BlobIndex {
  readonly #sources = new Map<string, BlobSource>();

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
    }
    for (const { doc } of model.scripts.values()) {
      if (doc.spec.source !== undefined) addRepo(doc.spec.source);
      if (doc.spec.content !== undefined) addInline(doc.spec.content);
    }
  }

  has(sha256: string): boolean {
    return this.#sources.has(sha256);
  }

  async read(sha256: string): Promise<Uint8Array | undefined> {
    const source = this.#sources.get(sha256);
    if (!source) return undefined;
    return source.kind === 'inline' ? source.bytes : source.reader.read(source.path);
  }
}
