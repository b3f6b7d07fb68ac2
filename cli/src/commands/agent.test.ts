// `deployx agent` and `deployx simulate` as users run them: the real CLI in child processes
// (an argument array, no shell) against the recording protocol server of agent/src/test-support.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import type { Job } from '../../../schemas/protocol.ts';
import { startProtocolServer } from '../../../agent/src/test-support/protocol-server.ts';
import { pinnedToken, TEST_SERVER_KEY } from '../../../agent/src/test-support/server-key.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');
const TOKEN = pinnedToken('cli-token-0123456789');

/** The child's environment: no token from the developer's shell unless a test adds one. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('DEPLOYX_ENROLLMENT_TOKEN' in extra)) delete env.DEPLOYX_ENROLLMENT_TOKEN;
  return env;
}

function deployx(args: string[], env = childEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

interface Running {
  child: ChildProcess;
  stdout: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env = childEnv()): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter((l) => l !== '')));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stdout.push(`stderr: ${chunk}`));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout, exited };
}

let dir: string;
let registered = true;
before(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-cli-agent-')));
  // cli/src/main.ts registers the commands; until it does, these tests have nothing to run.
  const probe = await deployx(['agent', '--help']);
  registered = probe.code === 0;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deployx agent', () => {
  it('a job interrupted by SIGKILL is resumed after restart, its script waited for (not re-run), its result delivered exactly once', async (t) => {
    if (!registered) return t.skip('the agent command is not registered in cli/src/main.ts yet');
    const server = await startProtocolServer({ tokens: [TOKEN], redispatchOnConnect: true });
    t.after(() => server.close());
    const stateDir = join(dir, 'kill-state');
    const root = join(dir, 'kill-root');
    const args = ['agent', '--server', server.url, '--state', stateDir, '--root', root, '--heartbeat', '60s', '--labels', 'role=web'];

    // First start: the token comes from the environment.
    const first = start(args, childEnv({ DEPLOYX_ENROLLMENT_TOKEN: TOKEN }));
    t.after(() => first.child.kill('SIGKILL'));
    await server.waitFor(() => server.reports.length >= 1, 20_000, 'the first report');
    const deviceId = server.enrollments[0]!.deviceId;

    // Long enough that the killed agent's script is certainly still running when the restarted
    // agent comes up, even on a loaded 2-core machine (tsx start-up alone can take seconds).
    const body = Buffer.from('echo start >> "$DEPLOYX_ROOT/runs.log"\nsleep 10\necho end >> "$DEPLOYX_ROOT/runs.log"\n');
    const sha256 = createHash('sha256').update(body).digest('hex');
    server.blobs.set(sha256, body);
    const job: Job = {
      id: 'job-kill',
      deviceId,
      revision: 'main@sha1:c0ffee',
      idempotencyKey: 'key-kill',
      steps: [{ action: 'script.run', key: 'script/slow', interpreter: 'sh', sha256, run: 'always', timeoutSeconds: 60, successExitCodes: [0] }],
      createdAt: '2025-01-01T00:00:00Z',
    };
    assert.deepEqual(await server.dispatch(job), { ok: true });
    await server.waitFor(() => server.progress.some((p) => p.progress.status === 'running'), 10_000, 'the job to start');
    await server.waitFor(() => server.blobRequests.length === 1, 5_000, 'the script body download');
    // Kill only once the agent has recorded its child: a crash between spawning a process and
    // recording it (a few ms) is the one window in which an orphan cannot be found later.
    const recorded = async () => {
      const text = await readFile(join(stateDir, 'children.json'), 'utf8').catch(() => '{}');
      return ((JSON.parse(text) as { children?: unknown[] }).children ?? []).length > 0;
    };
    for (let i = 0; i < 100 && !(await recorded()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(await recorded(), 'the running script is recorded in children.json');
    first.child.kill('SIGKILL');
    assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
    assert.equal(server.resultEvents.length, 0);

    // Restart without any token: the stored credential; the journal says the job was interrupted.
    const second = start(args);
    t.after(() => second.child.kill('SIGKILL'));
    await server.waitFor(() => server.results.has('key-kill'), 45_000, 'the result after restart');
    await new Promise((resolve) => setTimeout(resolve, 500));

    const deliveries = server.resultEvents.filter((e) => e.result.idempotencyKey === 'key-kill');
    assert.equal(deliveries.length, 1, 'delivered exactly once');
    assert.equal(deliveries[0]!.result.status, 'succeeded');
    assert.deepEqual(
      server.handshakes.map((h) => [h.kind, h.accepted, h.deviceId]),
      [
        ['enrollment', true, deviceId],
        ['credential', true, deviceId],
      ],
    );
    // The dead agent's script (its own process group) outlived it: the restarted agent waited for
    // it and reported its exit instead of running it again — one start, one end (issue 11 item 1).
    const runs = await readFile(join(root, 'runs.log'), 'utf8');
    assert.deepEqual(runs.split('\n').filter((l) => l !== ''), ['start', 'end'], `runs.log: ${JSON.stringify(runs)}; agent log: ${second.stdout.join('\n')}`);
    assert.equal(second.stdout.filter((l) => l.includes('"msg":"killed a process group left running by a previous run"')).length, 0, second.stdout.join('\n'));

    // SIGTERM: a clean stop, exit 0.
    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    const logs = [...first.stdout, ...second.stdout].join('\n');
    assert.doesNotMatch(logs, new RegExp(TOKEN));
    const { privateKey } = JSON.parse(await readFile(join(stateDir, 'credential.json'), 'utf8')) as { privateKey: string };
    for (const line of privateKey.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'))) {
      assert.ok(!logs.includes(line), 'the device key is never logged');
    }
    assert.ok(
      [...first.stdout, ...second.stdout].every((l) => l.startsWith('stderr:') || typeof JSON.parse(l).msg === 'string'),
      'stdout is JSON lines',
    );
  });

  it('exits 3 when the server refuses the credential and there is no token', async (t) => {
    if (!registered) return t.skip('the agent command is not registered in cli/src/main.ts yet');
    const server = await startProtocolServer({ tokens: [TOKEN] });
    t.after(() => server.close());
    const stateDir = join(dir, 'refused-state');
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'credential.json'), JSON.stringify({ deviceId: 'dev-gone', credential: 'revoked-credential' }), { mode: 0o600 });
    await writeFile(join(stateDir, 'server-keys.json'), JSON.stringify({ keys: [{ keyid: TEST_SERVER_KEY.keyid }] }), { mode: 0o600 });
    const run = await deployx(['agent', '--server', server.url, '--state', stateDir]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /transport\.refused/);
    assert.doesNotMatch(run.stdout + run.stderr, /revoked-credential/);
  });

  it('exits 2 on usage errors', async (t) => {
    if (!registered) return t.skip('the agent command is not registered in cli/src/main.ts yet');
    const missing = await deployx(['agent']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--server URL is required/);
    const labels = await deployx(['agent', '--server', 'http://127.0.0.1:1', '--labels', 'no-equals-sign']);
    assert.equal(labels.code, 2);
    assert.match(labels.stderr, /--labels/);
  });
});

describe('deployx simulate', () => {
  it('runs N devices for --duration, enrolling each, and exits 0', async (t) => {
    if (!registered) return t.skip('the simulate command is not registered in cli/src/main.ts yet');
    const server = await startProtocolServer({ tokens: [TOKEN] });
    t.after(() => server.close());
    const stateDir = join(dir, 'sim-state');
    const run = await deployx([
      'simulate', '--server', server.url, '--agents', '5', '--token', TOKEN, '--state', stateDir,
      '--labels', 'role=desktop', '--duration', '1500ms', '--stats-every', '0s',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.enrollments.length, 5);
    assert.ok(server.enrollments.every((e) => e.facts.os?.family === 'windows'));
    const stopped = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)).find((l) => l.msg === 'simulator stopped');
    assert.equal(stopped.enrolled, 5);
    const stored = JSON.parse(await readFile(join(stateDir, 'simulator-credentials.json'), 'utf8'));
    assert.equal(Object.keys(stored.devices).length, 5);
  });
});
