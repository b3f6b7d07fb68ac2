// The revision expressions Git users write for a base, parsed here and walked with isomorphic-git
// (git-rev-parse(1) "SPECIFYING REVISIONS", the part reviewers and CI use):
//
//   NAME        a ref or (short) oid, resolved by the caller
//   NAME~N      the N-th first-parent ancestor (`~` alone: 1)
//   NAME^N      the N-th parent (`^` alone: 1; `^0`: the commit itself, a tag peeled)
//   A...B       the merge base of A and B (either side may be an expression; an empty side is HEAD)
//
// Suffixes chain (`main~2^2`). Parsing is pure; walking reads commits only.
import git, { type FsClient } from 'isomorphic-git';
import { RevisionError } from './errors.ts';

export type ParentStep = { kind: '~' | '^'; n: number };

export interface RevisionExpression {
  /** The ref or oid the steps start from. */
  name: string;
  steps: ParentStep[];
}

/** Long enough for any history a fleet repository has; stops `HEAD~999999999` walking for ever. */
const MAX_STEP = 100_000;

/** `main~2^2` → `{ name: 'main', steps: [~2, ^2] }`; undefined when the suffix is not `~N`/`^N`. */
export function parseRevisionExpression(expression: string): RevisionExpression | undefined {
  const match = /^([^~^]*)((?:[~^][0-9]*)*)$/.exec(expression);
  if (!match || match[1] === '') return undefined;
  const steps: ParentStep[] = [];
  for (const [, kind, digits] of match[2]!.matchAll(/([~^])([0-9]*)/g)) {
    const n = digits === '' ? 1 : Number(digits);
    if (!Number.isSafeInteger(n) || n > MAX_STEP) return undefined;
    steps.push({ kind: kind as '~' | '^', n });
  }
  return { name: match[1]!, steps };
}

/** `A...B` → `['A', 'B']` (an empty side is `HEAD`); undefined for anything else. */
export function splitMergeBase(expression: string): [string, string] | undefined {
  const at = expression.indexOf('...');
  if (at < 0 || expression.indexOf('...', at + 1) >= 0) return undefined;
  return [expression.slice(0, at) || 'HEAD', expression.slice(at + 3) || 'HEAD'];
}

interface Repo {
  fs: FsClient;
  gitdir: string;
  cache: object;
}

/** Follows the steps from `oid` (a commit, or a tag pointing at one); errors name the expression. */
export async function walkParents(repo: Repo, expression: string, oid: string, steps: readonly ParentStep[]): Promise<string> {
  let current = oid;
  let walked = '';
  for (const { kind, n } of steps) {
    const taken = `${kind}${n}`;
    if (kind === '^' && n === 0) {
      current = (await git.readCommit({ ...repo, oid: current })).oid;
    } else if (kind === '^') {
      const { commit, oid: at } = await git.readCommit({ ...repo, oid: current });
      const parent = commit.parent[n - 1];
      if (parent === undefined) throw noSuchCommit(expression, `${at.slice(0, 12)} has ${plural(commit.parent.length, 'parent')}, not a parent ${n}`);
      current = parent;
    } else {
      for (let i = 0; i < n; i++) {
        const { commit, oid: at } = await git.readCommit({ ...repo, oid: current });
        const parent = commit.parent[0];
        if (parent === undefined) throw noSuchCommit(expression, `its first-parent line ends at the root commit ${at.slice(0, 12)} after ${i} of ${n} steps of ${walked}${taken}`);
        current = parent;
      }
    }
    walked += taken;
  }
  return current;
}

/** The merge base of two commits (the first when there are several, as `git merge-base` prints). */
export async function mergeBase(repo: Repo, expression: string, left: string, right: string): Promise<string> {
  const [a, b] = await Promise.all([git.readCommit({ ...repo, oid: left }), git.readCommit({ ...repo, oid: right })]);
  const bases = (await git.findMergeBase({ ...repo, oids: [a.oid, b.oid] })) as string[];
  const base = bases[0];
  if (base === undefined) throw noSuchCommit(expression, 'the two commits share no history');
  return base;
}

function noSuchCommit(expression: string, why: string): RevisionError {
  return new RevisionError('revision.ref-not-found', `${expression} names no commit: ${why}`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
