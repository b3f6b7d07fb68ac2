// node:fs for isomorphic-git, except that every write is atomic: written to a temp file, fsynced,
// renamed over the target. Why: `git.fetch` writes a packfile, then its `.idx`, then refs, with
// plain writes, and readers of the same repository run meanwhile (a reconcile pass reading the
// previous revision while a poll fetches the next). A reader listing `objects/pack` must never
// load a half-written index, and a crash must never leave a truncated one (which would break every
// later read of the mirror).
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { PromiseFsClient } from 'isomorphic-git';

/** `tmpDir` must be on the same file system as the repository (rename is atomic only there). */
export function createAtomicWriteFs(tmpDir: string): PromiseFsClient {
  return {
    promises: {
      readFile: fsp.readFile,
      unlink: fsp.unlink,
      rm: fsp.rm,
      readdir: fsp.readdir,
      mkdir: fsp.mkdir,
      rmdir: fsp.rmdir,
      stat: fsp.stat,
      lstat: fsp.lstat,
      readlink: fsp.readlink,
      symlink: fsp.symlink,
      chmod: fsp.chmod,
      writeFile: (path: string, data: string | Uint8Array, options?: WriteOptions) =>
        writeFileAtomic(tmpDir, path, data, options),
    },
  } as unknown as PromiseFsClient;
}

type WriteOptions = BufferEncoding | { encoding?: BufferEncoding | null; mode?: number } | null;

async function writeFileAtomic(tmpDir: string, path: string, data: string | Uint8Array, options?: WriteOptions): Promise<void> {
  const encoding = typeof options === 'string' ? options : (options?.encoding ?? undefined);
  const mode = typeof options === 'object' && options !== null ? options.mode : undefined;
  await fsp.mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${basename(path)}.${randomUUID()}.tmp`);
  try {
    const handle = await fsp.open(tmp, 'w', mode);
    try {
      await handle.writeFile(data, encoding === undefined ? undefined : { encoding });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
