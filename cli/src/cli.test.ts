// The CLI as a new user meets it (issue 13 item 4): every command and subcommand answers --help
// with exit 0; a bad invocation is one line (what, why, what to do) with exit 1 or 2, never a
// stack trace or SQL; commands find the running server. Real `node cli/bin/deployx.js` processes,
// a real `deployx serve` on a temp Git repository and a real SQLite data dir.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, removeDir, runGit } from '../../reconciler/src/edges/git/test-repo.ts';
import { openSqliteStore } from '../../reconciler/src/edges/store/sqlite-store.ts';
import { hashSecret } from '../../reconciler/src/edges/transport/agent-gateway.ts';
import { parseEnrollmentToken } from '../../schemas/enrollment-token.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function deployx(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, DEPLOYX_TOKEN: '', DEPLOYX_API_TOKEN: '', ...options.env }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

/** One line on stderr, nothing on stdout, no stack frame, no SQL. */
function assertOneLineError(run: Run, code: number, pattern: RegExp, what: string): void {
  assert.equal(run.code, code, `${what}: exit ${run.code}\n${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got:\n${run.stderr}`);
  assert.match(lines[0]!, pattern, what);
  assert.doesNotMatch(run.stderr, /\n\s+at |SQLITE|INSERT INTO|SELECT /, what);
}

const SUBCOMMANDS: Record<string, string[]> = {
  validate: [],
  plan: [],
  rollout: ['list', 'show', 'promote', 'pause', 'resume', 'start-now'],
  serve: [],
  device: ['list', 'approve', 'reject', 'provision'],
  token: ['create', 'list', 'revoke'],
  user: ['create', 'list', 'delete'],
  audit: ['verify', 'list'],
  keys: ['show', 'rotate'],
  agent: [],
  simulate: [],
  demo: [],
};

/** Runs `work` over `items`, three processes at a time: the suite runs beside other tests on two cores. */
async function inPool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all([worker(), worker(), worker()]);
}

describe('the deployx CLI', () => {
  let dir: string;
  let runtime: string;
  let server: ChildProcess | undefined;
  let url = '';
  let dataDir = '';

  before(async () => {
    dir = await makeTempDir('deployx-cli-');
    // The servers this test starts announce themselves here, and only here.
    runtime = join(dir, 'runtime');
    await cp(join(ROOT, 'fleet-repo-example'), join(dir, 'repo'), { recursive: true });
    await runGit(join(dir, 'repo'), ['init', '--quiet', '--initial-branch=main']);
    await runGit(join(dir, 'repo'), ['add', '-A']);
    await runGit(join(dir, 'repo'), ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '--quiet', '-m', 'fleet']);
    dataDir = join(dir, 'data');
    server = spawn(process.execPath, [CLI, 'serve', '--repo', join(dir, 'repo'), '--data', dataDir, '--port', '0', '--host', '127.0.0.1'], {
      env: { ...process.env, DEPLOYX_RUNTIME_DIR: runtime, DEPLOYX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    url = await new Promise<string>((resolve, reject) => {
      server!.once('exit', (code) => reject(new Error(`deployx serve exited ${code}`)));
      createInterface({ input: server!.stdout! }).on('line', (line) => {
        const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match) resolve(match[1]!);
      });
    });
  });
  after(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    await removeDir(dir);
  });

  it('answers --help for every command and subcommand, exit 0, on stdout', async () => {
    const invocations: string[][] = [];
    for (const [command, subs] of Object.entries(SUBCOMMANDS)) {
      invocations.push([command, '--help'], [command, '-h'], ...subs.map((sub) => [command, sub, '--help']));
    }
    await inPool(invocations, async (args) => {
      const run = await deployx(args);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage: deployx ${args[0]}`), args.join(' '));
      assert.equal(run.stderr, '', args.join(' '));
    });
    const top = await deployx(['--help']);
    assert.equal(top.code, 0);
    for (const command of Object.keys(SUBCOMMANDS)) assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'));
  });

  it('an unknown option or command is one line naming it and where help is, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['demo', '--bogus'], /^deployx demo: Unknown option '--bogus'.*\(see "deployx demo --help"\)$/],
      [['serve', '--bogus'], /^deployx serve: Unknown option '--bogus'.*\(see "deployx serve --help"\)$/],
      [['token', 'create', '--bogus'], /^deployx token: Unknown option '--bogus'.*deployx token --help/],
      [['user', 'list', '--bogus'], /^deployx user: Unknown option '--bogus'/],
      [['validate', '--bogus'], /^deployx validate: Unknown option '--bogus'/],
      [['plan', '--bogus'], /^deployx plan: Unknown option '--bogus'/],
      [['keys', 'show', '--bogus'], /^deployx keys: Unknown option '--bogus'/],
      [['audit', 'list', '--bogus'], /^deployx audit: Unknown option '--bogus'/],
      [['rollout', 'list', '--bogus'], /^deployx rollout: Unknown option '--bogus'/],
      [['device', 'list', '--bogus'], /^deployx device: Unknown option '--bogus'/],
      [['agent', '--bogus'], /^deployx agent: Unknown option '--bogus'/],
      [['simulate', '--bogus'], /^deployx simulate: Unknown option '--bogus'/],
      [['frobnicate'], /^deployx: unknown command "frobnicate" \(see "deployx --help" for the commands\)$/],
      [['token', 'frobnicate', '--data', join(dir ?? '', 'scratch')], /^deployx token: unknown subcommand "frobnicate"/],
    ];
    await inPool(cases, async ([args, pattern]) => assertOneLineError(await deployx(args, { env: { DEPLOYX_RUNTIME_DIR: join(dir, 'none') } }), 2, pattern, args.join(' ')));
  });

  it('a missing argument is one line, exit 2', async () => {
    const env = { DEPLOYX_RUNTIME_DIR: join(dir, 'none') };
    const data = ['--data', join(dir, 'scratch')];
    const cases: Array<[string[], RegExp]> = [
      [['token', 'revoke', ...data], /^deployx token: revoke needs a token ID/],
      [['token', 'create', ...data], /^deployx token: --name is required/],
      [['user', 'create', '--name', 'ada', ...data], /^deployx user: --name and --role are required/],
      [['rollout', 'show', '--server', 'http://127.0.0.1:9'], /^deployx rollout: show needs a rollout ID/],
      [['rollout', 'list'], /^deployx rollout: no server given and none running here: give --server URL/],
      [['device', 'list'], /^deployx device: no server given and none running here/],
      [['plan', '--repo', '.'], /^deployx plan: --base is required/],
      [['serve'], /^deployx serve: .*--repo/],
    ];
    await inPool(cases, async ([args, pattern]) => assertOneLineError(await deployx(args, { env, cwd: dir }), 2, pattern, args.join(' ')));
  });

  it('a busy port says so and how to pick another, exit 1; --debug adds the stack', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const serve = await deployx(['serve', '--repo', join(dir, 'repo'), '--data', join(dir, 'busy-data'), '--port', String(port), '--host', '127.0.0.1'], { env: { DEPLOYX_RUNTIME_DIR: join(dir, 'none'), DEPLOYX_LOG_LEVEL: 'warn' } });
      assertOneLineError(serve, 1, new RegExp(`^deployx serve: port ${port} is in use by another program; stop it, or pick another port with --port$`), 'serve on a busy port');
      // --debug adds the stack after the same line.
      const debug = await deployx(['serve', '--repo', join(dir, 'repo'), '--data', join(dir, 'busy-data'), '--port', String(port), '--host', '127.0.0.1', '--debug'], { env: { DEPLOYX_RUNTIME_DIR: join(dir, 'none'), DEPLOYX_LOG_LEVEL: 'warn' } });
      assert.equal(debug.code, 1);
      assert.match(debug.stderr, new RegExp(`^deployx serve: port ${port} is in use by another program; stop it, or pick another port with --port\n(Error: )?.*EADDRINUSE[^]*\\n\\s+at `));
      const demo = await deployx(['demo', '--port', String(port), '--dir', join(dir, 'demo'), '--no-agent'], { env: { DEPLOYX_RUNTIME_DIR: join(dir, 'none'), DEPLOYX_LOG_LEVEL: 'warn' } });
      assertOneLineError(demo, 1, new RegExp(`^deployx demo: port ${port} is in use`), 'demo on a busy port');
    } finally {
      blocker.close();
    }
  });

  it('a server whose dashboard is not built says so in words at /, and how to build it', async () => {
    const empty = join(dir, 'no-dashboard');
    const child = spawn(process.execPath, [CLI, 'serve', '--repo', join(dir, 'repo'), '--data', join(dir, 'data-2'), '--port', '0', '--host', '127.0.0.1'], {
      env: { ...process.env, DEPLOYX_RUNTIME_DIR: join(dir, 'none'), DEPLOYX_LOG_LEVEL: 'warn', DEPLOYX_DASHBOARD_DIR: empty },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`deployx serve exited ${code}`)));
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (match) resolve(match[1]!);
        });
      });
      const res = await fetch(`${base}/`);
      assert.equal(res.status, 503);
      assert.equal(await res.text(), 'The DeployX dashboard is not built. Run "npm run build" where DeployX is installed (npm install runs it too), then reload.\n');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('a duplicate user is one line with what to do, exit 1, and no SQL', async () => {
    const data = ['--data', join(dir, 'users')];
    assert.equal((await deployx(['user', 'create', '--name', 'ada', '--role', 'viewer', ...data], { input: 'a long enough password\n' })).code, 0);
    const again = await deployx(['user', 'create', '--name', 'ada', '--role', 'admin', ...data], { input: 'a long enough password\n' });
    assertOneLineError(again, 1, /^deployx user: a user named ada exists; add --reset to change its role and password$/, 'duplicate user');
    const nobody = await deployx(['user', 'delete', 'nobody', ...data]);
    assert.ok(nobody.code === 0 || nobody.code === 1, nobody.stderr);
    assert.doesNotMatch(nobody.stderr, /SQLITE|DELETE FROM|\n\s+at /);
  });

  it('a wrong token is one line naming the refusal, exit 1 or 2', async () => {
    const run = await deployx(['rollout', 'list', '--server', url], { env: { DEPLOYX_TOKEN: 'dxa_wrong', DEPLOYX_RUNTIME_DIR: runtime } });
    assert.ok(run.code === 1 || run.code === 2, run.stderr);
    assertOneLineError(run, run.code, /^deployx rollout list: .*auth\./, 'wrong token');
  });

  it('token, user and rollout find the running server when given neither --data nor --server, and say so', async () => {
    const env = { DEPLOYX_RUNTIME_DIR: runtime };
    const created = await deployx(['token', 'create', '--name', 'found'], { env, cwd: dir });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, new RegExp(`^deployx token: using the data dir of the server running at ${url} \\(pid ${server!.pid}\\): ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const listed = await deployx(['token', 'list', '--data', dataDir], { cwd: dir });
    assert.match(listed.stdout, /enroll\s+found\s+active/);

    const rollouts = await deployx(['rollout', 'list'], { env, cwd: dir });
    assert.equal(rollouts.code, 0, rollouts.stderr);
    assert.match(rollouts.stderr, new RegExp(`using the server running at ${url}`));
    const byData = await deployx(['device', 'list', '--data', dataDir], { env, cwd: dir });
    assert.equal(byData.code, 0, byData.stderr);

    // A token whose uses are spent is listed as used up, not active.
    const once = await deployx(['token', 'create', '--name', 'once', '--max-uses', '1', '--data', dataDir], { cwd: dir });
    assert.equal(once.code, 0, once.stderr);
    const store = await openSqliteStore({ file: join(dataDir, 'deployx.sqlite') });
    try {
      const { secret } = parseEnrollmentToken(once.stdout.trim());
      assert.equal((await store.consumeEnrollmentToken(hashSecret(secret), new Date().toISOString())).ok, true);
    } finally {
      await store.close();
    }
    const spent = await deployx(['token', 'list', '--data', dataDir], { cwd: dir });
    assert.match(spent.stdout, /enroll\s+once\s+used up\s+uses 1\/1/);

    // Revoking an id that is no token says so.
    assertOneLineError(await deployx(['token', 'revoke', 'no-such-id', '--data', dataDir], { cwd: dir }), 1, /^deployx token: no token has the id no-such-id; "deployx token list" shows them$/, 'revoke unknown');
  });
});
