// `deployx validate --ref` and `deployx plan` report commit signatures with the server's flags:
// the real CLI in a child process, a real repository whose commits the git CLI signs with a key
// made by ssh-keygen. Skipped, saying why, where ssh-keygen is not installed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeTempDir, removeDir, writeTree } from '../../../reconciler/src/edges/git/test-repo.ts';
import { testFleet } from '../../../e2e/fleet.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');

function deployx(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const sshKeygen = await run('ssh-keygen', ['-?']).then(
  () => true,
  (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
);

describe('signature reports of validate and plan', { skip: sshKeygen ? false : 'ssh-keygen is not installed (apt-get install openssh-client)' }, () => {
  let dir: string;
  let repo: string;
  let signers: string;
  let fingerprint: string;
  const oids: Record<string, string> = {};

  const git = async (args: string[]) =>
    (
      await run('git', args, {
        cwd: repo,
        env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@x' },
      })
    ).stdout.trim();
  const commit = async (name: string, signed: boolean) => {
    await writeTree(repo, testFleet({ motd: name }));
    await git(['add', '-A']);
    const sign = signed ? ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${join(dir, 'alice.pub')}`, 'commit', '-S'] : ['commit'];
    await git([...sign, '--quiet', '-m', name]);
    oids[name] = await git(['rev-parse', 'HEAD']);
  };

  before(async () => {
    dir = await makeTempDir('deployx-cli-sig-');
    repo = join(dir, 'repo');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(dir, 'alice')]);
    const [type, key] = (await readFile(join(dir, 'alice.pub'), 'utf8')).split(' ');
    signers = join(dir, 'allowed_signers');
    await writeFile(signers, `alice@example.invalid ${type} ${key}\n`);
    fingerprint = (await run('ssh-keygen', ['-l', '-f', join(dir, 'alice.pub')])).stdout.split(' ')[1]!;
    await run('git', ['init', '--quiet', '--initial-branch=main', repo]);
    await commit('one', true);
    await commit('two', false);
    await commit('three', true);
  });
  after(() => removeDir(dir));

  it('validate --ref reports who signed the commit', async () => {
    const r = await deployx(['validate', '--ref', oids.one!, '--trusted-ssh-signers', signers], repo);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`✓ signature: commit ${oids.one!.slice(0, 12)} is signed by alice@example.invalid \\(ssh key ${fingerprint.replace(/[+/]/g, '\\$&')}\\)`));
    const json = JSON.parse((await deployx(['validate', '--ref', oids.one!, '--trusted-ssh-signers', signers, '--format', 'json'], repo)).stdout);
    assert.deepEqual(json.signatures.commits[0].signer, { method: 'ssh', fingerprint, identity: 'alice@example.invalid' });
  });

  it('an unsigned commit is reported; under --verify-commits head it fails validation', async () => {
    const reported = await deployx(['validate', '--ref', oids.two!, '--trusted-ssh-signers', signers], repo);
    assert.equal(reported.code, 0);
    assert.match(reported.stdout, /✗ signature: commit \w{12} is not signed/);
    assert.match(reported.stdout, /reported, not enforced/);
    const enforced = await deployx(['validate', '--ref', oids.two!, '--trusted-ssh-signers', signers, '--verify-commits', 'head'], repo);
    assert.equal(enforced.code, 1);
    assert.match(enforced.stdout, /a server with --verify-commits head rejects this revision/);
  });

  it('plan under --verify-commits all names the unsigned commit between base and head', async () => {
    const args = ['plan', '--repo', '.', '--base', oids.one!, '--head', oids.three!, '--trusted-ssh-signers', signers];
    const head = await deployx([...args, '--verify-commits', 'head'], repo);
    assert.equal(head.code, 0, head.stderr);
    assert.match(head.stdout, /note: ✓ signature: commit \w{12} is signed by alice@example.invalid/);
    const all = await deployx([...args, '--verify-commits', 'all'], repo);
    assert.equal(all.code, 1);
    assert.match(all.stdout, new RegExp(`note: ✗ signature: commit ${oids.two!.slice(0, 12)} is not signed`));
    assert.match(all.stderr, /refuses/);
  });

  it('usage: a mode without keys, keys without --ref', async () => {
    assert.equal((await deployx(['validate', '--ref', 'HEAD', '--verify-commits', 'head'], repo)).code, 2);
    const noRef = await deployx(['validate', '--trusted-ssh-signers', signers], repo);
    assert.equal(noRef.code, 2);
    assert.match(noRef.stderr, /give --ref REF/);
    const badKeys = await deployx(['validate', '--ref', 'HEAD', '--trusted-openpgp-keys', signers], repo);
    assert.equal(badKeys.code, 2);
    assert.match(badKeys.stderr, /not an armored OpenPGP public key file/);
  });
});
