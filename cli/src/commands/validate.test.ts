// `deployx validate` as users run it: the real CLI in a child process, on the example fleet, on an
// invalid fixture, and on a real git repository whose commit and working tree differ.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { makeRepo, makeTempDir, removeDir, writeTree, type FileTree } from '../../../reconciler/src/edges/git/test-repo.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');
const FIXTURE = 'reconciler/src/core/validate/fixtures/43-many-errors';

interface Expected {
  code: string;
  file: string;
  line: number;
  col: number;
  suggestion?: string;
}
const expected = JSON.parse(readFileSync(join(ROOT, FIXTURE, 'expected.json'), 'utf8')) as Expected[];

interface Run {
  code: number;
  /** The signal that ended the process (SIGABRT when V8 aborts), if one did. */
  signal?: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `node cli/bin/deployx.js …args` (an argument array, no shell) and collects its output. */
function deployx(args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && error.signal) resolve({ code: -1, signal: error.signal, stdout, stderr });
      else if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map(removeDir));
});

describe('deployx validate', { concurrency: true }, () => {
  it('exits 0 on the example fleet and summarises it', async () => {
    const run = await deployx(['validate', 'fleet-repo-example']);
    assert.equal(run.code, 0, run.stderr);
    const out = lines(run.stdout);
    assert.match(out[0]!, /^✓ fleet-repo-example is valid \(worktree, \d+ documents\)$/);
    assert.match(run.stdout, /\b15 Device\b/);
    assert.equal(run.stderr, '');
  });

  it('exits 1 on an invalid repository, one file:line:col: code: message line per issue, then the summary', async () => {
    const run = await deployx(['validate', FIXTURE]);
    assert.equal(run.code, 1, run.stderr);
    const out = lines(run.stdout);
    assert.equal(out.length, expected.length + 1);
    expected.forEach((issue, i) => {
      const prefix = `${FIXTURE}/${issue.file}:${issue.line}:${issue.col}: ${issue.code}: `;
      assert.ok(out[i]!.startsWith(prefix), `line ${i}: ${out[i]} does not start with ${prefix}`);
      assert.ok(out[i]!.length > prefix.length, 'a message follows the code');
    });
    const files = new Set(expected.map((i) => i.file)).size;
    assert.match(out.at(-1)!, new RegExp(`^✗ ${expected.length} errors in ${files} files \\(worktree, \\d+ documents\\)$`));
  });

  it('--format json prints a report that parses and lists every issue', async () => {
    const run = await deployx(['validate', FIXTURE, '--format', 'json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as {
      valid: boolean;
      revision: string;
      documents: number;
      issues: Array<Expected & { message: string; path: string }>;
      devices: unknown[];
    };
    assert.equal(report.valid, false);
    assert.equal(report.revision, 'worktree');
    assert.ok(report.documents > 0);
    assert.deepEqual(report.devices, []);
    assert.deepStrictEqual(
      report.issues.map(({ code, file, line, col, suggestion }) => ({ code, file, line, col, ...(suggestion ? { suggestion } : {}) })),
      expected.map((issue) => ({ ...issue, file: `${FIXTURE}/${issue.file}` })),
    );
    for (const issue of report.issues) assert.ok(issue.message.length > 0 && typeof issue.path === 'string');
  });

  it('exits 2 when the directory does not exist', async () => {
    const run = await deployx(['validate', 'no-such-fleet']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /no-such-fleet/);
  });

  it('exits 2 on an unknown option, in one line pointing at --help', async () => {
    const run = await deployx(['validate', 'fleet-repo-example', '--bogus']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^deployx validate: .*--bogus.*\(see "deployx validate --help"\)\n$/);
  });

  it('--ref validates the commit, not the working tree, and --format github names files from the git toplevel', async () => {
    const dir = await makeTempDir('deployx-cli-');
    tempDirs.push(dir);
    const fleet = join(dir, 'fleet');
    const committed: FileTree = {
      'README.md': '# infrastructure repository\n',
      'fleet/groups/web.yaml': doc('Group', 'web-servers', ['  selector:', '    matchLabels:', '      role: web']),
      'fleet/software/nginx.yaml': doc('Software', 'nginx', ['  packages:', '    apt: nginx']),
      'fleet/profiles/web.yaml': doc('Profile', 'web', ['  targets: [web-servers]', '  software:', '    - ngnix']),
    };
    const fixed = { 'fleet/profiles/web.yaml': doc('Profile', 'web', ['  targets: [web-servers]', '  software:', '    - nginx']) };
    const repo = await makeRepo(dir, committed);

    // The commit is invalid, the working tree is valid.
    await writeTree(dir, fixed);
    const [atCommit, worktree] = await Promise.all([
      deployx(['validate', fleet, '--ref', 'main', '--format', 'github']),
      deployx(['validate', fleet]),
    ]);
    assert.equal(worktree.code, 0, worktree.stdout + worktree.stderr);
    assert.equal(atCommit.code, 1, atCommit.stderr);
    const annotations = lines(atCommit.stdout);
    assert.equal(annotations.length, 2, atCommit.stdout);
    assert.ok(
      annotations[0]!.startsWith('::error file=fleet/profiles/web.yaml,line=8,col=7,title=deployx ref.software::'),
      annotations[0],
    );
    assert.match(annotations[0]!, /"ngnix"/);
    assert.equal(annotations[1], `deployx: 1 error in main@sha1:${repo.first}`);

    // The other way round: the fix is committed, the working tree is broken again.
    const second = await repo.commit(fixed, 'fix the software reference');
    await writeTree(dir, { 'fleet/software/nginx.yaml': doc('Software', 'nginx', ['  packages:', '    apt: nginx', '  verison: "1.24.*"']) });
    const [fixedCommit, brokenTree] = await Promise.all([deployx(['validate', fleet, '--ref', 'main']), deployx(['validate', fleet])]);
    assert.equal(brokenTree.code, 1, brokenTree.stdout);
    assert.match(brokenTree.stdout, /software\/nginx\.yaml:8:3: schema\.unknown-key: /);
    assert.equal(fixedCommit.code, 0, fixedCommit.stdout + fixedCommit.stderr);
    assert.match(lines(fixedCommit.stdout)[0]!, new RegExp(`is valid \\(main@sha1:${second}, 3 documents\\)$`));
  });

  it('exits 1 with yaml.too-deep at file:line on 64 KB of nested flow collections, in a working tree and at a commit', async () => {
    const dir = await makeTempDir('deployx-cli-');
    tempDirs.push(dir);
    // Outside the plain-YAML subset (an unclosed flow sequence), so the yaml package's path reads it.
    const deep = ['apiVersion: deployx.dev/v1', 'kind: Software', 'metadata:', '  name: deep', 'spec:', `  notes: ${'['.repeat(65_536)}`, ''].join('\n');
    await makeRepo(dir, {
      'software/nginx.yaml': doc('Software', 'nginx', ['  packages:', '    apt: nginx']),
      'software/deep.yaml': deep,
    });
    const [worktree, atCommit] = await Promise.all([deployx(['validate', dir]), deployx(['validate', dir, '--ref', 'main', '--format', 'json'])]);
    // Level 4 is the first `[` (column 10): the limit of 64 levels is crossed at its 62nd.
    assert.equal(worktree.signal ?? null, null, worktree.stderr);
    assert.equal(worktree.code, 1, worktree.stderr);
    const out = lines(worktree.stdout);
    assert.equal(out.length, 2, worktree.stdout);
    assert.match(out[0]!, /software\/deep\.yaml:6:71: yaml\.too-deep: /);
    assert.equal(atCommit.code, 1, atCommit.stderr);
    const report = JSON.parse(atCommit.stdout) as { issues: Array<{ code: string; line: number; col: number }> };
    assert.deepEqual(report.issues.map((i) => [i.code, i.line, i.col]), [['yaml.too-deep', 6, 71]]);
  });
  it('names a symlinked YAML file as a warning in every format, and still exits 0', async () => {
    const dir = await makeTempDir('deployx-validate-link-');
    tempDirs.push(dir);
    await writeTree(dir, {
      'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata:\n  name: link\nspec: {}\n',
    });
    const { symlink } = await import('node:fs/promises');
    await symlink(join(dir, 'fleet.yaml'), join(dir, 'linked.yaml'));
    const text = await deployx(['validate', dir]);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(lines(text.stdout).some((l) => /linked\.yaml:1:1: warning file\.symlink: /.test(l)), text.stdout);
    const json = await deployx(['validate', '--format', 'json', dir]);
    assert.deepEqual((JSON.parse(json.stdout) as { warnings: Array<{ code: string; file: string }> }).warnings.map((w) => w.code), ['file.symlink']);
    const github = await deployx(['validate', '--format', 'github', dir]);
    assert.ok(lines(github.stdout).some((l) => l.startsWith('::warning file=') && l.includes('file.symlink')), github.stdout);
  });
});

function doc(kind: string, name: string, spec: string[]): string {
  return ['apiVersion: deployx.dev/v1', `kind: ${kind}`, 'metadata:', `  name: ${name}`, 'spec:', ...spec, ''].join('\n');
}
