// End to end: commit signature verification (issue 12, weakness 7a). A real server reads a bare
// repository in place; commits are made and signed by the real git CLI — with SSH keys made by
// `ssh-keygen -t ed25519` and an OpenPGP key made by gpg in a temporary GNUPGHOME — and pushed
// to it. Trusted keys are the server's own configuration (an allowed_signers file, an armored
// OpenPGP key file), never the repository's. Asserts on the stored revisions the API lists.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { writeTree } from '../reconciler/src/edges/git/test-repo.ts';
import type { ServerConfig } from '../reconciler/src/config.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { testFleet } from './fleet.ts';
import { api, startTestServer, tempDir, waitFor } from './harness.ts';

const run = promisify(execFile);

interface Signer {
  method: 'ssh' | 'openpgp';
  fingerprint: string;
  identity: string;
}
interface Revision {
  revision: string;
  oid: string;
  status: 'accepted' | 'rejected';
  errors: Array<{ code: string; message: string }>;
  signer?: Signer;
}

/** The tools the signing needs; the tests skip (never fail) when one is missing. */
async function missingTools(): Promise<string | undefined> {
  for (const [tool, args] of [['git', ['--version']], ['ssh-keygen', ['-?']], ['gpg', ['--version']]] as const) {
    try {
      await run(tool, [...args]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `${tool} is not installed (apt-get install ${tool === 'gpg' ? 'gnupg' : tool === 'ssh-keygen' ? 'openssh-client' : 'git'})`;
    }
  }
  return undefined;
}

const missing = await missingTools();

describe('commit signatures end to end', { timeout: 180_000, skip: missing ? `commit signing tools missing: ${missing}` : false }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let keys: string;
  let gnupgHome: string;
  let alicePub: string;
  let malloryPub: string;
  let bobFingerprint: string;
  let aliceFingerprint: string;
  const servers: RunningServer[] = [];

  const env = () => ({
    ...process.env,
    GIT_AUTHOR_NAME: 'Fleet Admin',
    GIT_AUTHOR_EMAIL: 'admin@example.invalid',
    GIT_COMMITTER_NAME: 'Fleet Admin',
    GIT_COMMITTER_EMAIL: 'admin@example.invalid',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GNUPGHOME: gnupgHome,
  });
  const git = (cwd: string, args: string[]) => run('git', args, { cwd, env: env() }).then((r) => r.stdout.trim());

  type Signing = { ssh: string } | { openpgp: string } | 'unsigned';

  /** A repository the server reads in place (bare) and a clone that commits and pushes to it. */
  async function makeRepos(name: string): Promise<{ bare: string; clone: string }> {
    const bare = path.join(work.dir, `${name}.git`);
    const clone = path.join(work.dir, name);
    await git(work.dir, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
    await git(work.dir, ['clone', '--quiet', bare, clone]);
    await git(clone, ['checkout', '--quiet', '-B', 'main']);
    return { bare, clone };
  }

  async function commit(clone: string, signing: Signing, motd: string): Promise<string> {
    await writeTree(clone, testFleet({ motd }));
    await git(clone, ['add', '-A']);
    const sign =
      signing === 'unsigned'
        ? ['-c', 'commit.gpgSign=false']
        : 'ssh' in signing
          ? ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${signing.ssh}`, '-c', 'commit.gpgSign=true']
          : ['-c', 'gpg.format=openpgp', '-c', `user.signingKey=${signing.openpgp}`, '-c', 'commit.gpgSign=true'];
    await git(clone, [...sign, 'commit', '--quiet', '--allow-empty', '-m', `motd: ${motd}`]);
    return git(clone, ['rev-parse', 'HEAD']);
  }

  async function push(clone: string, server: RunningServer): Promise<void> {
    await git(clone, ['push', '--quiet', 'origin', 'main']);
    server.reconciler.enqueueSource();
  }

  const revisions = (server: RunningServer) => api<{ current: string | null; revisions: Revision[] }>(server, '/api/v1/revisions');
  const revisionOf = (server: RunningServer, oid: string) =>
    waitFor(`revision ${oid.slice(0, 8)} recorded`, async () => (await revisions(server)).revisions.find((r) => r.oid === oid));

  async function serve(name: string, bare: string, mode: 'head' | 'all'): Promise<RunningServer> {
    const commitVerification: ServerConfig['commitVerification'] = {
      mode,
      openpgpKeyFiles: [path.join(keys, 'bob.asc')],
      allowedSignersFile: path.join(keys, 'allowed_signers'),
    };
    const server = await startTestServer({ repo: bare, dataDir: path.join(work.dir, `server-${name}`), commitVerification });
    servers.push(server);
    return server;
  }

  before(async () => {
    work = await tempDir('deployx-e2e-sig-');
    keys = path.join(work.dir, 'keys');
    gnupgHome = path.join(work.dir, 'gnupg');
    await mkdir(keys, { recursive: true });
    await mkdir(gnupgHome, { recursive: true, mode: 0o700 });
    for (const who of ['alice', 'mallory']) {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${who}@example.invalid`, '-f', path.join(keys, who)]);
    }
    alicePub = path.join(keys, 'alice.pub');
    malloryPub = path.join(keys, 'mallory.pub');
    const [type, key] = (await readFile(alicePub, 'utf8')).trim().split(' ');
    // Only alice is trusted; mallory's key is well-formed but not in the file.
    await writeFile(path.join(keys, 'allowed_signers'), `# fleet maintainers\nalice@example.invalid namespaces="git" ${type} ${key}\n`);
    aliceFingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', alicePub])).stdout.split(' ')[1]!;

    await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'Bob Builder <bob@example.invalid>', 'ed25519', 'sign', 'never'], { env: env() });
    const listed = (await run('gpg', ['--batch', '--with-colons', '--list-keys', 'bob@example.invalid'], { env: env() })).stdout;
    bobFingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listed)![1]!;
    const armored = (await run('gpg', ['--batch', '--armor', '--export', bobFingerprint], { env: env() })).stdout;
    await writeFile(path.join(keys, 'bob.asc'), armored);
  });

  after(async () => {
    for (const server of servers) await server.close();
    await work?.remove();
  });

  test('under head: SSH- and OpenPGP-signed commits by trusted keys are accepted with their signer; unsigned and untrusted ones are rejected and the last good revision stays', async () => {
    const { bare, clone } = await makeRepos('head');
    const first = await commit(clone, { ssh: alicePub }, 'signed by alice');
    await git(clone, ['push', '--quiet', 'origin', 'main']);
    const server = await serve('head', bare, 'head');

    const accepted = await revisionOf(server, first);
    assert.equal(accepted.status, 'accepted', JSON.stringify(accepted.errors));
    assert.deepEqual(accepted.signer, { method: 'ssh', fingerprint: aliceFingerprint, identity: 'alice@example.invalid' });
    // The revision is recorded, then served: wait for it to be in force.
    await waitFor('the first revision in force', async () => (await revisions(server)).current === `main@sha1:${first}`);

    const unsigned = await commit(clone, 'unsigned', 'nobody signed this');
    await push(clone, server);
    const rejected = await revisionOf(server, unsigned);
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.errors[0]?.code, 'signature.unsigned');
    assert.match(rejected.errors[0]!.message, new RegExp(`${unsigned.slice(0, 12)} is not signed`));
    assert.equal(rejected.signer, undefined);
    assert.equal((await revisions(server)).current, `main@sha1:${first}`, 'the last good revision stays served');

    const untrusted = await commit(clone, { ssh: malloryPub }, 'signed by mallory');
    await push(clone, server);
    const refused = await revisionOf(server, untrusted);
    assert.equal(refused.status, 'rejected');
    assert.equal(refused.errors[0]?.code, 'signature.untrusted');
    assert.match(refused.errors[0]!.message, /SHA256:/, 'the error names the key that signed');
    assert.equal((await revisions(server)).current, `main@sha1:${first}`);

    const byBob = await commit(clone, { openpgp: bobFingerprint }, 'signed by bob');
    await push(clone, server);
    const pgp = await revisionOf(server, byBob);
    assert.equal(pgp.status, 'accepted', JSON.stringify(pgp.errors));
    assert.deepEqual(pgp.signer, { method: 'openpgp', fingerprint: bobFingerprint, identity: 'Bob Builder <bob@example.invalid>' });
    await waitFor('the OpenPGP-signed revision in force', async () => (await revisions(server)).current === `main@sha1:${byBob}`);

    // The server's plan API reports signatures with the server's keys.
    const plan = await api<{ notes: string[] }>(server, `/api/v1/plan?base=${first}&head=${untrusted}`);
    assert.ok(plan.notes.some((n) => n.includes(`✗ signature: commit ${untrusted.slice(0, 12)} is signed by SSH key`)), plan.notes.join('\n'));
  });

  test('under all: an unsigned commit in the middle of a push is rejected even when the head is signed', async () => {
    const { bare, clone } = await makeRepos('all');
    const first = await commit(clone, { ssh: alicePub }, 'one');
    await git(clone, ['push', '--quiet', 'origin', 'main']);
    const server = await serve('all', bare, 'all');
    assert.equal((await revisionOf(server, first)).status, 'accepted');
    await waitFor('the first revision in force', async () => (await revisions(server)).current === `main@sha1:${first}`);

    await commit(clone, { openpgp: bobFingerprint }, 'two');
    const middle = await commit(clone, 'unsigned', 'three');
    const head = await commit(clone, { ssh: alicePub }, 'four');
    await push(clone, server);
    const rejected = await revisionOf(server, head);
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.errors[0]?.code, 'signature.unsigned');
    assert.match(rejected.errors[0]!.message, new RegExp(middle.slice(0, 12)), 'the error names the unsigned commit, not the head');
    assert.equal((await revisions(server)).current, `main@sha1:${first}`, 'the last good revision stays served');

    // Signing again on top does not launder the unsigned commit: it is still between.
    const next = await commit(clone, { ssh: alicePub }, 'five');
    await push(clone, server);
    assert.equal((await revisionOf(server, next)).status, 'rejected');
    assert.equal((await revisions(server)).current, `main@sha1:${first}`);
  });
});
