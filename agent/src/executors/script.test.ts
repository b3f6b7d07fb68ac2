import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Interpreter, RunPolicy } from '../../../schemas/kinds.ts';
import type { Step } from '../../../schemas/protocol.ts';
import { isAgentError } from '../errors.ts';
import { exec } from '../system/exec.ts';
import { createExecContext, type ExecContext } from './context.ts';
import { decideRun, runScript } from './script.ts';

type Script = Extract<Step, { action: 'script.run' }>;

let root: string;
let stateDir: string;
let blobs: Map<string, Uint8Array>;
let clock: Date;

function context(overrides: Partial<ExecContext> = {}): ExecContext {
  return createExecContext({
    exec,
    root,
    stateDir,
    now: () => clock,
    // The real PATH: python3 may live outside the standard directories (pyenv).
    scriptEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    fetchBlob: async (hash) => {
      const blob = blobs.get(hash);
      if (!blob) throw new Error(`404 ${hash}`);
      return blob;
    },
    ...overrides,
  });
}

function script(body: string, extra: Partial<Script> = {}): Script {
  const bytes = Buffer.from(body);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return {
    action: 'script.run',
    key: 'script/test',
    interpreter: 'sh',
    sha256,
    run: 'always',
    timeoutSeconds: 30,
    successExitCodes: [0],
    ...extra,
  };
}

/** Appends a line to $DEPLOYX_ROOT/runs.log: how many times a body really ran. */
const COUNTING = 'echo run >> "$DEPLOYX_ROOT/runs.log"\n';
async function runs(): Promise<number> {
  const text = await readFile(path.join(root, 'runs.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l === 'run').length;
}

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-script-root-')));
  stateDir = await mkdtemp(path.join(os.tmpdir(), 'deployx-script-state-'));
  blobs = new Map();
  clock = new Date('2025-01-01T00:00:00Z');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

describe('script.run', () => {
  it('runs the body under the sandbox root and reports it', async () => {
    const outcome = await runScript(script('echo "hello from $(pwd)"; mkdir -p "$DEPLOYX_ROOT/etc"; echo ok > "$DEPLOYX_ROOT/etc/done"\n'), context());
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.output, `hello from ${root}`);
    assert.equal(await readFile(path.join(root, 'etc/done'), 'utf8'), 'ok\n');
    assert.equal(outcome.observed?.type, 'script');
    assert.deepEqual(outcome.observed, {
      key: 'script/test',
      type: 'script',
      appliedSha256: script('echo "hello from $(pwd)"; mkdir -p "$DEPLOYX_ROOT/etc"; echo ok > "$DEPLOYX_ROOT/etc/done"\n').sha256,
      lastRunAt: clock.toISOString(),
      lastExitCode: 0,
    });
    assert.deepEqual(await readdir(path.join(stateDir, 'tmp')), [], 'the temp script file is removed');
  });

  const interpreters: Array<[Interpreter, string]> = [
    ['bash', 'declare -a xs=(a b c); echo "${#xs[@]}" >> "$DEPLOYX_ROOT/out"\n'],
    ['python', 'import os\nopen(os.path.join(os.environ["DEPLOYX_ROOT"], "out"), "a").write("3\\n")\n'],
  ];
  for (const [interpreter, body] of interpreters) {
    it(`runs ${interpreter}`, async () => {
      const outcome = await runScript(script(body, { interpreter }), context());
      assert.equal(outcome.status, 'succeeded', outcome.output);
      assert.equal(await readFile(path.join(root, 'out'), 'utf8'), '3\n');
    });
  }

  it('gives scripts only PATH, the step env and DEPLOYX_ROOT', async () => {
    const outcome = await runScript(
      script('env | cut -d= -f1 | sort | tr "\\n" " "', { env: { GREETING: 'hi' } }),
      context({ scriptEnv: { PATH: '/usr/bin:/bin' } }),
    );
    const names = (outcome.output ?? '').trim().split(' ').filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n));
    assert.deepEqual(names, ['DEPLOYX_ROOT', 'GREETING', 'PATH']);
  });

  it('run: once — never again after a success, whatever the body, across restarts', async () => {
    assert.equal((await runScript(script(COUNTING, { run: 'once' }), context())).status, 'succeeded');
    const restarted = context();
    const again = await runScript(script(`${COUNTING}# v2\n`, { run: 'once' }), restarted);
    assert.equal(again.status, 'skipped');
    assert.match(again.output ?? '', /once/);
    assert.equal(await runs(), 1);
  });

  it('run: once — runs again after a failure', async () => {
    assert.equal((await runScript(script(`${COUNTING}exit 1\n`, { run: 'once' }), context())).status, 'failed');
    assert.equal((await runScript(script(COUNTING, { run: 'once' }), context())).status, 'succeeded');
    assert.equal(await runs(), 2);
  });

  it('run: onChange — skips the same body, runs a changed one', async () => {
    assert.equal((await runScript(script(COUNTING, { run: 'onChange' }), context())).status, 'succeeded');
    assert.equal((await runScript(script(COUNTING, { run: 'onChange' }), context())).status, 'skipped');
    assert.equal((await runScript(script(`${COUNTING}# v2\n`, { run: 'onChange' }), context())).status, 'succeeded');
    assert.equal(await runs(), 2);
  });

  it('run: always — runs every time', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await runScript(script(COUNTING), context())).status, 'succeeded');
    assert.equal(await runs(), 3);
  });

  it('run: every — runs when the last success is older than the interval (injected clock)', async () => {
    const step = script(COUNTING, { run: { every: '1h' } });
    assert.equal((await runScript(step, context())).status, 'succeeded');
    clock = new Date('2025-01-01T00:59:59Z');
    const early = await runScript(step, context());
    assert.equal(early.status, 'skipped');
    assert.match(early.output ?? '', /next run due at 2025-01-01T01:00:00.000Z/);
    clock = new Date('2025-01-01T01:00:00Z');
    assert.equal((await runScript(step, context())).status, 'succeeded');
    assert.equal(await runs(), 2);
  });

  it('check guard: exit 0 skips the body, non-zero runs it', async () => {
    const guarded = script(COUNTING, { check: 'test -f "$DEPLOYX_ROOT/runs.log"' });
    assert.equal((await runScript(guarded, context())).status, 'succeeded');
    const second = await runScript(guarded, context());
    assert.equal(second.status, 'skipped');
    assert.match(second.output ?? '', /already done/);
    assert.equal(await runs(), 1);
  });

  it('timeout kills the script (and its children) and fails the step', async () => {
    const started = Date.now();
    const outcome = await runScript(script('sleep 30 & sleep 30\n', { timeoutSeconds: 1 }), context());
    const elapsed = Date.now() - started;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^script\.timeout/);
    assert.ok(elapsed >= 900 && elapsed < 4000, `took ${elapsed} ms`);
    const observed = outcome.observed as { appliedSha256?: string };
    assert.equal(observed.appliedSha256, undefined);
  });

  it('caps output, keeping the tail', async () => {
    const outcome = await runScript(
      script('i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done\n'),
      context({ maxOutputBytes: 2048 }),
    );
    assert.equal(outcome.status, 'succeeded');
    assert.ok(Buffer.byteLength(outcome.output ?? '') <= 2048);
    assert.ok(outcome.output?.endsWith('line 2999'));
    assert.ok(!outcome.output?.includes('line 0\n'));
  });

  it('successExitCodes decide success; others fail with the code', async () => {
    const ok = await runScript(script('exit 3\n', { successExitCodes: [0, 3] }), context());
    assert.equal(ok.status, 'succeeded');
    assert.equal(ok.exitCode, 3);
    const bad = await runScript(script('echo boom >&2; exit 4\n', { successExitCodes: [0, 3] }), context());
    assert.equal(bad.status, 'failed');
    assert.equal(bad.exitCode, 4);
    assert.match(bad.error ?? '', /^script\.exit-code: exit 4/);
    assert.match(bad.output ?? '', /--- stderr ---\nboom/);
  });

  it('refuses a body whose SHA-256 does not match, and runs nothing', async () => {
    const step = script(COUNTING);
    blobs.set(step.sha256, Buffer.from('echo tampered > "$DEPLOYX_ROOT/runs.log"\n'));
    const outcome = await runScript(step, context());
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^blob\.hash-mismatch/);
    await assert.rejects(stat(path.join(root, 'runs.log')));
  });

  it('refuses interpreters not allowed on the platform', async () => {
    await assert.rejects(runScript(script('Write-Host hi', { interpreter: 'powershell' }), context()), (e) =>
      isAgentError(e, 'script.interpreter'),
    );
  });

  it('refuses invalid environment variable names', async () => {
    await assert.rejects(runScript(script('true', { env: { 'A=B': 'x' } }), context()), (e) => isAgentError(e, 'script.env'));
  });
});

describe('decideRun', () => {
  const record = {
    key: 'k',
    appliedSha256: 'aaa',
    lastSuccessAt: '2025-01-01T00:00:00.000Z',
    lastRunAt: '2025-01-01T00:00:00.000Z',
    lastSha256: 'aaa',
    lastStatus: 'succeeded' as const,
  };
  const now = new Date('2025-01-01T00:30:00Z');
  const rows: Array<[RunPolicy, string, typeof record | undefined, boolean]> = [
    ['once', 'bbb', undefined, true],
    ['once', 'bbb', record, false],
    ['onChange', 'aaa', record, false],
    ['onChange', 'bbb', record, true],
    ['always', 'aaa', record, true],
    [{ every: '1h' }, 'aaa', record, false],
    [{ every: '30m' }, 'aaa', record, true],
    [{ every: '1h' }, 'bbb', record, true],
    [{ every: '1h' }, 'aaa', undefined, true],
  ];
  for (const [policy, sha, rec, run] of rows) {
    it(`${JSON.stringify(policy)} body ${sha} ${rec ? 'after a success' : 'never ran'} → ${run ? 'run' : 'skip'}`, () => {
      assert.equal(decideRun(policy, sha, rec, now).run, run);
    });
  }
  it('refuses a bad interval', () => {
    assert.throws(() => decideRun({ every: 'hourly' }, 'a', undefined, now), (e) => isAgentError(e, 'script.run-policy'));
  });
});
