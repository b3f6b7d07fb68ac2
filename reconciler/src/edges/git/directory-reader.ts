// A working tree as a revision (`deployx validate DIR`, `serve --repo DIR` without git): walks the
// directory once, reads files when asked. The revision string is `worktree`.
import nodeFs from 'node:fs';
import { join } from 'node:path';
import { RevisionError } from './errors.ts';
import { comparePaths, isIgnoredDirectory } from './fleet-paths.ts';
import { mapLimit } from './map-limit.ts';
import type { RevisionEntry, RevisionReader } from './revision-reader.ts';

export interface DirectoryReaderOptions {
  /** The fleet root directory. */
  root: string;
  fs?: typeof nodeFs;
  /** Directories read at once. Default 16. */
  concurrency?: number;
}

export class DirectoryReader implements RevisionReader {
  readonly revision = 'worktree';
  readonly root: string;
  readonly #fs: typeof nodeFs;
  readonly #concurrency: number;
  #listing: Promise<{ entries: RevisionEntry[]; paths: Set<string>; links: string[] }> | undefined;

  constructor(options: DirectoryReaderOptions) {
    this.root = options.root;
    this.#fs = options.fs ?? nodeFs;
    this.#concurrency = options.concurrency ?? 16;
  }

  async list(): Promise<readonly RevisionEntry[]> {
    return (await this.#list()).entries;
  }

  async links(): Promise<readonly string[]> {
    return (await this.#list()).links;
  }

  async read(path: string): Promise<Uint8Array> {
    const { paths } = await this.#list();
    if (!paths.has(path)) {
      throw new RevisionError('revision.file-not-found', `${path} is not a file of the working tree ${this.root}`);
    }
    const bytes = await this.#fs.promises.readFile(join(this.root, ...path.split('/')));
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #list(): Promise<{ entries: RevisionEntry[]; paths: Set<string>; links: string[] }> {
    this.#listing ??= this.#walk();
    return this.#listing;
  }

  async #walk(): Promise<{ entries: RevisionEntry[]; paths: Set<string>; links: string[] }> {
    const fsp = this.#fs.promises;
    try {
      const stat = await fsp.stat(this.root);
      if (!stat.isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new RevisionError('revision.root-not-found', `fleet root ${this.root} is not a directory`, { cause: err });
    }

    const files: string[] = [];
    const links: string[] = [];
    // Breadth-first, one level at a time, at most `concurrency` directories open at once.
    let level: string[] = [''];
    while (level.length > 0) {
      const children = await mapLimit(level, this.#concurrency, async (dir) => {
        const dirents = await fsp.readdir(dir === '' ? this.root : join(this.root, ...dir.split('/')), {
          withFileTypes: true,
        });
        const subdirs: string[] = [];
        for (const dirent of dirents) {
          const path = dir === '' ? dirent.name : `${dir}/${dirent.name}`;
          if (dirent.isSymbolicLink()) links.push(path);
          let kind = direntKind(dirent);
          if (kind === 'unknown') kind = statKind(await fsp.lstat(join(this.root, ...path.split('/'))));
          if (kind === 'dir' && !isIgnoredDirectory(dirent.name)) subdirs.push(path);
          else if (kind === 'file') files.push(path);
        }
        return subdirs;
      });
      level = children.flat();
    }
    files.sort(comparePaths);
    links.sort(comparePaths);
    return { entries: files.map((path) => ({ path, id: undefined })), paths: new Set(files), links };
  }
}

type Kind = 'file' | 'dir' | 'other' | 'unknown';

function direntKind(d: nodeFs.Dirent): Kind {
  if (d.isSymbolicLink()) return 'other'; // a link may point outside the fleet root
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isFIFO() || d.isSocket() || d.isBlockDevice() || d.isCharacterDevice()) return 'other';
  return 'unknown';
}

function statKind(s: nodeFs.Stats): Kind {
  if (s.isSymbolicLink()) return 'other';
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  return 'other';
}
