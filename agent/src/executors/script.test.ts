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
import { decideRecovery, decideRun, runScript, type RecoveryInput } from './script.ts';
import { ScriptRunStore } from '../state/script-runs.ts';

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
    const kept = await readdir(path.join(stateDir, 'scripts'));
    assert.deepEqual(kept.filter((n) => n !== 'runs').map((n) => n.replace(/^[0-9a-f]{64}/, 'H')), ['H.json'], 'only the run record: the intent is gone');
    assert.deepEqual(await readdir(path.join(stateDir, 'scripts', 'runs')), [], 'the run directory (body, output, exit) is removed');
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

describe('decideRun: interrupted runs and resumed jobs', () => {
  const now = new Date('2025-01-01T00:30:00Z');
  const interrupted = { key: 'k', lastRunAt: '2025-01-01T00:00:00.000Z', lastSha256: 'aaa', lastStatus: 'interrupted' as const, lastIdempotencyKey: 'job-1' };
  const finished = { key: 'k', appliedSha256: 'aaa', lastSuccessAt: '2025-01-01T00:00:00.000Z', lastRunAt: '2025-01-01T00:00:00.000Z', lastSha256: 'aaa', lastStatus: 'succeeded' as const, lastIdempotencyKey: 'job-1' };
  const failedRun = { ...finished, appliedSha256: undefined, lastSuccessAt: undefined, lastStatus: 'failed' as const };
  type Rec = typeof interrupted | typeof finished | typeof failedRun;
  const rows: Array<[string, RunPolicy, string, Rec, { onInterrupt?: 'fail' | 'rerun'; idempotencyKey?: string }, 'run' | 'skip' | 'interrupted' | 'replay']> = [
    ['once, interrupted, default → interrupted', 'once', 'aaa', interrupted, {}, 'interrupted'],
    ['onChange, interrupted, default → interrupted', 'onChange', 'aaa', interrupted, {}, 'interrupted'],
    ['always, interrupted, default → run', 'always', 'aaa', interrupted, {}, 'run'],
    ['every, interrupted, default → run', { every: '1h' }, 'aaa', interrupted, {}, 'run'],
    ['once, interrupted, rerun declared → run', 'once', 'aaa', interrupted, { onInterrupt: 'rerun' }, 'run'],
    ['always, interrupted, fail declared → interrupted', 'always', 'aaa', interrupted, { onInterrupt: 'fail' }, 'interrupted'],
    ['once, interrupted, same job → still interrupted', 'once', 'aaa', interrupted, { idempotencyKey: 'job-1' }, 'interrupted'],
    ['onChange, another body after an interrupted one → run', 'onChange', 'bbb', interrupted, {}, 'run'],
    ['always, this job already ran it → replay', 'always', 'aaa', finished, { idempotencyKey: 'job-1' }, 'replay'],
    ['once, this job already ran it and failed → replay', 'once', 'aaa', failedRun, { idempotencyKey: 'job-1' }, 'replay'],
    ['always, another job → run', 'always', 'aaa', finished, { idempotencyKey: 'job-2' }, 'run'],
    ['always, no job given → run', 'always', 'aaa', finished, {}, 'run'],
    ['always, this job ran another body → run', 'always', 'bbb', finished, { idempotencyKey: 'job-1' }, 'run'],
  ];
  for (const [name, policy, sha, rec, options, expected] of rows) {
    it(name, () => {
      const d = decideRun(policy, sha, rec, now, options);
      const got = d.run ? 'run' : 'replay' in d ? 'replay' : 'interrupted' in d ? 'interrupted' : 'skip';
      assert.equal(got, expected);
    });
  }
});

describe('decideRecovery', () => {
  const rows: Array<[RecoveryInput, ReturnType<typeof decideRecovery>]> = [
    [{ exit: 0, started: true, process: 'gone', overdue: false }, 'collect'],
    [{ exit: 3, started: true, process: 'running', overdue: true }, 'collect'],
    [{ exit: undefined, started: true, process: 'running', overdue: false }, 'wait'],
    [{ exit: undefined, started: false, process: 'running', overdue: false }, 'wait'],
    [{ exit: undefined, started: true, process: 'running', overdue: true }, 'kill-overdue'],
    [{ exit: undefined, started: true, process: 'gone', overdue: false }, 'interrupted'],
    [{ exit: undefined, started: true, process: 'unverifiable', overdue: false }, 'interrupted'],
    [{ exit: 'torn', started: true, process: 'gone', overdue: false }, 'interrupted'],
    [{ exit: 'torn', started: true, process: 'running', overdue: false }, 'interrupted'],
    [{ exit: undefined, started: false, process: 'gone', overdue: false }, 'never-started'],
    [{ exit: undefined, started: false, process: 'unverifiable', overdue: false }, 'never-started'],
  ];
  for (const [input, expected] of rows) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(decideRecovery(input), expected));
  }
});

describe('script.run across an agent restart (no agent process: the state it leaves)', () => {
  const job = { id: 'job-1', idempotencyKey: 'key-1' };

  it('a job resumed after its script finished reports that run and does not run the body again', async () => {
    const step = script(COUNTING, { run: 'always' });
    const first = await runScript(step, context({ job }));
    assert.equal(first.status, 'succeeded');
    assert.equal(await runs(), 1);
    // The agent died after the run record was written, before the job's result: the journal resumes the job.
    const resumed = await runScript(step, context({ job }));
    assert.equal(resumed.status, 'succeeded');
    assert.equal(resumed.exitCode, 0);
    assert.equal(await runs(), 1, 'not run a second time by the same job');
    // Another job runs an `always` script again.
    assert.equal((await runScript(step, context({ job: { id: 'job-2', idempotencyKey: 'key-2' } }))).status, 'succeeded');
    assert.equal(await runs(), 2);
  });

  it('an intent whose body never started is forgotten and the body runs', async () => {
    const step = script(COUNTING, { run: 'once' });
    const store = new ScriptRunStore(stateDir);
    const intent = {
      version: 1 as const,
      key: step.key,
      runId: '0123456789abcdef01234567',
      sha256: step.sha256,
      jobId: job.id,
      idempotencyKey: job.idempotencyKey,
      startedAt: clock.toISOString(),
      timeoutSeconds: 30,
      successExitCodes: [0],
      onInterrupt: 'fail' as const,
    };
    await store.putIntent(intent);
    const outcome = await runScript(step, context({ job }));
    assert.equal(outcome.status, 'succeeded', outcome.error);
    assert.equal(await runs(), 1);
    assert.equal(await store.getIntent(step.key), undefined);
  });

  it('an intent whose run left its exit status is collected: the outcome, not a second run', async () => {
    const step = script(COUNTING, { run: 'once', successExitCodes: [0, 3] });
    const store = new ScriptRunStore(stateDir);
    const runId = 'fedcba9876543210fedcba98';
    await store.putIntent({
      version: 1,
      key: step.key,
      runId,
      sha256: step.sha256,
      jobId: job.id,
      idempotencyKey: job.idempotencyKey,
      startedAt: clock.toISOString(),
      timeoutSeconds: 30,
      successExitCodes: [0, 3],
      onInterrupt: 'fail',
      pid: 999_999_999,
    });
    const { mkdir: mkdirP, writeFile: write } = await import('node:fs/promises');
    await mkdirP(store.runDir(runId), { recursive: true });
    await write(path.join(store.runDir(runId), 'stdout'), 'did it\n');
    await write(path.join(store.runDir(runId), 'exit'), '3\n');
    const outcome = await runScript(step, context({ job }));
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.exitCode, 3);
    assert.equal(outcome.output, 'did it');
    assert.equal(await runs(), 0, 'the body is not run by the restarted agent');
    assert.equal((await store.get(step.key))?.appliedSha256, step.sha256);
    await assert.rejects(stat(store.runDir(runId)), 'the run directory is removed');
  });
});

describe('script.run: an orphan left running by a dead agent (real processes, Linux)', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  const job = { id: 'job-1', idempotencyKey: 'key-1' };

  /** Starts the wrapper the way the dead agent did (own process group) and writes its intent. */
  async function orphan(body: string, options: { startedAt: string; timeoutSeconds: number; recordPid: boolean }) {
    const { spawn } = await import('node:child_process');
    const { mkdir: mkdirP, writeFile: write } = await import('node:fs/promises');
    const { SCRIPT_WRAPPER } = await import('./script.ts');
    const { identifyProcess } = await import('../system/orphans.ts');
    const step = script(body, { run: 'once', timeoutSeconds: options.timeoutSeconds });
    const store = new ScriptRunStore(stateDir);
    const runId = 'aaaaaaaaaaaaaaaaaaaaaaaa';
    const dir = store.runDir(runId);
    await mkdirP(dir, { recursive: true });
    await write(path.join(dir, 'body.sh'), body);
    const child = spawn('/bin/sh', ['-c', SCRIPT_WRAPPER, 'deployx-script', path.join(dir, 'exit'), path.join(dir, 'stdout'), path.join(dir, 'stderr'), '/bin/sh', path.join(dir, 'body.sh')], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DEPLOYX_ROOT: root },
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    child.unref();
    const identity = await identifyProcess(child.pid!);
    await store.putIntent({
      version: 1,
      key: step.key,
      runId,
      sha256: step.sha256,
      jobId: job.id,
      idempotencyKey: job.idempotencyKey,
      startedAt: options.startedAt,
      timeoutSeconds: options.timeoutSeconds,
      successExitCodes: [0],
      onInterrupt: 'fail',
      ...(options.recordPid ? identity : {}),
    });
    await waitFor(async () => (await runs()) === 1);
    return { step, store, pgid: child.pid!, exited };
  }

  async function waitFor(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 25));
  }

  it('waits for it (found by its command line when its pid was never recorded) and reports its exit', async () => {
    const release = path.join(root, 'release');
    const { step, exited } = await orphan(`${COUNTING}while [ ! -e "${release}" ]; do sleep 0.05; done\necho done\n`, {
      startedAt: clock.toISOString(),
      timeoutSeconds: 60,
      recordPid: false,
    });
    const running = runScript(step, context({ job }));
    await new Promise((r) => setTimeout(r, 300));
    const { writeFile: write } = await import('node:fs/promises');
    await write(release, '');
    const outcome = await running;
    await exited;
    assert.equal(outcome.status, 'succeeded', outcome.error);
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.output, 'done');
    assert.equal(await runs(), 1);
  });

  it('kills it once past its own timeout (failed, script.timeout), and does not run it again', async () => {
    const { step, exited } = await orphan(`${COUNTING}sleep 30\n`, {
      startedAt: new Date(clock.getTime() - 60_000).toISOString(),
      timeoutSeconds: 5,
      recordPid: true,
    });
    const outcome = await runScript(step, context({ job }));
    await exited;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^script\.timeout:/);
    assert.equal(await runs(), 1);
  });
});
