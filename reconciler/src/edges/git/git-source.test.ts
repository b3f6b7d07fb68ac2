import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DirectoryReader } from './directory-reader.ts';
import { RevisionError } from './errors.ts';
import { GitSource } from './git-source.ts';
import { loadRevision } from './load-revision.ts';
import { ParseCache } from './parse-cache.ts';
import { GitSourceError, type GitSourceErrorCode } from './source-errors.ts';
import { createBareRepo, startGitHttpServer, type GitHttpServer } from './test-git-server.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type FileTree, type TestRepo } from './test-repo.ts';

const EXAMPLE = fileURLToPath(new URL('../../../../fleet-repo-example', import.meta.url));

/** The example fleet (70 files) plus 30 small YAML files: a ~100-file repository. */
async function fleetFiles(): Promise<FileTree> {
  const files: FileTree = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else files[relative(EXAMPLE, full).split(sep).join('/')] = await readFile(full);
    }
  };
  await walk(EXAMPLE);
  for (let i = 0; i < 30; i++) {
    files[`extra/note-${String(i).padStart(2, '0')}.txt`] = `note ${i}\n`;
  }
  return files;
}

async function rejectsWithCode(promise: Promise<unknown>, code: GitSourceErrorCode | RevisionError['code']): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GitSourceError || caught instanceof RevisionError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

function infoRefsRequests(server: GitHttpServer): number {
  return server.requests.filter((r) => r.path.endsWith('/info/refs') && r.service === 'git-upload-pack').length;
}

describe('GitSource over smart HTTP', () => {
  let tmp: string;
  let projectRoot: string;
  let server: GitHttpServer;
  let work: TestRepo & { first: string };
  let remoteUrl: string;
  let bareRepo: string;
  let source: GitSource;
  let second: string;

  before(async () => {
    tmp = await makeTempDir('deployx-source-');
    projectRoot = join(tmp, 'served');
    server = await startGitHttpServer({ projectRoot });
    bareRepo = await createBareRepo(projectRoot, 'fleet');
    remoteUrl = `${server.url}/fleet.git`;
    work = await makeRepo(join(tmp, 'work'), await fleetFiles());
    await runGit(work.dir, ['push', '--quiet', remoteUrl, 'main']);
    source = await GitSource.open({ url: remoteUrl, dataDir: join(tmp, 'data') });
  });

  after(async () => {
    await server.close();
    await removeDir(tmp);
  });

  it('fetches the branch into a bare mirror and reports it as changed', async (t) => {
    const started = performance.now();
    const result = await source.fetch();
    t.diagnostic(`first fetch of a ${Object.keys(await fleetFiles()).length}-file repository: ${(performance.now() - started).toFixed(0)} ms`);
    assert.deepEqual(result, { oid: work.first, changed: true });
    assert.equal(source.head, work.first);

    const mirror = join(tmp, 'data', 'repo.git');
    assert.equal(await runGit(mirror, ['rev-parse', '--is-bare-repository']), 'true');
    assert.equal(await runGit(mirror, ['rev-parse', 'refs/heads/main']), work.first);
    await runGit(mirror, ['fsck', '--no-progress', '--strict']);
    assert.equal((await stat(join(mirror, 'fleet.yaml')).catch(() => undefined)) === undefined, true, 'no checkout');
  });

  it('a second fetch without a push is unchanged', async () => {
    assert.deepEqual(await source.fetch(), { oid: work.first, changed: false });
  });

  it('reads a fetched commit as a revision that loadRevision accepts', async () => {
    const reader = await source.reader(work.first);
    assert.equal(reader.revision, `main@sha1:${work.first}`);
    assert.equal(reader.oid, work.first);
    const cache = new ParseCache();
    const loaded = await loadRevision(reader, { cache });
    const expected = await loadRevision(new DirectoryReader({ root: EXAMPLE }), { cache: new ParseCache() });

    assert.equal(loaded.revision, `main@sha1:${work.first}`);
    assert.ok(loaded.documents.length > 20, `${loaded.documents.length} documents`);
    assert.deepEqual(loaded.syntaxIssues, []);
    assert.deepEqual(loaded.documents, expected.documents);
    assert.deepEqual(loaded.files, expected.files);
    assert.deepEqual([...loaded.paths].filter((p) => !p.startsWith('extra/')), [...expected.paths]);
    assert.equal(Buffer.from(await reader.read('extra/note-07.txt')).toString(), 'note 7\n');
  });

  it('describes a commit', async () => {
    assert.deepEqual(await source.commitInfo(work.first), {
      oid: work.first,
      author: 'DeployX Test <test@deployx.invalid>',
      message: 'initial',
      committedAt: '2024-01-02T03:04:05.000Z',
    });
  });

  it('fetches a pushed commit; both commits stay readable', async (t) => {
    second = await work.commit({ 'extra/note-07.txt': 'note seven\n', 'extra/note-08.txt': null }, 'edit notes\n\nbody');
    await runGit(work.dir, ['push', '--quiet', remoteUrl, 'main']);
    const started = performance.now();
    const result = await source.fetch();
    t.diagnostic(`incremental fetch: ${(performance.now() - started).toFixed(0)} ms`);
    assert.deepEqual(result, { oid: second, changed: true });

    const next = await source.reader(second);
    const previous = await source.reader(work.first);
    assert.equal(Buffer.from(await next.read('extra/note-07.txt')).toString(), 'note seven\n');
    assert.equal(Buffer.from(await previous.read('extra/note-07.txt')).toString(), 'note 7\n');
    await assert.rejects(next.read('extra/note-08.txt'), { code: 'revision.file-not-found' });
    assert.deepEqual(await source.changedPaths(work.first, second), ['extra/note-07.txt', 'extra/note-08.txt']);
    assert.equal((await source.commitInfo(second)).message, 'edit notes\n\nbody');
  });

  it('reads a fleet root inside the commit', async () => {
    const reader = await source.reader(second, 'profiles');
    assert.equal(reader.revision, `main@sha1:${second}`);
    assert.ok((await reader.list()).every((e) => !e.path.includes('/') && e.path.endsWith('.yaml')));
    await rejectsWithCode(source.reader(second, 'nope'), 'revision.root-not-found');
  });

  it('refuses anything but a full oid of a known commit', async () => {
    await rejectsWithCode(source.reader('main'), 'revision.ref-not-found');
    await rejectsWithCode(source.reader('0'.repeat(40)), 'revision.ref-not-found');
    await rejectsWithCode(source.commitInfo('1'.repeat(40)), 'revision.ref-not-found');
  });

  it('coalesces fetches requested while one runs', async () => {
    const third = await work.commit({ 'extra/note-09.txt': 'note nine\n' });
    await runGit(work.dir, ['push', '--quiet', remoteUrl, 'main']);
    const before = infoRefsRequests(server);
    const results = await Promise.all([source.fetch(), source.fetch(), source.fetch(), source.fetch(), source.fetch()]);
    // One fetch ran; the four requested meanwhile shared the one that ran after it.
    assert.equal(infoRefsRequests(server) - before, 2);
    assert.deepEqual(results[0], { oid: third, changed: true });
    for (const r of results.slice(1)) assert.deepEqual(r, { oid: third, changed: false });
    assert.equal(results[1], results[4], 'the queued callers share one promise result');
  });

  it('reopens an existing mirror', async () => {
    const reopened = await GitSource.open({ url: remoteUrl, dataDir: join(tmp, 'data') });
    const result = await reopened.fetch();
    assert.equal(result.oid, source.head);
    assert.equal(result.changed, true, "an instance's first fetch");
    assert.equal((await reopened.reader(work.first)).revision, `main@sha1:${work.first}`);
  });

  it('fails with git.branch-missing for a branch the remote lacks, and for an empty repository', async () => {
    const other = await GitSource.open({ url: remoteUrl, dataDir: join(tmp, 'data-missing'), branch: 'release' });
    const err = await rejectsWithCode(other.fetch(), 'git.branch-missing');
    assert.equal((err as GitSourceError).disposition, 'stalled');

    await createBareRepo(projectRoot, 'empty');
    const empty = await GitSource.open({ url: `${server.url}/empty.git`, dataDir: join(tmp, 'data-empty') });
    await rejectsWithCode(empty.fetch(), 'git.branch-missing');
  });

  it('fails with git.repository-not-found for a URL with no repository', async () => {
    const missing = await GitSource.open({ url: `${server.url}/nothing-here.git`, dataDir: join(tmp, 'data-404') });
    await rejectsWithCode(missing.fetch(), 'git.repository-not-found');
  });

  it('fails with a transient git.fetch-failed when the server is unreachable', async () => {
    const down = await startGitHttpServer({ projectRoot });
    await down.close();
    const unreachable = await GitSource.open({ url: `${down.url}/fleet.git`, dataDir: join(tmp, 'data-down') });
    const err = await rejectsWithCode(unreachable.fetch(), 'git.fetch-failed');
    assert.equal((err as GitSourceError).disposition, 'transient');
  });

  it('fails with git.fetch-failed when the server does not answer in time', async () => {
    const accepted: Socket[] = [];
    const silent = createNetServer((socket) => accepted.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const hung = await GitSource.open({ url: `http://127.0.0.1:${port}/fleet.git`, dataDir: join(tmp, 'data-hung'), fetchTimeoutMs: 200 });
      const started = performance.now();
      const err = await rejectsWithCode(hung.fetch(), 'git.fetch-failed');
      assert.ok(performance.now() - started < 5000);
      assert.match(err.message, /timed out/);
    } finally {
      await new Promise<void>((resolve) => {
        silent.close(() => resolve());
        for (const socket of accepted) socket.destroy();
      });
    }
  });

  it('refuses ssh URLs and invalid branch names', async () => {
    await rejectsWithCode(GitSource.open({ url: 'git@example.com:org/fleet.git', dataDir: tmp }), 'git.config-invalid');
    await rejectsWithCode(GitSource.open({ url: 'ssh://example.com/fleet.git', dataDir: tmp }), 'git.config-invalid');
    await rejectsWithCode(GitSource.open({ url: remoteUrl, dataDir: tmp, branch: '../HEAD' }), 'git.config-invalid');
  });

  describe('with authentication', () => {
    let basic: GitHttpServer;
    let bearer: GitHttpServer;

    before(async () => {
      basic = await startGitHttpServer({ projectRoot, auth: { username: 'deploy', password: 's3cret-pass' } });
      bearer = await startGitHttpServer({ projectRoot, auth: { token: 'tok-abc123' } });
      // The bare repository is shared with the open server above; push the same history.
      await runGit(work.dir, ['push', '--quiet', bareRepo, 'main']);
    });

    after(async () => {
      await basic.close();
      await bearer.close();
    });

    it('fetches with username and password from onAuth', async () => {
      const s = await GitSource.open({
        url: `${basic.url}/fleet.git`,
        dataDir: join(tmp, 'auth-ok'),
        auth: { username: 'deploy', password: 's3cret-pass' },
      });
      assert.equal((await s.fetch()).oid, await runGit(work.dir, ['rev-parse', 'HEAD']));
    });

    it('takes credentials from the URL and never shows them', async () => {
      const good = await GitSource.open({ url: `http://deploy:s3cret-pass@${basic.url.slice(7)}/fleet.git`, dataDir: join(tmp, 'auth-url') });
      assert.equal(good.url, `${basic.url}/fleet.git`);
      await good.fetch();

      const bad = await GitSource.open({ url: `http://deploy:wrong-pass@${basic.url.slice(7)}/fleet.git`, dataDir: join(tmp, 'auth-bad') });
      const err = await rejectsWithCode(bad.fetch(), 'git.auth-failed');
      assert.equal((err as GitSourceError).disposition, 'stalled');
      const shown = `${err.message} ${err.stack ?? ''} ${String((err as { cause?: unknown }).cause)}`;
      assert.ok(!shown.includes('wrong-pass'), shown);
    });

    it('fails with git.auth-failed without credentials', async () => {
      const s = await GitSource.open({ url: `${basic.url}/fleet.git`, dataDir: join(tmp, 'auth-none') });
      await rejectsWithCode(s.fetch(), 'git.auth-failed');
    });

    it('sends a bearer token', async () => {
      const good = await GitSource.open({ url: `${bearer.url}/fleet.git`, dataDir: join(tmp, 'bearer-ok'), auth: { token: 'tok-abc123' } });
      assert.equal((await good.fetch()).changed, true);
      const bad = await GitSource.open({ url: `${bearer.url}/fleet.git`, dataDir: join(tmp, 'bearer-bad'), auth: { token: 'nope' } });
      const err = await rejectsWithCode(bad.fetch(), 'git.auth-failed');
      assert.ok(!err.message.includes('nope'));
    });
  });
});

describe('GitSource on a local repository (read in place)', () => {
  let tmp: string;
  let repo: TestRepo & { first: string };

  before(async () => {
    tmp = await makeTempDir('deployx-local-source-');
    repo = await makeRepo(join(tmp, 'work'), { 'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: {name: a}\nspec: {}\n' });
  });

  after(async () => {
    await removeDir(tmp);
  });

  it('resolves the branch of a working repository and follows new commits', async () => {
    const source = await GitSource.open({ url: repo.dir, dataDir: join(tmp, 'unused') });
    assert.equal(source.isLocal, true);
    assert.deepEqual(await source.fetch(), { oid: repo.first, changed: true });
    assert.deepEqual(await source.fetch(), { oid: repo.first, changed: false });
    const next = await repo.commit({ 'notes.txt': 'hello\n' });
    assert.deepEqual(await source.fetch(), { oid: next, changed: true });

    const reader = await source.reader(next);
    assert.equal(reader.revision, `main@sha1:${next}`);
    assert.equal(Buffer.from(await reader.read('notes.txt')).toString(), 'hello\n');
    const loaded = await loadRevision(reader, { cache: new ParseCache() });
    assert.equal(loaded.documents.length, 1);
    assert.equal((await source.commitInfo(next)).author, 'DeployX Test <test@deployx.invalid>');
    assert.equal(await stat(join(tmp, 'unused')).catch(() => 'absent'), 'absent', 'no mirror for a local source');
  });

  it('reads a bare repository and a file:// URL, and after git pack-refs', async () => {
    const bare = join(tmp, 'bare.git');
    await runGit(tmp, ['clone', '--quiet', '--bare', repo.dir, bare]);
    await runGit(bare, ['pack-refs', '--all']);
    const head = await runGit(repo.dir, ['rev-parse', 'HEAD']);
    const fromPath = await GitSource.open({ url: bare, dataDir: tmp });
    assert.equal((await fromPath.fetch()).oid, head);
    const fromUrl = await GitSource.open({ url: pathToFileURL(bare).href, dataDir: tmp });
    assert.equal((await fromUrl.fetch()).oid, head);
  });

  it('fails with git.branch-missing and git.repository-not-found', async () => {
    const noBranch = await GitSource.open({ url: repo.dir, dataDir: tmp, branch: 'release' });
    await rejectsWithCode(noBranch.fetch(), 'git.branch-missing');
    const notRepo = await GitSource.open({ url: join(tmp, 'nowhere'), dataDir: tmp });
    await rejectsWithCode(notRepo.fetch(), 'git.repository-not-found');
  });
});
