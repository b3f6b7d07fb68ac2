// Which files differ between two commits, for "what did this revision change". A subtree with the
// same oid on both sides is not descended into (git.walk reads its tree object once, to list it,
// and nothing below), so the cost follows the size of the change, not of the repository.
import git, { TREE, type FsClient, type WalkerEntry } from 'isomorphic-git';
import { comparePaths, isIgnoredDirectory, normaliseRootPath } from './fleet-paths.ts';
import { gitErrorCode, RevisionError } from './errors.ts';

const MODE_SYMLINK = 0o120000;

/**
 * Paths of the files (as RevisionReader lists them: no dot-directories, `node_modules`, links or
 * submodules) that were added, removed or modified between commits `oidA` and `oidB`, relative to
 * `subdir` (the fleet root; the repository root when omitted), sorted. A file whose mode alone
 * changed (`chmod +x`) counts as changed.
 */
export async function changedPaths(
  fs: FsClient,
  gitdir: string,
  oidA: string,
  oidB: string,
  subdir?: string,
): Promise<string[]> {
  const root = normaliseRootPath(subdir);
  if (root === undefined) {
    throw new RevisionError('revision.path-invalid', `fleet root ${JSON.stringify(subdir)} leaves the repository`);
  }
  const prefix = root === '' ? '' : `${root}/`;

  let result: unknown;
  try {
    result = await walkChanges(fs, gitdir, oidA, oidB, root, prefix);
  } catch (err) {
    if (gitErrorCode(err) === 'NotFoundError' || gitErrorCode(err) === 'ObjectTypeError') {
      throw new RevisionError('revision.ref-not-found', `${oidA} or ${oidB} is not a commit in ${gitdir}`, { cause: err });
    }
    throw err;
  }
  const paths = (Array.isArray(result) ? result.flat(Infinity) : []).filter(
    (p): p is string => typeof p === 'string',
  );
  return paths.sort(comparePaths);
}

function walkChanges(
  fs: FsClient,
  gitdir: string,
  oidA: string,
  oidB: string,
  root: string,
  prefix: string,
): Promise<unknown> {
  return git.walk({
    fs,
    gitdir,
    cache: {},
    trees: [TREE({ ref: oidA }), TREE({ ref: oidB })],
    map: async (filepath: string, [a, b]: Array<WalkerEntry | null>) => {
      if (filepath === '.') return undefined;
      // Outside the fleet root: descend only towards it.
      if (prefix !== '' && filepath !== root && !filepath.startsWith(prefix)) {
        return prefix.startsWith(`${filepath}/`) ? undefined : null;
      }
      const [sideA, sideB] = await Promise.all([describe(a), describe(b)]);
      if (sideA?.oid === sideB?.oid && sideA?.mode === sideB?.mode) return null; // same subtree or file
      if (filepath === root) return sideA?.kind === 'tree' || sideB?.kind === 'tree' ? undefined : null;
      const relative = filepath.slice(prefix.length);
      const segments = relative.split('/');
      if (segments.slice(0, -1).some(isIgnoredDirectory)) return null;
      if (sideA?.kind === 'file' || sideB?.kind === 'file') return relative; // a tree beside it is still walked
      const name = segments[segments.length - 1] ?? '';
      const tree = sideA?.kind === 'tree' || sideB?.kind === 'tree';
      return tree && !isIgnoredDirectory(name) ? undefined : null;
    },
  });
}

interface Side {
  kind: 'file' | 'tree' | 'other';
  oid: string;
  mode: number;
}

async function describe(entry: WalkerEntry | null | undefined): Promise<Side | undefined> {
  if (!entry) return undefined;
  const [type, mode, oid] = await Promise.all([entry.type(), entry.mode(), entry.oid()]);
  const kind = type === 'tree' ? 'tree' : type === 'blob' && mode !== MODE_SYMLINK ? 'file' : 'other';
  return { kind, oid, mode };
}
