// Triggers of the source reconcile: a poll timer and, for a local repository, a watch on its
// refs. They only call back; the caller enqueues the source key and the pass fetches and
// recomputes everything (level-triggered: a missed or extra callback costs latency, not
// correctness).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watch } from 'chokidar';
import { resolveLocalGitdir } from './local-repo.ts';

export type StopTrigger = () => void;
export type CloseTrigger = () => Promise<void>;

/**
 * Calls `onTick` every `intervalMs`, first after one interval. The next wait starts when the
 * previous tick has settled (a setTimeout chain): ticks never overlap, however slow. A tick that
 * throws or rejects is reported to `onError` (default: ignored) and polling goes on.
 */
export function startPoll(
  intervalMs: number,
  onTick: () => unknown,
  options: { onError?: (err: unknown) => void } = {},
): StopTrigger {
  if (!(intervalMs > 0)) throw new RangeError(`poll interval must be positive, got ${intervalMs}`);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      void (async () => {
        try {
          await onTick();
        } catch (err) {
          options.onError?.(err);
        }
        if (!stopped) schedule();
      })();
    }, intervalMs);
  };
  schedule();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}

export interface WatchLocalRefsOptions {
  /** Events closer together than this are one callback. Default 100 ms. */
  debounceMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Calls `onChange` when `refs/heads/<branch>`, `packed-refs` or `HEAD` of the repository at
 * `repoPath` (a working or bare repository, or a `file://` URL) is written: a commit, a reset, a
 * fetch or push into it, `git pack-refs`. Git replaces ref files by renaming a lock file over
 * them and `pack-refs` deletes them, so the directories on the way are watched (everything else
 * in them ignored), not the files themselves. Resolves once the watch is in place; the function
 * it resolves to closes it.
 */
export async function watchLocalRefs(
  repoPath: string,
  branch: string,
  onChange: () => void,
  options: WatchLocalRefsOptions = {},
): Promise<CloseTrigger> {
  const path = /^file:\/\//i.test(repoPath) ? fileURLToPath(repoPath) : resolve(repoPath);
  const gitdir = await resolveLocalGitdir(path);
  const targets = [join(gitdir, 'HEAD'), join(gitdir, 'packed-refs'), join(gitdir, 'refs', 'heads', ...branch.split('/'))];
  const watched = new Set<string>([gitdir]);
  for (const target of targets) {
    for (let p = target; p !== gitdir && p.startsWith(gitdir); p = dirname(p)) watched.add(p);
  }

  const debounceMs = options.debounceMs ?? 100;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const watcher = watch(gitdir, {
    ignoreInitial: true,
    ignored: (p: string) => !watched.has(resolve(p)),
  });
  watcher.on('all', () => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, debounceMs);
  });
  watcher.on('error', (err) => options.onError?.(err));
  await new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady()));

  return async () => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    await watcher.close();
  };
}
