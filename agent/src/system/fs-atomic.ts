// Crash-safe file writes: a reader (or a crash) sees the old bytes or the new bytes, never a mix.
//
// writeFileAtomic: create a temp file in the same directory (same filesystem, so rename is
// atomic), write, set mode and owner on the temp file (so the final name never has the wrong
// permissions), fsync it, rename over the target, fsync the directory so the rename itself
// survives a power cut.
//
// Temp names are `.<name>.deployx-<pid>-<12 hex>.tmp`: the writer's pid marks whose file it is,
// so a start after a crash can tell a dead writer's leftover from a live writer's file
// (system/temp-cleanup.ts). Names without the pid are an older agent's.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AgentError } from '../errors.ts';

export interface WriteFileAtomicOptions {
  /** Octal string (`"0644"`) or number. Without it: 0666 minus the umask. */
  mode?: string | number;
  uid?: number;
  gid?: number;
}

export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.deployx-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const mode = options.mode === undefined ? undefined : parseMode(options.mode);
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(data);
      if (process.platform !== 'win32') {
        await handle.chmod(mode ?? (0o666 & ~process.umask()));
        if (options.uid !== undefined || options.gid !== undefined) {
          await handle.chown(options.uid ?? -1, options.gid ?? -1);
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameWithRetry(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

/** A writeFileAtomic temp name: its writer's pid when the name carries one; undefined for any other name. */
export function parseTempName(name: string): { pid?: number } | undefined {
  const match = /^\..+\.deployx-(?:([1-9]\d{0,9})-)?[0-9a-f]{12}\.tmp$/.exec(name);
  if (match === null) return undefined;
  return match[1] === undefined ? {} : { pid: Number(match[1]) };
}

/** Makes a completed rename or unlink in `dir` durable. A no-op on Windows. */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Streaming SHA-256 of a file, lowercase hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256Bytes(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Permission bits as a 4-digit octal string: `"0644"`, `"4755"`. */
export async function statMode(path: string): Promise<string> {
  return formatMode((await stat(path)).mode);
}

export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** `"644"`, `"0644"`, `"04755"` or a number → permission bits; anything else is `file.mode`. */
export function parseMode(mode: string | number): number {
  if (typeof mode === 'number') {
    if (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return mode;
  } else if (/^0?[0-7]{3,4}$/.test(mode)) {
    return Number.parseInt(mode, 8);
  }
  throw new AgentError('file.mode', `not an octal file mode: ${String(mode)}`);
}

async function renameWithRetry(from: string, to: string): Promise<void> {
  // Windows refuses to replace a file another process has open, usually only for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const transient = process.platform === 'win32' && (code === 'EPERM' || code === 'EACCES' || code === 'EBUSY');
      if (!transient || attempt >= 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
  }
}
