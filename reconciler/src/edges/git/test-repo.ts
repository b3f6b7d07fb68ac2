// Real directories and real git repositories for the loader's tests (no mocks): files are written
// to a temp dir and committed with the git CLI under a fixed identity and clock.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'DeployX Test',
  GIT_AUTHOR_EMAIL: 'test@deployx.invalid',
  GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z',
  GIT_COMMITTER_NAME: 'DeployX Test',
  GIT_COMMITTER_EMAIL: 'test@deployx.invalid',
  GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

export type FileTree = Record<string, string | Uint8Array | null>;

export async function makeTempDir(prefix = 'deployx-git-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Writes (or, for `null`, deletes) files under `root`; paths use `/`. */
export async function writeTree(root: string, files: FileTree): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, ...path.split('/'));
    if (content === null) {
      await rm(full, { recursive: true, force: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content);
    }
  }
}

/** Runs git with an argument array (never a shell string) and returns trimmed stdout. */
export async function runGit(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: { ...process.env, ...GIT_ENV } });
  return stdout.trim();
}

export interface TestRepo {
  dir: string;
  /** Writes/deletes `files`, stages everything, commits; the new commit's oid. */
  commit(files: FileTree, message?: string): Promise<string>;
}

export async function makeRepo(dir: string, files: FileTree): Promise<TestRepo & { first: string }> {
  await mkdir(dir, { recursive: true });
  await runGit(dir, ['init', '--quiet', '--initial-branch=main']);
  let n = 0;
  const commit = async (tree: FileTree, message?: string): Promise<string> => {
    await writeTree(dir, tree);
    await runGit(dir, ['add', '--all']);
    await runGit(dir, ['commit', '--quiet', '--allow-empty', '-m', message ?? `commit ${++n}`]);
    return runGit(dir, ['rev-parse', 'HEAD']);
  };
  const first = await commit(files, 'initial');
  return { dir, commit, first };
}
