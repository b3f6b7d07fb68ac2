// The verifier's edges with real files and real repositories: trusted-key files that cannot be
// used stop the start with file and line; `all` walks exactly `git rev-list head ^base`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import nodeFs from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readRawCommit } from '../git/raw-commit.ts';
import { makeRepo, makeTempDir, removeDir, runGit } from '../git/test-repo.ts';
import { CommitVerifier, commitsBetween, loadTrustedKeys, TrustedKeysError } from './commit-verifier.ts';
import { SSH_VECTORS } from './test-vectors.ts';

const run = promisify(execFile);

test('trusted key files: a bad allowed_signers line, an unreadable file, a non-key file and a private key stop the start', async (t) => {
  const dir = await makeTempDir('deployx-keys-');
  t.after(() => removeDir(dir));
  const signers = path.join(dir, 'allowed_signers');
  await writeFile(signers, `# ok\nalice@x ssh-ed25519 ${SSH_VECTORS.ed25519.key}\nbob@x ssh-ed25519\n`);
  await assert.rejects(loadTrustedKeys({ openpgpKeyFiles: [], allowedSignersFile: signers }), (e: Error) => e instanceof TrustedKeysError && /allowed_signers:3: expected a base64 public key/.test(e.message));
  await assert.rejects(loadTrustedKeys({ openpgpKeyFiles: [path.join(dir, 'missing.asc')], allowedSignersFile: undefined }), /cannot read trusted key file .*missing\.asc: ENOENT/);
  const junk = path.join(dir, 'junk.asc');
  await writeFile(junk, 'not a key\n');
  await assert.rejects(loadTrustedKeys({ openpgpKeyFiles: [junk], allowedSignersFile: undefined }), /junk\.asc: not an armored OpenPGP public key file/);
  const empty = path.join(dir, 'empty');
  await writeFile(empty, '# nobody yet\n');
  await assert.rejects(loadTrustedKeys({ openpgpKeyFiles: [], allowedSignersFile: empty }), /no trusted key is given/);

  await writeFile(signers, `alice@x ssh-ed25519 ${SSH_VECTORS.ed25519.key}\n`);
  const keys = await loadTrustedKeys({ openpgpKeyFiles: [], allowedSignersFile: signers });
  assert.deepEqual(keys.ssh.map((s) => s.principals), [['alice@x']]);
});

test('commitsBetween is `git rev-list head ^base`, oldest first, merges included; over the limit it says so', async (t) => {
  const dir = await makeTempDir('deployx-range-');
  t.after(() => removeDir(dir));
  const repo = await makeRepo(dir, { 'a.txt': 'a' });
  const objects = { rawCommit: (oid: string) => readRawCommit(nodeFs, path.join(dir, '.git'), oid, {}, dir) };
  // Each commit gets its own time, as the walk orders by it. The initial commit (test-repo.ts's
  // fixed 2024 clock) is "newer" than its children: a skewed clock the walk must survive.
  let clock = 1_700_000_000;
  const git = async (args: string[]) => {
    clock += 60;
    const date = `${clock} +0000`;
    const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@x', GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date };
    await run('git', args, { cwd: dir, env });
  };
  const commit = async (message: string) => {
    await git(['commit', '--quiet', '--allow-empty', '-m', message]);
    return runGit(dir, ['rev-parse', 'HEAD']);
  };
  const base = await commit('base');
  await runGit(dir, ['checkout', '--quiet', '-b', 'feature', 'HEAD~1']); // a branch from before base
  const f1 = await commit('feature 1');
  await runGit(dir, ['checkout', '--quiet', 'main']);
  const m1 = await commit('main 1');
  await git(['merge', '--quiet', '--no-ff', '-m', 'merge', 'feature']);
  const merge = await runGit(dir, ['rev-parse', 'HEAD']);
  const expected = (await runGit(dir, ['rev-list', '--reverse', merge, `^${base}`])).split('\n').sort();
  const found = await commitsBetween(objects, merge, base, 100);
  assert.deepEqual([...found!].sort(), expected);
  assert.deepEqual(new Set(found), new Set([f1, m1, merge]));
  assert.equal(await commitsBetween(objects, merge, base, 2), undefined);
  assert.deepEqual(await commitsBetween(objects, merge, repo.first, 100).then((r) => r!.length), 4);

  const verifier = new CommitVerifier('head', { ssh: [], openpgp: [] });
  assert.deepEqual(await verifier.commitsToVerify(objects, merge, base), [merge], 'head: only the head');
  const all = new CommitVerifier('all', { ssh: [], openpgp: [] });
  assert.deepEqual(await all.commitsToVerify(objects, merge, undefined), [merge], 'all, nothing accepted yet: only the head');
  const { verdicts } = await all.verifyHead(objects, merge, base);
  assert.deepEqual(new Set(verdicts.map((v) => [v.oid, v.state].join(' '))), new Set([f1, m1, merge].map((oid) => `${oid} unsigned`)));
});
