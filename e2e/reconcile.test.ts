// End to end: a bare repository served over smart HTTP by git http-backend, commits pushed with
// the git CLI, the push webhook, the reconciler, and three real agent processes each confined to
// its own --root. Asserts on what is on disk and in the store, never on calls.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createBareRepo, startGitHttpServer, type GitHttpServer } from '../reconciler/src/edges/git/test-git-server.ts';
import { writeTree } from '../reconciler/src/edges/git/test-repo.ts';
import { hubSignature256 } from '../reconciler/src/edges/http/webhooks.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet, type TestFleetOptions } from './fleet.ts';
import { api, spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';

const run = promisify(execFile);
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Fleet Admin',
  GIT_AUTHOR_EMAIL: 'admin@example.invalid',
  GIT_COMMITTER_NAME: 'Fleet Admin',
  GIT_COMMITTER_EMAIL: 'admin@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};
const SECRET = 'e2e-webhook-secret';
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

interface Revision {
  revision: string;
  oid: string;
  status: 'accepted' | 'rejected';
  errors: Array<{ code: string; file: string; line: number }>;
}
interface Job {
  id: string;
  deviceId: string;
  state: string;
  revision: string;
}

describe('reconcile loop end to end', { timeout: 240_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let git: GitHttpServer;
  let server: RunningServer;
  let clone: string;
  const agents: AgentProcess[] = [];
  const roots: string[] = [];

  async function push(options: TestFleetOptions, message: string): Promise<string> {
    await writeTree(clone, testFleet(options));
    await run('git', ['add', '-A'], { cwd: clone, env: GIT_ENV });
    await run('git', ['commit', '--quiet', '--allow-empty', '-m', message], { cwd: clone, env: GIT_ENV });
    await run('git', ['push', '--quiet', 'origin', 'main'], { cwd: clone, env: GIT_ENV });
    const { stdout } = await run('git', ['rev-parse', 'HEAD'], { cwd: clone, env: GIT_ENV });
    const oid = stdout.trim();
    const body = JSON.stringify({ ref: 'refs/heads/main', after: oid, repository: { full_name: 'corp/fleet' } });
    const res = await fetch(`${server.url}/api/v1/webhooks/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': hubSignature256(SECRET, Buffer.from(body)) },
      body,
    });
    assert.equal(res.status, 202, 'the webhook is accepted');
    return oid;
  }

  const revisions = () => api<{ current: string | null; revisions: Revision[] }>(server, '/api/v1/revisions');
  const jobs = () => api<{ jobs: Job[] }>(server, '/api/v1/jobs?limit=1000').then((r) => r.jobs);
  const fileIn = (root: string, p: string) => readFile(path.join(root, p));

  /** Every agent holds these bytes at /etc/e2e/app.conf. */
  async function converged(appConf: string, what: string): Promise<void> {
    await waitFor(`agents converged to ${what}`, async () => {
      for (const root of roots) {
        const bytes = await fileIn(root, 'etc/e2e/app.conf').catch(() => undefined);
        if (!bytes || bytes.toString() !== appConf) return false;
      }
      const open = (await jobs()).filter((j) => ['pending', 'dispatched', 'running'].includes(j.state));
      return open.length === 0;
    }, 60_000);
  }

  before(async () => {
    work = await tempDir('deployx-e2e-');
    git = await startGitHttpServer({ projectRoot: path.join(work.dir, 'git') });
    await createBareRepo(path.join(work.dir, 'git'), 'fleet.git');
    clone = path.join(work.dir, 'clone');
    await run('git', ['clone', '--quiet', `${git.url}/fleet.git`, clone], { env: GIT_ENV });
    await run('git', ['checkout', '--quiet', '-b', 'main'], { cwd: clone, env: GIT_ENV });
    await writeTree(clone, testFleet());
    await run('git', ['add', '-A'], { cwd: clone, env: GIT_ENV });
    await run('git', ['commit', '--quiet', '-m', 'Initial fleet'], { cwd: clone, env: GIT_ENV });
    await run('git', ['push', '--quiet', 'origin', 'main'], { cwd: clone, env: GIT_ENV });

    server = await startTestServer({ repo: `${git.url}/fleet.git`, dataDir: path.join(work.dir, 'server'), webhookSecret: SECRET });
    await waitFor('the first revision', async () => (await revisions()).current);
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'e2e', labels: { role: 'web' }, maxUses: 3 });
    for (let i = 0; i < 3; i++) {
      const root = path.join(work.dir, `device-${i}`);
      roots.push(root);
      agents.push(await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, `state-${i}`), root }));
    }
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.kill()));
    await server?.close();
    await git?.close();
    await work?.remove();
  });

  test('three agents enroll and converge to the first commit', async () => {
    await converged('listen = 8080\nworkers = 4\n', 'the first commit');
    for (const root of roots) {
      const motd = await fileIn(root, 'etc/e2e/motd');
      assert.equal(motd.toString(), 'Managed by DeployX\n');
      assert.equal((await stat(path.join(root, 'etc/e2e/app.conf'))).mode & 0o777, 0o640);
      assert.match((await fileIn(root, 'var/lib/e2e/marker')).toString(), /^ran 2\n$/, 'the script ran once, after the files');
    }
    const all = await jobs();
    assert.equal(all.length, 3, 'one job per device');
    assert.ok(all.every((j) => j.state === 'succeeded'));
  });

  test('a pushed commit reaches every agent through the webhook', async () => {
    const content = 'listen = 9090\nworkers = 8\nkeepalive = on\n';
    const oid = await push({ appConf: content }, 'Bigger workers');
    await converged(content, oid);
    for (const root of roots) {
      const bytes = await fileIn(root, 'etc/e2e/app.conf');
      assert.equal(sha256(bytes), sha256(content), 'the SHA-256 on disk is the committed one');
    }
    const { current } = await revisions();
    assert.equal(current, `main@sha1:${oid}`);
    const latest = (await jobs()).filter((j) => j.revision === current);
    assert.equal(latest.length, 3);
    assert.ok(latest.every((j) => j.state === 'succeeded'));
  });

  test('a commit with a schema error is rejected with file and line; agents are untouched; the next good commit applies', async () => {
    const before = (await jobs()).length;
    const bad = await push({ appConf: 'should never arrive\n', schemaError: true }, 'Typo');
    const rejected = await waitFor('the rejected revision', async () => (await revisions()).revisions.find((r) => r.oid === bad));
    assert.equal(rejected.status, 'rejected');
    assert.deepEqual(
      rejected.errors.map((e) => [e.code, e.file, e.line]),
      [['schema.unknown-key', 'profiles.yaml', 10]],
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await jobs()).length, before, 'no job for a rejected revision');
    for (const root of roots) assert.notEqual((await fileIn(root, 'etc/e2e/app.conf')).toString(), 'should never arrive\n');
    assert.notEqual((await revisions()).current, `main@sha1:${bad}`, 'the last accepted revision stays in force');

    const fixed = 'listen = 9090\nworkers = 16\n';
    const good = await push({ appConf: fixed }, 'Fix the typo');
    await converged(fixed, good);
  });

  test('a managed file edited by hand is restored under drift: enforce and only reported under drift: report', async () => {
    const content = 'listen = 9090\nworkers = 16\n';
    const target = path.join(roots[0]!, 'etc/e2e/app.conf');
    await writeFile(target, 'edited by hand\n');
    await waitFor('the drifted file restored', async () => (await readFile(target, 'utf8')) === content, 30_000);

    const oid = await push({ appConf: content, drift: 'report' }, 'Report drift only');
    await waitFor('drift: report in force', async () => (await revisions()).current === `main@sha1:${oid}`);
    await converged(content, oid);
    await writeFile(target, 'edited again\n');
    const device = await waitFor('the drift reported', async () => {
      const list = await api<{ devices: Array<{ id: string; state: string }> }>(server, '/api/v1/devices');
      return list.devices.find((d) => d.state === 'drifted');
    }, 30_000);
    const detail = await api<{ changes: Array<{ key: string; drift: boolean; reportOnly: boolean }> }>(server, `/api/v1/devices/${device.id}`);
    assert.ok(detail.changes.some((c) => c.key === 'file//etc/e2e/app.conf' && c.drift && c.reportOnly));
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await readFile(target, 'utf8'), 'edited again\n', 'drift: report leaves the edit in place');
  });
});
