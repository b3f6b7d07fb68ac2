// `deployx plan` on a real git repository holding the example fleet and a branch that changes it
// (reconciler/src/actions/test-plan-repo.ts), with the golden inventory file or a real server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseInventory } from '../../../reconciler/src/actions/plan-revision.ts';
import { FLEET_PATH, INVENTORY_FILE, makePlanRepo, type PlanRepo } from '../../../reconciler/src/actions/test-plan-repo.ts';
import { makeTempDir, removeDir, runGit, writeTree } from '../../../reconciler/src/edges/git/test-repo.ts';
import { startPlanServer } from '../../../reconciler/src/edges/http/test-plan-server.ts';
import type { CommandIo } from '../io.ts';
import { main } from '../main.ts';
import { runPlan } from './plan.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');
const GOLDEN = join(ROOT, 'reconciler', 'src', 'core', 'plan', 'golden');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node cli/bin/deployx.js plan …args` (an argument array, no shell) and collects its output.
 * Until `plan` is registered in cli/src/main.ts, runs `runPlan` in this process with a recording
 * CommandIo instead (same arguments, cwd and environment; output joined as the CLI writes it).
 */
async function deployxPlan(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  const env = { ...process.env, DEPLOYX_API_TOKEN: '', ...options.env };
  if (!(await registered)) {
    let stdout = '';
    let stderr = '';
    const io: CommandIo = { out: (line) => (stdout += `${line}\n`), err: (line) => (stderr += `${line}\n`), cwd: options.cwd };
    const code = await runPlan(args, io, env);
    return { code, stdout, stderr };
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'plan', ...args], { cwd: options.cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Whether `deployx plan` exists: its --help exits 0, an unknown command 2. */
const registered = main(['plan', '--help'], { out: () => {}, err: () => {}, cwd: ROOT }).then((code) => code === 0);

describe('deployx plan', { concurrency: true }, () => {
  let dir: string;
  let repo: PlanRepo;
  let invalidHead: string;
  const scratch: string[] = [];

  before(async () => {
    dir = await makeTempDir('deployx-plan-cli-');
    repo = await makePlanRepo(dir);
    // Two more branches off main: one whose head is invalid, and one whose base (main~) would be.
    await runGit(dir, ['checkout', '--quiet', '-b', 'broken', 'web-1.26']);
    await writeTree(dir, { [`${FLEET_PATH}/profiles/web-server.yaml`]: (await readFile(join(dir, FLEET_PATH, 'profiles/web-server.yaml'), 'utf8')).replace('targets:', 'targetz:') });
    await runGit(dir, ['commit', '--quiet', '--all', '--message', 'typo']);
    invalidHead = await runGit(dir, ['rev-parse', 'HEAD']);
    await runGit(dir, ['checkout', '--quiet', 'main']);
  });
  after(async () => {
    await Promise.all([dir, ...scratch].map(removeDir));
  });

  const golden = async (name: string) => readFile(join(GOLDEN, name), 'utf8');
  const args = (...more: string[]) => ['--repo', '.', '--path', FLEET_PATH, '--base', 'main', '--head', 'web-1.26', ...more];

  for (const [format, file] of [
    ['text', 'plan.txt'],
    ['markdown', 'plan.md'],
    ['json', 'plan.json'],
  ] as const) {
    it(`--format ${format} prints the golden plan (exit 0)`, async () => {
      const run = await deployxPlan(args('--inventory', INVENTORY_FILE, '--format', format), { cwd: dir });
      assert.equal(run.stderr, '');
      assert.equal(run.code, 0);
      assert.equal(run.stdout, await golden(file));
    });
  }

  it('takes the fleet root from the directory given as --repo', async () => {
    const run = await deployxPlan(['--repo', FLEET_PATH, '--base', 'main', '--head', repo.head, '--inventory', INVENTORY_FILE], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const expected = (await golden('plan.txt')).split('\n');
    const lines = run.stdout.split('\n');
    // Only the head's revision string (an oid, not a branch) and so the digest differ.
    assert.equal(lines[0], expected[0]!.replace(/web-1\.26@sha1:[0-9a-f]{40}$/, `sha1:${repo.head}`));
    assert.deepStrictEqual(lines.slice(1, -2), expected.slice(1, -2));
  });

  it('exits 1 with the errors of an invalid head, named from the cwd as deployx validate names them', async () => {
    const run = await deployxPlan(args('--inventory', INVENTORY_FILE).map((a) => (a === 'web-1.26' ? 'broken' : a)), { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^fleet-repo-example\/profiles\/web-server\.yaml:\d+:\d+: schema\.(unknown-key|required): /);
    assert.match(lines.at(-1)!, new RegExp(`^✗ \\d+ errors? in 1 file \\(broken@sha1:${invalidHead}, \\d+ documents\\): no plan$`));

    const json = await deployxPlan(args('--format', 'json').map((a) => (a === 'web-1.26' ? 'broken' : a)), { cwd: dir });
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as { valid: boolean; issues: Array<{ file: string; code: string }> };
    assert.equal(report.valid, false);
    assert.ok(report.issues.some((i) => i.file === 'fleet-repo-example/profiles/web-server.yaml'));
  });

  it('plans against an empty fleet when base is invalid, and says so', async () => {
    const run = await deployxPlan(['--repo', '.', '--path', FLEET_PATH, '--base', 'broken', '--head', 'web-1.26', '--inventory', INVENTORY_FILE], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: base broken@sha1:[0-9a-f]{40} is invalid \(\d+ errors?\); planned against an empty fleet/);
    assert.match(run.stdout, /^note: base broken@sha1:[0-9a-f]{40} is invalid \(\d+ errors?\): planned against an empty fleet/m);
    assert.match(run.stdout, /^ {4}\+ package\/nginx {2}manager apt, package nginx, version 1\.26\.\*$/m);
  });

  it('without an inventory, plans the declared devices and says none has reported', async () => {
    const run = await deployxPlan(args(), { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^note: no inventory given/m);
    assert.match(run.stdout, /^fleet: 15 devices \(0 online, 0 offline, 15 not enrolled\)$/m);
    assert.match(run.stdout, /^ {2}web-eu-01 {2}\(not enrolled: applies when it enrolls\)$/m);
    assert.match(run.stdout, /^ {4}~ package\/nginx {2}version 1\.24\.\* → 1\.26\.\* — waiting for the device to report its package manager$/m);
  });

  it('--server reads the inventory from a DeployX server with DEPLOYX_API_TOKEN', async () => {
    const inventory = parseInventory(JSON.parse(await readFile(INVENTORY_FILE, 'utf8')));
    const server = await startPlanServer({ repoDir: dir, fleetPath: FLEET_PATH, inventory, now: new Date('2024-01-02T03:05:00.000Z') });
    try {
      const run = await deployxPlan(args('--server', server.url), { cwd: dir, env: { DEPLOYX_API_TOKEN: server.token } });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, await golden('plan.txt'), 'the server exports the same inventory as the golden file');

      const refused = await deployxPlan(args('--server', server.url), { cwd: dir, env: { DEPLOYX_API_TOKEN: 'wrong' } });
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/inventory: HTTP 401 auth\.required/);
      assert.equal(refused.stdout, '');

      const tokenless = await deployxPlan(args('--server', server.url), { cwd: dir });
      assert.equal(tokenless.code, 2);
      assert.match(tokenless.stderr, /DEPLOYX_API_TOKEN/);
    } finally {
      await server.close();
    }
  });

  it('exits 2 on usage errors, in one line pointing at --help', async () => {
    for (const bad of [
      ['--repo', '.', '--base', 'main'],
      [...args('--inventory', INVENTORY_FILE, '--server', 'http://127.0.0.1:9')],
      [...args('--format', 'html')],
      [...args('--bogus')],
    ]) {
      const run = await deployxPlan(bad, { cwd: dir });
      assert.equal(run.code, 2, bad.join(' '));
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^deployx plan: .*\(see "deployx plan --help"\)\n$/);
    }
  });

  it('exits 2 on an inventory file that is not one, listing every problem by JSON path', async () => {
    const scratchDir = await makeTempDir('deployx-plan-inv-');
    scratch.push(scratchDir);
    const file = join(scratchDir, 'inventory.json');
    await writeFile(file, JSON.stringify({ exportedAt: 'yesterday', revision: null, devices: [{ id: 'a', online: 'yes' }, { id: 'a', online: true, labels: { x: 1 } }] }));
    const run = await deployxPlan(args('--inventory', file), { cwd: dir });
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.deepStrictEqual(run.stderr.trimEnd().split('\n').slice(1), [
      '  exportedAt must be an ISO 8601 time',
      '  devices[0].online must be true or false',
      '  devices[1].id "a" repeats devices[0]',
      '  devices[1].labels must be an object of strings',
    ]);
  });

  it('takes the revisions reviewers and CI write: HEAD~1, HEAD^2 on a merge, a tag, a short SHA, main...feature', async () => {
    // Its own repository: main moves on (a README commit), then merges web-1.26 with a merge commit.
    const own = await makeTempDir('deployx-plan-revs-');
    scratch.push(own);
    const planned = await makePlanRepo(own);
    await runGit(own, ['tag', '--annotate', 'v1', '--message', 'the fleet before nginx 1.26', planned.base]);
    await writeFile(join(own, 'README.md'), '# infrastructure\n\nMain moved on.\n');
    await runGit(own, ['commit', '--quiet', '--all', '--message', 'readme']);
    const moved = await runGit(own, ['rev-parse', 'HEAD']);
    await runGit(own, ['merge', '--quiet', '--no-ff', '--no-edit', 'web-1.26']);
    const merge = await runGit(own, ['rev-parse', 'HEAD']);
    const expected = (await golden('plan.txt')).split('\n');
    const plan = async (base: string, head: string | undefined, baseOid: string, headOid: string) => {
      const run = await deployxPlan(['--repo', '.', '--path', FLEET_PATH, '--base', base, ...(head ? ['--head', head] : []), '--inventory', INVENTORY_FILE], { cwd: own });
      const what = `--base ${base} --head ${head ?? '(none)'}`;
      assert.equal(run.code, 0, `${what}: ${run.stderr}`);
      const lines = run.stdout.split('\n');
      assert.match(lines[0]!, new RegExp(`^deployx plan  (\\S+@)?sha1:${baseOid} → (\\S+@)?sha1:${headOid}$`), what);
      // The same change as the golden plan: only revision strings and the digest differ.
      assert.deepStrictEqual(lines.slice(1, -2), expected.slice(1, -2), what);
    };
    await plan('HEAD~1', 'HEAD^2', moved, planned.head); // HEAD is the merge: ~1 = main before it, ^2 = web-1.26
    await plan('HEAD^^', 'web-1.26', planned.base, planned.head); // the merge's first parent's parent
    await plan(`${merge.slice(0, 7)}~2`, `${planned.head.slice(0, 8)}`, planned.base, planned.head);
    await plan('v1', 'web-1.26', planned.base, planned.head); // an annotated tag, peeled
    await plan('v1^0', 'HEAD^2', planned.base, planned.head);
    await plan(`${moved.slice(0, 10)}...web-1.26`, 'web-1.26', planned.base, planned.head); // the merge base
    await plan('main~1...web-1.26', undefined, planned.base, planned.head); // head: the right side

    for (const [base, why] of [
      ['HEAD~40', /HEAD~40 names no commit: its first-parent line ends at the root commit/],
      ['HEAD~1^2', /HEAD~1\^2 names no commit: [0-9a-f]{12} has 1 parent, not a parent 2/],
      ['HEAD~x', /"HEAD~x" is not a valid ref name/],
      ['main..web-1.26', /"main\.\.web-1\.26" is not a valid ref name/],
    ] as const) {
      const run = await deployxPlan(['--repo', '.', '--path', FLEET_PATH, '--base', base, '--head', 'main', '--inventory', INVENTORY_FILE], { cwd: own });
      assert.equal(run.code, 2, base);
      assert.match(run.stderr, why, base);
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line: ${run.stderr}`);
    }
  });

  it('exits 2 when a ref does not resolve or the directory is not a repository', async () => {
    const unknown = await deployxPlan(args().map((a) => (a === 'web-1.26' ? 'no-such-branch' : a)), { cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no-such-branch.*\(revision\.ref-not-found\)/);

    const scratchDir = await makeTempDir('deployx-plan-norepo-');
    scratch.push(scratchDir);
    const norepo = await deployxPlan(['--repo', scratchDir, '--base', 'main', '--head', 'main'], { cwd: dir });
    assert.equal(norepo.code, 2);
    assert.match(norepo.stderr, /is not inside a Git repository/);
  });
});
