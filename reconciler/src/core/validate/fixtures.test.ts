// The invalid-repository suite: every directory under `fixtures/` is a small fleet repository
// with one class of error, and its `expected.json` lists exactly the issues validation must
// report, in the validator's order: `{ code, file, line }`, plus `col` and `suggestion` when given.
// Each fixture is validated as a working tree (DirectoryReader) and as a commit of a real git
// repository with the fleet under `fleet/` (GitCommitReader), and both must agree.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createSchemaValidator } from '../../../../schemas/index.ts';
import { DirectoryReader } from '../../edges/git/directory-reader.ts';
import { GitCommitReader } from '../../edges/git/git-commit-reader.ts';
import { loadRevision } from '../../edges/git/load-revision.ts';
import { ParseCache } from '../../edges/git/parse-cache.ts';
import type { RevisionReader } from '../../edges/git/revision-reader.ts';
import { makeRepo, makeTempDir, removeDir, type FileTree } from '../../edges/git/test-repo.ts';
import { ISSUE_CODES, type IssueCode, type ValidationIssue } from '../errors.ts';
import { validateRevision, type ValidationResult } from './validate-revision.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../../fleet-repo-example/', import.meta.url));

/**
 * Codes no fixture here produces: the size limits need files of megabytes, and `file.symlink` is
 * a warning, not an issue (parse-yaml.test.ts and load-revision.test.ts cover them).
 */
const NOT_EMITTED: readonly IssueCode[] = ['file.too-large', 'revision.too-large', 'file.symlink'];

interface ExpectedIssue {
  code: IssueCode;
  file: string;
  line: number;
  col?: number;
  suggestion?: string;
}

const schema = createSchemaValidator();
const fixtureNames = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function readExpected(name: string): ExpectedIssue[] {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8')) as ExpectedIssue[];
}

/** The issues as `expected.json` states them: col and suggestion only where the fixture gives them. */
function project(issues: readonly ValidationIssue[], expected: readonly ExpectedIssue[]): ExpectedIssue[] {
  return issues.map((issue, i) => {
    const want = expected[i];
    const out: ExpectedIssue = { code: issue.code, file: issue.file, line: issue.line };
    if (want?.col !== undefined) out.col = issue.col;
    if (want !== undefined && 'suggestion' in want) out.suggestion = issue.suggestion as string;
    return out;
  });
}

async function validate(reader: RevisionReader): Promise<ValidationResult> {
  const loaded = await loadRevision(reader, { cache: new ParseCache() });
  return validateRevision(loaded, schema.validators);
}

/** Every file under `root` as a FileTree, paths prefixed with `prefix`. */
function readTree(root: string, prefix: string): FileTree {
  const tree: FileTree = {};
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(join(dir, entry.name), path);
      else if (entry.isFile()) tree[prefix + path] = readFileSync(join(dir, entry.name));
    }
  };
  walk(root, '');
  return tree;
}

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map(removeDir));
});

/** A fresh git repository holding `root` under `fleet/` (and a README outside the fleet root). */
async function commitCopy(root: string): Promise<{ dir: string; oid: string }> {
  const dir = await makeTempDir('deployx-fixture-');
  tempDirs.push(dir);
  const repo = await makeRepo(dir, { 'README.md': '# not part of the fleet\n', ...readTree(root, 'fleet/') });
  return { dir, oid: repo.first };
}

describe('invalid-repository fixtures', () => {
  it('has one fixture per error class, each with a non-empty expected.json of known codes', () => {
    assert.ok(fixtureNames.length >= 32, `only ${fixtureNames.length} fixtures`);
    const covered = new Set<string>();
    for (const name of fixtureNames) {
      assert.match(name, /^\d{2}-[a-z0-9-]+$/, name);
      const expected = readExpected(name);
      assert.ok(expected.length > 0, `${name}: expected.json lists no issue`);
      for (const issue of expected) {
        assert.ok(issue.code in ISSUE_CODES, `${name}: unknown code ${issue.code}`);
        covered.add(issue.code);
      }
    }
    const missing = Object.keys(ISSUE_CODES).filter((code) => !covered.has(code) && !NOT_EMITTED.includes(code as IssueCode));
    assert.deepEqual(missing, [], 'issue codes without a fixture');
  });

  describe('as a working tree', () => {
    for (const name of fixtureNames) {
      it(name, async () => {
        const expected = readExpected(name);
        const result = await validate(new DirectoryReader({ root: join(FIXTURES, name) }));
        assert.deepStrictEqual(project(result.issues, expected), expected);
        assert.equal(result.model, undefined, 'an invalid revision has no model');
        assert.equal(result.revision, 'worktree');
      });
    }
  });

  describe('as a commit, fleet root in a subdirectory', () => {
    for (const name of fixtureNames) {
      it(name, async () => {
        const expected = readExpected(name);
        const { dir, oid } = await commitCopy(join(FIXTURES, name));
        const result = await validate(await GitCommitReader.open({ dir, ref: 'main', path: 'fleet' }));
        assert.deepStrictEqual(project(result.issues, expected), expected);
        assert.equal(result.revision, `main@sha1:${oid}`);
        const worktree = await validate(new DirectoryReader({ root: join(FIXTURES, name) }));
        assert.deepStrictEqual(result.issues, worktree.issues, 'both readers report the same issues, messages included');
      });
    }
  });
});

describe('fleet-repo-example', () => {
  it('is valid as a working tree', async () => {
    const result = await validate(new DirectoryReader({ root: EXAMPLE }));
    assert.deepStrictEqual(result.issues, []);
    assert.ok(result.model, 'a valid revision carries its model');
    assert.ok(result.model.devices.size > 0 && result.model.profiles.size > 0);
  });

  it('is valid as a commit, fleet root in a subdirectory', async () => {
    const { dir, oid } = await commitCopy(EXAMPLE);
    const result = await validate(await GitCommitReader.open({ dir, ref: 'main', path: 'fleet' }));
    assert.deepStrictEqual(result.issues, []);
    assert.equal(result.revision, `main@sha1:${oid}`);
    const worktree = await validate(new DirectoryReader({ root: EXAMPLE }));
    assert.equal(result.documentCount, worktree.documentCount);
    assert.deepStrictEqual([...result.model!.repoFiles], [...worktree.model!.repoFiles], 'same sources, same hashes');
  });
});
