// Where a local repository keeps its refs and objects: `<path>/.git` for a working repository,
// `<path>` itself for a bare one. A `.git` file (`gitdir: …`, as in a linked worktree or a
// submodule) is followed, and a worktree's `commondir` too: branches and objects live there.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { GitSourceError } from './source-errors.ts';

export async function resolveLocalGitdir(path: string): Promise<string> {
  const root = resolve(path);
  const dotGit = join(root, '.git');
  const dotGitStat = await statOrUndefined(dotGit);
  let gitdir: string;
  if (dotGitStat?.isDirectory()) {
    gitdir = dotGit;
  } else if (dotGitStat?.isFile()) {
    const match = /^gitdir:\s*(.+?)\s*$/m.exec(await readFile(dotGit, 'utf8'));
    if (match?.[1] === undefined) throw notARepository(root);
    gitdir = resolve(root, match[1]);
  } else {
    gitdir = root;
  }
  const common = await readFile(join(gitdir, 'commondir'), 'utf8').catch(() => undefined);
  if (common !== undefined && common.trim() !== '') {
    const dir = common.trim();
    gitdir = isAbsolute(dir) ? dir : resolve(gitdir, dir);
  }
  const [head, objects] = await Promise.all([statOrUndefined(join(gitdir, 'HEAD')), statOrUndefined(join(gitdir, 'objects'))]);
  if (!head?.isFile() || !objects?.isDirectory()) throw notARepository(root);
  return gitdir;
}

function notARepository(path: string): GitSourceError {
  return new GitSourceError('git.repository-not-found', `${path} is not a Git repository`);
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}
