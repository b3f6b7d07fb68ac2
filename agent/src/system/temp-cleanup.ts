// Leftover temp files of writeFileAtomic (a write killed between create and rename) are removed
// at the next agent start, in the directories the agent writes: its state directory and the
// directories of the files it manages. Only regular files whose name is the agent's own temp
// pattern (fs-atomic.ts parseTempName), and of those only what cannot be a live writer's:
//   - the name carries a pid that is not running (this process's own pid: never — it may be
//     writing that file right now);
//   - a pid that runs (maybe reused) or no pid (an older agent's name): only when untouched for
//     TEMP_MIN_AGE_MS, since a writer still busy with a large file keeps its mtime fresh.
// Nothing else is touched: not other files, not subdirectories, not symlinks, not other directories.
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseTempName } from './fs-atomic.ts';
import { isProcessRunning } from '../../../schemas/process-alive.ts';

export const TEMP_MIN_AGE_MS = 60 * 60_000;

export interface TempCandidate {
  name: string;
  isFile: boolean;
  mtimeMs: number;
}

export interface TempJudgement {
  nowMs: number;
  ownPid: number;
  isRunning: (pid: number) => boolean;
}

/** Whether `candidate` is a leftover temp file that is safe to remove. */
export function isLeftoverTemp(candidate: TempCandidate, judge: TempJudgement): boolean {
  const parsed = parseTempName(candidate.name);
  if (parsed === undefined || !candidate.isFile) return false;
  if (parsed.pid === judge.ownPid) return false;
  if (parsed.pid !== undefined && !judge.isRunning(parsed.pid)) return true;
  return judge.nowMs - candidate.mtimeMs >= TEMP_MIN_AGE_MS;
}

/** Removes the leftovers in each directory (not recursive); returns the removed paths. Best effort. */
export async function removeLeftoverTemps(
  dirs: Iterable<string>,
  options: Partial<TempJudgement> = {},
): Promise<string[]> {
  const judge: TempJudgement = {
    nowMs: options.nowMs ?? Date.now(),
    ownPid: options.ownPid ?? process.pid,
    isRunning: options.isRunning ?? isProcessRunning,
  };
  const removed: string[] = [];
  for (const dir of new Set([...dirs].map((d) => path.resolve(d)))) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (parseTempName(name) === undefined) continue;
      const file = path.join(dir, name);
      const info = await lstat(file).catch(() => undefined);
      if (info === undefined || !isLeftoverTemp({ name, isFile: info.isFile(), mtimeMs: info.mtimeMs }, judge)) continue;
      try {
        await rm(file);
        removed.push(file);
      } catch {
        // Gone meanwhile, or not ours to remove: left alone.
      }
    }
  }
  return removed;
}
