import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chmod, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { changedPaths } from './git-files.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type TestRepo } from './test-repo.ts';

describe('changedPaths', () => {
  let tmp: string;
  let repo: TestRepo & { first: string };
  let gitdir: string;
  let second: string;

  before(async () => {
    tmp = await makeTempDir();
    repo = await makeRepo(join(tmp, 'repo'), {
      'README.md': 'v1\n',
      'fleet/a.yaml': 'a: 1\n',
      'fleet/same/deep/x.yaml': 'x: 1\n',
      'fleet/gone.yaml': 'g: 1\n',
      'fleet/old-name.yaml': 'moved: true\n',
      'fleet/run.sh': 'echo hi\n',
      'fleet/becomes-dir': 'a file\n',
      'fleet/.github/ci.yaml': 'on: push\n',
      'other/z.yaml': 'z: 1\n',
    });
    gitdir = join(repo.dir, '.git');
    await runGit(repo.dir, ['mv', 'fleet/old-name.yaml', 'fleet/new-name.yaml']);
    await chmod(join(repo.dir, 'fleet/run.sh'), 0o755);
    await symlink('a.yaml', join(repo.dir, 'fleet/link.yaml'));
    second = await repo.commit({
      'README.md': 'v2\n',
      'fleet/a.yaml': 'a: 2\n',
      'fleet/added/b.yaml': 'b: 1\n',
      'fleet/gone.yaml': null,
      'fleet/becomes-dir': null,
      'fleet/becomes-dir/inside.yaml': 'i: 1\n',
      'fleet/.github/ci.yaml': 'on: [push, pull_request]\n',
      'other/z.yaml': 'z: 2\n',
    });
  });
  after(() => removeDir(tmp));

  it('lists added, removed, modified, renamed and chmod-ed files under the fleet root', async () => {
    assert.deepEqual(await changedPaths(fs, gitdir, repo.first, second, 'fleet'), [
      'a.yaml',
      'added/b.yaml',
      'becomes-dir',
      'becomes-dir/inside.yaml',
      'gone.yaml',
      'new-name.yaml',
      'old-name.yaml',
      'run.sh',
    ]);
  });

  it('is symmetric and relative to the repository root without a subdirectory', async () => {
    const forward = await changedPaths(fs, gitdir, repo.first, second);
    assert.deepEqual(await changedPaths(fs, gitdir, second, repo.first), forward);
    assert.ok(forward.includes('README.md') && forward.includes('other/z.yaml') && forward.includes('fleet/a.yaml'));
    assert.ok(!forward.some((p) => p.includes('.github')), 'dot-directories are not part of a revision');
    assert.ok(!forward.includes('fleet/link.yaml'), 'symbolic links are not part of a revision');
  });

  it('is empty between a commit and itself, and for a fleet root nothing touched', async () => {
    assert.deepEqual(await changedPaths(fs, gitdir, second, second, 'fleet'), []);
    const third = await repo.commit({ 'other/z.yaml': 'z: 3\n' });
    assert.deepEqual(await changedPaths(fs, gitdir, second, third, 'fleet'), []);
    assert.deepEqual(await changedPaths(fs, gitdir, second, third, 'other'), ['z.yaml']);
    assert.deepEqual(await changedPaths(fs, gitdir, second, third, 'fleet/same/deep'), []);
  });

  it('fails with a typed error for an unknown commit', async () => {
    await assert.rejects(changedPaths(fs, gitdir, 'f'.repeat(40), second), { code: 'revision.ref-not-found' });
  });

  it('does not read subtrees whose oid is the same on both sides', async () => {
    const reads: string[] = [];
    const recordingFs = {
      promises: {
        ...fs.promises,
        readFile: (path: fs.PathLike, options?: unknown) => {
          reads.push(String(path));
          return fs.promises.readFile(path, options as undefined);
        },
      },
    };
    const objectFile = async (rev: string): Promise<string> => {
      const oid = await runGit(repo.dir, ['rev-parse', rev]);
      return join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2));
    };
    const previous = await runGit(repo.dir, ['rev-parse', 'HEAD']);
    const third = await repo.commit({ 'fleet/a.yaml': 'a: 3\n' });
    assert.deepEqual(await changedPaths(recordingFs, gitdir, previous, third), ['fleet/a.yaml']);
    assert.ok(reads.includes(await objectFile(`${third}:fleet`)), 'the changed tree is read');
    // git.walk lists an entry's children before `map` sees it, so an unchanged sibling tree is read
    // once; nothing below it is.
    assert.ok(!reads.includes(await objectFile(`${third}:fleet/same/deep`)), 'below an unchanged subtree: not read');
  });
});
