import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LoadedRevision } from '../../core/model.ts';
import { ContentHasher } from './content-hasher.ts';
import { DirectoryReader } from './directory-reader.ts';
import { RevisionError, type RevisionErrorCode } from './errors.ts';
import { GitCommitReader, TreeListingCache } from './git-commit-reader.ts';
import { loadRevision, readRepoFile, referencedSources } from './load-revision.ts';
import { ParseCache } from './parse-cache.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type FileTree, type TestRepo } from './test-repo.ts';

const KERNEL = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) % 256);
const MOTD = 'Welcome to a DeployX machine.\n';
const HARDEN = '#!/bin/sh\nsed -i s/yes/no/ /etc/ssh/sshd_config\n';

const FIXTURE: FileTree = {
  'README.md': '# the repository, outside the fleet root\n',
  'secret.txt': 'outside the fleet root\n',
  'fleet/README.md': '# fleet\n',
  'fleet/notes.txt': 'not YAML\n',
  'fleet/fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata:\n  name: acme\nspec: {}\n',
  'fleet/software/web.yaml': [
    'apiVersion: deployx.dev/v1',
    'kind: Software',
    'metadata: {name: nginx}',
    'spec:',
    '  packages: {apt: nginx}',
    '---',
    'apiVersion: deployx.dev/v1',
    'kind: Software',
    'metadata: {name: curl}',
    'spec:',
    '  packages: {apt: curl}',
    '',
  ].join('\n'),
  'fleet/files/motd.yaml': [
    'apiVersion: deployx.dev/v1',
    'kind: FileDeployment',
    'metadata: {name: motd}',
    'spec:',
    '  path: /etc/motd',
    '  source: ./assets/../assets/motd.txt',
    '',
  ].join('\n'),
  'fleet/assets/motd.txt': MOTD,
  'fleet/scripts/harden.YML': [
    'apiVersion: deployx.dev/v1',
    'kind: Script',
    'metadata: {name: harden}',
    'spec: {interpreter: sh, source: scripts/harden.sh}',
    '',
  ].join('\n'),
  'fleet/scripts/harden.sh': HARDEN,
  'fleet/images/debian.yaml': [
    'apiVersion: deployx.dev/v1',
    'kind: OSImage',
    'metadata: {name: debian}',
    'spec:',
    '  installer: debian-preseed',
    '  os: {family: debian, version: "12"}',
    '  kernel: {source: images/vmlinuz, sha256: x}',
    '  initrd: {source: ../secret.txt, sha256: x}',
    '  image: {source: /etc/passwd, sha256: x}',
    '  bootWim: {source: images/missing.wim, sha256: x}',
    '',
  ].join('\n'),
  'fleet/images/vmlinuz': KERNEL,
  'fleet/broken.yaml': 'apiVersion: deployx.dev/v1\nkind: [Group\nmetadata: {}\n',
  'fleet/empty.yaml': '# nothing yet\n',
  'fleet/.github/workflows/ci.yaml': 'on: push\n',
  'fleet/.hidden/x.yaml': 'a: 1\n',
  'fleet/node_modules/pkg/a.yaml': 'a: 1\n',
};

const FLEET_PATHS = [
  'README.md',
  'assets/motd.txt',
  'broken.yaml',
  'empty.yaml',
  'files/motd.yaml',
  'fleet.yaml',
  'images/debian.yaml',
  'images/vmlinuz',
  'notes.txt',
  'scripts/harden.YML',
  'scripts/harden.sh',
  'software/web.yaml',
];
const YAML_FILES = 7;

const sha256 = (bytes: string | Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Everything in a LoadedRevision as plain data, for deepEqual across readers. */
function snapshot(loaded: LoadedRevision): unknown {
  return {
    documents: loaded.documents.map((d) => ({
      file: d.file,
      index: d.index,
      value: d.value,
      positions: [...d.positions],
      keyPositions: [...d.keyPositions],
    })),
    syntaxIssues: loaded.syntaxIssues,
    paths: [...loaded.paths],
    files: [...loaded.files],
  };
}

async function rejectsWith(promise: Promise<unknown>, code: RevisionErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof RevisionError, String(err));
    assert.equal(err.code, code);
    return true;
  });
}

describe('loadRevision', () => {
  let tmp: string;
  let repo: TestRepo & { first: string };

  before(async () => {
    tmp = await makeTempDir();
    const dir = join(tmp, 'repo');
    repo = await makeRepo(dir, FIXTURE);
    // A symbolic link is not part of a revision, in a working tree or in a commit.
    await symlink('fleet.yaml', join(dir, 'fleet', 'link.yaml'));
    await symlink('fleet', join(dir, 'fleet-link'));
    await repo.commit({}, 'add a symlink');
  });
  after(() => removeDir(tmp));

  it('loads a commit: documents sorted by (file, index), syntax issues, paths, referenced files', async () => {
    const reader = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' });
    const loaded = await loadRevision(reader, { cache: new ParseCache() });

    assert.deepEqual([...loaded.paths], FLEET_PATHS);
    assert.deepEqual(
      loaded.documents.map((d) => [d.file, d.index, (d.value as { metadata: { name: string } }).metadata.name]),
      [
        ['files/motd.yaml', 0, 'motd'],
        ['fleet.yaml', 0, 'acme'],
        ['images/debian.yaml', 0, 'debian'],
        ['scripts/harden.YML', 0, 'harden'],
        ['software/web.yaml', 0, 'nginx'],
        ['software/web.yaml', 1, 'curl'],
      ],
    );
    assert.deepEqual(
      loaded.syntaxIssues.map((i) => [i.file, i.line, i.col]),
      [['broken.yaml', 3, 1]],
    );
    assert.deepEqual(loaded.documents[5]?.positions.get('/spec/packages/apt'), { line: 11, col: 19 });
    assert.deepEqual(loaded.documents[5]?.keyPositions.get('/spec/packages'), { line: 11, col: 3 });
  });

  it('warns, naming the file, about a YAML file that is a symbolic link, in a working tree and in a commit', async () => {
    const fromCommit = await loadRevision(await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' }), { cache: new ParseCache() });
    const fromTree = await loadRevision(new DirectoryReader({ root: join(repo.dir, 'fleet') }), { cache: new ParseCache() });
    for (const loaded of [fromCommit, fromTree]) {
      assert.deepEqual(loaded.warnings?.map((w) => [w.code, w.file, w.line]), [['file.symlink', 'link.yaml', 1]], loaded.revision);
      assert.ok(!loaded.documents.some((d) => d.file === 'link.yaml'), 'still not read');
    }
    // A link to a directory, and links that are not YAML, are not fleet documents: no warning.
    const fromRoot = await loadRevision(new DirectoryReader({ root: repo.dir }), { cache: new ParseCache() });
    assert.deepEqual(fromRoot.warnings?.map((w) => w.file), ['fleet/link.yaml']);
  });

  it('hashes exactly the files that sources reference inside the fleet root (sha256 as node:crypto)', async () => {
    const reader = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' });
    const loaded = await loadRevision(reader, { cache: new ParseCache() });
    assert.deepEqual(
      [...loaded.files.values()],
      [
        { path: 'assets/motd.txt', sha256: sha256(MOTD), size: Buffer.byteLength(MOTD) },
        { path: 'images/vmlinuz', sha256: sha256(KERNEL), size: KERNEL.byteLength },
        { path: 'scripts/harden.sh', sha256: sha256(HARDEN), size: Buffer.byteLength(HARDEN) },
      ],
    );
    // `../secret.txt` and `/etc/passwd` are refused, `images/missing.wim` does not exist: no entry.
    assert.deepEqual([...loaded.files.keys()], ['assets/motd.txt', 'images/vmlinuz', 'scripts/harden.sh']);
  });

  it('gives the same LoadedRevision for a working tree and a commit of the same content', async () => {
    const fromCommit = await loadRevision(await GitCommitReader.open({ dir: repo.dir, ref: 'HEAD', path: 'fleet' }), {
      cache: new ParseCache(),
    });
    const fromTree = await loadRevision(new DirectoryReader({ root: join(repo.dir, 'fleet') }), {
      cache: new ParseCache(),
    });
    assert.equal(fromTree.revision, 'worktree');
    assert.match(fromCommit.revision, /^main@sha1:[0-9a-f]{40}$/);
    assert.deepEqual(snapshot(fromTree), snapshot(fromCommit));
  });

  it('reads the repository root as the fleet root, skipping .git and dot-directories', async () => {
    const fromTree = await loadRevision(new DirectoryReader({ root: repo.dir }), { cache: new ParseCache() });
    const fromCommit = await loadRevision(await GitCommitReader.open({ dir: repo.dir, ref: 'main' }), {
      cache: new ParseCache(),
    });
    assert.deepEqual(snapshot(fromTree), snapshot(fromCommit));
    const paths = [...fromTree.paths];
    assert.ok(paths.includes('fleet/fleet.yaml') && paths.includes('secret.txt'));
    assert.ok(!paths.some((p) => p.startsWith('.git/') || p.includes('/.github/') || p.includes('node_modules')));
    assert.ok(!paths.includes('fleet/link.yaml') && !paths.some((p) => p.startsWith('fleet-link')), 'links are skipped');
    // From the repository root the `..` source is still outside the fleet root.
    assert.deepEqual([...fromTree.files.keys()], []);
  });

  it('lists the same files with a shared TreeListingCache, commit after commit, reading only changed trees', async () => {
    const dir = join(tmp, 'trees-repo');
    const local = await makeRepo(dir, FIXTURE);
    const trees = new TreeListingCache();
    const list = async (ref: string, shared: boolean): Promise<unknown> =>
      snapshot(await loadRevision(await GitCommitReader.open({ dir, ref, path: 'fleet', trees: shared ? trees : undefined }), { cache: new ParseCache() }));

    assert.deepEqual(await list(local.first, true), await list(local.first, false));
    const known = trees.size;
    assert.ok(known > 3, `${known} trees`);
    const changed = await local.commit({ 'fleet/software/web.yaml': 'apiVersion: deployx.dev/v1\nkind: Software\nmetadata: {name: vim}\n' });
    assert.deepEqual(await list(changed, true), await list(changed, false));
    assert.equal(trees.size, known + 2, 'fleet/ (the fleet root) and fleet/software/ are new trees; the others were not read');
    await runGit(dir, ['mv', 'fleet/files/motd.yaml', 'fleet/motd-file.yaml']);
    const moved = await local.commit({ 'fleet/.hidden/x.yaml': 'a: 1\n' });
    assert.deepEqual(await list(moved, true), await list(moved, false));
  });

  it('parses an unchanged file once: a second load parses nothing, a one-file commit parses one file', async () => {
    const dir = join(tmp, 'cache-repo');
    const local = await makeRepo(dir, FIXTURE);
    const cache = new ParseCache();
    const hasher = new ContentHasher();
    const load = async (ref: string): Promise<LoadedRevision> =>
      loadRevision(await GitCommitReader.open({ dir, ref, path: 'fleet' }), { cache, hasher });

    const first = await load(local.first);
    assert.equal(cache.stats.parses, YAML_FILES);
    assert.equal(hasher.stats.hashes, 3);

    const again = await load('main');
    assert.equal(cache.stats.parses, YAML_FILES, 'nothing parsed again');
    assert.equal(hasher.stats.hashes, 3, 'nothing hashed again');
    assert.deepEqual(snapshot(again), snapshot(first));

    const changed = await local.commit({ 'fleet/software/web.yaml': 'apiVersion: deployx.dev/v1\nkind: Software\nmetadata: {name: vim}\n' });
    const second = await load(changed);
    assert.equal(cache.stats.parses, YAML_FILES + 1, 'only the changed file');
    assert.deepEqual(
      second.documents.filter((d) => d.file === 'software/web.yaml').map((d) => d.value),
      [{ apiVersion: 'deployx.dev/v1', kind: 'Software', metadata: { name: 'vim' } }],
    );

    await runGit(dir, ['mv', 'fleet/files/motd.yaml', 'fleet/motd-file.yaml']);
    const moved = await local.commit({ 'fleet/assets/motd.txt': 'a new motd\n' });
    const third = await load(moved);
    assert.equal(cache.stats.parses, YAML_FILES + 1, 'a moved file is not parsed again');
    assert.equal(hasher.stats.hashes, 4, 'only the changed source is hashed');
    assert.deepEqual(
      third.documents.map((d) => d.file),
      ['fleet.yaml', 'images/debian.yaml', 'motd-file.yaml', 'scripts/harden.YML', 'software/web.yaml'],
    );
    assert.equal(third.files.get('assets/motd.txt')?.sha256, sha256('a new motd\n'));
  });

  it('stops at the revision size limit: revision.too-large on the file that crosses it, later files not parsed, the same when cached', async () => {
    const dir = join(tmp, 'budget-repo');
    const doc = (name: string): string => `apiVersion: deployx.dev/v1\nkind: Software\nmetadata: {name: ${name}}\nspec: {packages: {apt: ${name}}}\n# ${'x'.repeat(900)}\n`;
    const files: FileTree = { 'a.yaml': doc('a'), 'b.yaml': doc('b'), 'c.yaml': doc('c'), 'd.yaml': doc('d'), 'huge.yml': 'a: [' + '1, '.repeat(400_000) + '1]\n' };
    await makeRepo(dir, files);
    const cache = new ParseCache();
    for (const round of ['cold', 'cached']) {
      const loaded = await loadRevision(await GitCommitReader.open({ dir, ref: 'main' }), { cache, maxRevisionBytes: 2_500 });
      assert.deepEqual(loaded.documents.map((d) => d.file), ['a.yaml', 'b.yaml'], round);
      assert.deepEqual(
        loaded.syntaxIssues.map((i) => [i.code, i.file, i.line]),
        [['revision.too-large', 'c.yaml', 1]],
        round,
      );
    }
    // A file over the file limit is refused on its own and does not count towards the revision.
    const whole = await loadRevision(await GitCommitReader.open({ dir, ref: 'main' }), { cache, maxRevisionBytes: 10_000 });
    assert.deepEqual(whole.documents.map((d) => d.file), ['a.yaml', 'b.yaml', 'c.yaml', 'd.yaml']);
    assert.deepEqual(whole.syntaxIssues.map((i) => [i.code, i.file]), [['file.too-large', 'huge.yml']]);
  });

  it('reads only files of the revision through readRepoFile', async () => {
    const reader = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' });
    assert.deepEqual(await readRepoFile(reader, './images/vmlinuz'), KERNEL);
    await rejectsWith(readRepoFile(reader, '../secret.txt'), 'revision.path-invalid');
    await rejectsWith(readRepoFile(reader, '/etc/passwd'), 'revision.path-invalid');
    await rejectsWith(readRepoFile(reader, '.github/workflows/ci.yaml'), 'revision.file-not-found');
    await rejectsWith(readRepoFile(reader, 'link.yaml'), 'revision.file-not-found');

    const tree = new DirectoryReader({ root: join(repo.dir, 'fleet') });
    assert.equal(Buffer.from(await readRepoFile(tree, 'assets/motd.txt')).toString(), MOTD);
    await rejectsWith(readRepoFile(tree, 'assets/../../secret.txt'), 'revision.path-invalid');
    await rejectsWith(readRepoFile(tree, 'link.yaml'), 'revision.file-not-found');
  });
});

describe('GitCommitReader', () => {
  let tmp: string;
  let repo: TestRepo & { first: string };
  let head: string;

  before(async () => {
    tmp = await makeTempDir();
    const dir = join(tmp, 'repo');
    repo = await makeRepo(dir, { 'fleet/a.yaml': 'a: 1\n', 'fleet/sub/b.yaml': 'b: 2\n', 'top.yaml': 'c: 3\n' });
    head = await repo.commit({ 'fleet/a.yaml': 'a: 2\n' });
    await runGit(dir, ['tag', '-a', 'v1', '-m', 'release v1', repo.first]);
    await runGit(dir, ['tag', 'light', head]);
    await runGit(dir, ['branch', 'release/2024', repo.first]);
  });
  after(() => removeDir(tmp));

  it('pins the ref once and names the revision <short ref>@sha1:<oid>', async () => {
    const table: [string, string][] = [
      ['main', `main@sha1:${head}`],
      ['refs/heads/main', `main@sha1:${head}`],
      ['HEAD', `main@sha1:${head}`],
      ['release/2024', `release/2024@sha1:${repo.first}`],
      ['v1', `v1@sha1:${repo.first}`], // annotated tag, peeled to its commit
      ['light', `light@sha1:${head}`],
      [head, `sha1:${head}`],
      [head.toUpperCase(), `sha1:${head}`],
      [repo.first.slice(0, 10), `sha1:${repo.first}`],
    ];
    for (const [ref, revision] of table) {
      const reader = await GitCommitReader.open({ dir: repo.dir, ref });
      assert.equal(reader.revision, revision, ref);
    }

    // Moving the branch after opening does not move the reader.
    const reader = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' });
    await repo.commit({ 'fleet/a.yaml': 'a: 3\n' });
    assert.equal(reader.oid, head);
    assert.equal(Buffer.from(await reader.read('a.yaml')).toString(), 'a: 2\n');
    await runGit(repo.dir, ['reset', '--quiet', '--hard', head]);
  });

  it('lists files under a subdirectory fleet root with their blob oids', async () => {
    const reader = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: '/fleet/' });
    assert.equal(reader.root, 'fleet');
    const blob = await runGit(repo.dir, ['rev-parse', `${head}:fleet/sub/b.yaml`]);
    assert.deepEqual(await reader.list(), [
      { path: 'a.yaml', id: await runGit(repo.dir, ['rev-parse', `${head}:fleet/a.yaml`]) },
      { path: 'sub/b.yaml', id: blob },
    ]);
    const nested = await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet/sub' });
    assert.deepEqual(await nested.list(), [{ path: 'b.yaml', id: blob }]);
  });

  it('fails with typed errors for a missing ref, a non-commit, a missing or file root', async () => {
    const tree = await runGit(repo.dir, ['rev-parse', `${head}^{tree}`]);
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: 'nope' }), 'revision.ref-not-found');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: '../../etc/passwd' }), 'revision.ref-not-found');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: 'f'.repeat(40) }), 'revision.ref-not-found');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: tree }), 'revision.not-a-commit');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'nowhere' }), 'revision.root-not-found');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'top.yaml' }), 'revision.root-not-found');
    await rejectsWith(GitCommitReader.open({ dir: repo.dir, ref: 'main', path: '../x' }), 'revision.path-invalid');
    await rejectsWith(new DirectoryReader({ root: join(repo.dir, 'nowhere') }).list(), 'revision.root-not-found');
  });

  it('reads a bare repository, with loose objects and after gc packed them', async () => {
    const bare = join(tmp, 'bare.git');
    await runGit(tmp, ['clone', '--quiet', '--bare', '--no-local', repo.dir, bare]);
    const expected = snapshot(
      await loadRevision(await GitCommitReader.open({ dir: repo.dir, ref: 'main', path: 'fleet' }), { cache: new ParseCache() }),
    );

    const cache = {};
    const loose = await GitCommitReader.open({ gitdir: bare, ref: 'HEAD', path: 'fleet', cache });
    assert.equal(loose.revision, `main@sha1:${head}`);
    assert.deepEqual(snapshot(await loadRevision(loose, { cache: new ParseCache() })), expected);

    await runGit(bare, ['gc', '--quiet', '--aggressive', '--prune=now']);
    // Its own cache (delta-base cache on) and a caller's (as is) read the same bytes.
    const packed = await GitCommitReader.open({ gitdir: bare, ref: 'main', path: 'fleet' });
    assert.deepEqual(snapshot(await loadRevision(packed, { cache: new ParseCache() })), expected);
    const shared = await GitCommitReader.open({ gitdir: bare, ref: 'main', path: 'fleet', cache: {} });
    assert.deepEqual(snapshot(await loadRevision(shared, { cache: new ParseCache() })), expected);
  });
});

describe('GitCommitReader on a packed repository', () => {
  let tmp: string;
  after(() => removeDir(tmp));

  it('reads deltified blobs byte for byte, twice, with its delta-base cache', async () => {
    tmp = await makeTempDir();
    const body = (i: number, v: number): string =>
      Array.from({ length: 40 }, (_, line) => `key${line}: value ${line} of file ${i} version ${line === i % 40 ? v : 0}`).join('\n') + '\n';
    const tree = (v: number): FileTree => Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`f/${i}.yaml`, body(i, v)]));
    const local = await makeRepo(join(tmp, 'repo'), tree(0));
    await local.commit(tree(1));
    await local.commit(tree(2));
    const gitdir = join(local.dir, '.git');
    await runGit(local.dir, ['gc', '--quiet', '--aggressive', '--prune=now']);
    const [idx] = (await readdir(join(gitdir, 'objects', 'pack'))).filter((f) => f.endsWith('.idx'));
    const stats = await runGit(gitdir, ['verify-pack', '-v', join(gitdir, 'objects', 'pack', idx ?? '')]);
    assert.match(stats, /^chain length = [2-9]/m, 'the pack holds delta chains');

    const reader = await GitCommitReader.open({ gitdir, ref: 'main' });
    for (let round = 0; round < 2; round++) {
      for (const { path } of await reader.list()) {
        assert.equal(Buffer.from(await reader.read(path)).toString(), body(Number(path.slice(2, -5)), 2), path);
      }
    }
    const old = await GitCommitReader.open({ gitdir, ref: local.first });
    assert.equal(Buffer.from(await old.read('f/7.yaml')).toString(), body(7, 0));
  });
});

describe('referencedSources', () => {
  it('finds spec.source of files and scripts and artifact sources of OS images, strings only', () => {
    assert.deepEqual(referencedSources({ kind: 'FileDeployment', spec: { source: 'a' } }), ['a']);
    assert.deepEqual(referencedSources({ kind: 'Script', spec: { source: 'b' } }), ['b']);
    assert.deepEqual(
      referencedSources({
        kind: 'OSImage',
        spec: { kernel: { source: 'k' }, initrd: { url: 'http://x' }, wimboot: { source: 'w' }, bootWim: { source: 1 }, image: { source: 'i' } },
      }),
      ['k', 'w', 'i'],
    );
    assert.deepEqual(referencedSources({ kind: 'Profile', spec: { source: 'x' } }), []);
    assert.deepEqual(referencedSources({ kind: 'Script', spec: { source: ['x'] } }), []);
    assert.deepEqual(referencedSources(null), []);
  });
});
