// script.run
//
// 1. The run policy decides from the local run record (state/script-runs.ts), which survives
//    restarts: `once` skips after any successful run (whatever the body), `onChange` skips when
//    this body already ran to success, `always` runs, `{every: D}` skips when this body ran to
//    success less than D ago (a new body runs at once). The clock is ctx.now().
// 2. The body is fetched by SHA-256 and verified; a mismatch fails the step and runs nothing.
// 3. The `check` guard, when present, runs with the same interpreter: exit 0 means "already
//    done" and the step is skipped.
// 4. The body runs from a temp file in <stateDir>/tmp (0700) as `interpreter file`, never
//    through a shell string. Working directory: the sandbox root, or the state directory.
//    Environment: ctx.scriptEnv (PATH, …) + the step's env + DEPLOYX_ROOT when a root is set.
// 5. timeoutSeconds kills the whole process group (system/exec.ts); a timeout or an exit code
//    outside successExitCodes (default [0]) fails the step. Output keeps the tail.
//
// At most once across agent crashes (state/script-runs.ts holds the files):
// - Before the body starts, a run intent (body sha, job, start time, run directory) is written
//   durably; once started, the process identity (pid = process group, boot id, start time) is
//   added. On POSIX the body runs under a constant wrapper, `/bin/sh -c WRAPPER` with every
//   datum an argument, that sends its output to files and writes its exit status to `exit` in
//   the run directory: an orphan that outlives the agent (it leads its own process group) still
//   leaves its outcome, and no pipe to a dead agent breaks it.
// - The outcome then goes into the run record, stamped with the job's idempotencyKey, and the
//   intent is removed. A job resumed after a crash finds its run in the record and reports it;
//   the body does not run again.
// - An intent found later (the agent died mid-run) is settled first (decideRecovery): the exit
//   file is collected; a still-running orphan is waited for by polling its identity in /proc (not
//   killed; past its timeoutSeconds it is killed like any timed-out script); a run that vanished
//   without an exit status is `interrupted`, and that body is not run again unless the step says
//   `onInterrupt: rerun` (decideRun). A run whose wrapper never started its body is forgotten.
// - The `check` guard is not under this promise: guards must be idempotent.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultOnInterrupt, type Interpreter, type OnInterrupt, type RunPolicy } from '../../../schemas/kinds.ts';
import type { ObservedScript, Step } from '../../../schemas/protocol.ts';
import { readDuration } from '../../../schemas/duration.ts';
import { AgentError, describeError } from '../errors.ts';
import { tailUtf8, type ExecResult } from '../system/exec.ts';
import { sha256Bytes } from '../system/fs-atomic.ts';
import { findProcessByArgument, identifyProcess, probeProcessGroup, type ProcessIdentity } from '../system/orphans.ts';
import { ScriptRunStore, type ScriptRunIntent, type ScriptRunRecord } from '../state/script-runs.ts';
import type { ExecContext, StepOutcome } from './context.ts';

type ScriptStep = Extract<Step, { action: 'script.run' }>;

export interface InterpreterCommand {
  file: string;
  args: (scriptFile: string) => string[];
  extension: string;
}

const POWERSHELL_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File'];

/** The allow-list. An interpreter missing for a platform is refused (`script.interpreter`). */
export const INTERPRETER_COMMANDS: Record<Interpreter, Partial<Record<'posix' | 'win32', InterpreterCommand>>> = {
  sh: { posix: { file: '/bin/sh', args: (f) => [f], extension: '.sh' } },
  bash: { posix: { file: 'bash', args: (f) => [f], extension: '.sh' } },
  python: {
    posix: { file: 'python3', args: (f) => [f], extension: '.py' },
    win32: { file: 'python.exe', args: (f) => [f], extension: '.py' },
  },
  powershell: { win32: { file: 'powershell.exe', args: (f) => [...POWERSHELL_ARGS, f], extension: '.ps1' } },
  pwsh: {
    posix: { file: 'pwsh', args: (f) => ['-NoProfile', '-NonInteractive', '-File', f], extension: '.ps1' },
    win32: { file: 'pwsh.exe', args: (f) => [...POWERSHELL_ARGS, f], extension: '.ps1' },
  },
};

export function resolveInterpreter(interpreter: Interpreter, platform: NodeJS.Platform): InterpreterCommand {
  const byPlatform = Object.hasOwn(INTERPRETER_COMMANDS, interpreter) ? INTERPRETER_COMMANDS[interpreter] : undefined;
  const command = byPlatform?.[platform === 'win32' ? 'win32' : 'posix'];
  if (command === undefined) {
    throw new AgentError('script.interpreter', `interpreter ${String(interpreter)} is not allowed on ${platform}`);
  }
  return command;
}

export type RunDecision =
  | { run: true }
  /** The policy says not now: the step is `skipped`. */
  | { run: false; reason: string }
  /** The last run of this body was interrupted and the step says `onInterrupt: fail`. */
  | { run: false; interrupted: true; reason: string }
  /** This job already ran this body (before the agent restarted): report that run. */
  | { run: false; replay: true };

export interface RunDecisionOptions {
  /** Default defaultOnInterrupt(policy). */
  onInterrupt?: OnInterrupt;
  /** The job asking; a record stamped with it is that job's own run. */
  idempotencyKey?: string;
}

/**
 * Pure: whether this body runs now, given the last run record. In order: this job's own
 * finished run is replayed; an interrupted run of this body blocks it under `onInterrupt: fail`;
 * then the run policy.
 */
export function decideRun(
  policy: RunPolicy,
  sha256: string,
  record: ScriptRunRecord | undefined,
  now: Date,
  options: RunDecisionOptions = {},
): RunDecision {
  const onInterrupt = options.onInterrupt ?? defaultOnInterrupt(policy);
  if (record !== undefined && record.lastSha256 === sha256) {
    if (record.lastStatus !== 'interrupted' && options.idempotencyKey !== undefined && record.lastIdempotencyKey === options.idempotencyKey) {
      return { run: false, replay: true };
    }
    if (record.lastStatus === 'interrupted' && onInterrupt === 'fail') {
      return {
        run: false,
        interrupted: true,
        reason:
          `script.interrupted: the agent stopped while this body ran (started ${record.lastRunAt}) and it ended without an exit status; ` +
          'not run again (onInterrupt: fail) — check the device, then set spec.onInterrupt: rerun or change the body to run it',
      };
    }
  }
  if (policy === 'always') return { run: true };
  if (policy === 'once') {
    return record?.lastSuccessAt === undefined
      ? { run: true }
      : { run: false, reason: `run: once — already ran to success at ${record.lastSuccessAt}` };
  }
  if (policy === 'onChange') {
    return record?.appliedSha256 === sha256
      ? { run: false, reason: `run: onChange — this body already ran to success at ${record.lastSuccessAt}` }
      : { run: true };
  }
  if (typeof policy === 'object' && policy !== null && typeof policy.every === 'string') {
    const interval = readDuration(policy.every);
    if (interval === undefined) {
      throw new AgentError('script.run-policy', `run.every ${JSON.stringify(policy.every)} is not a duration: fix the Script in the fleet repository (e.g. 30s, 5m, 1h30m, 7d)`);
    }
    if (record?.appliedSha256 !== sha256 || record.lastSuccessAt === undefined) return { run: true };
    const due = Date.parse(record.lastSuccessAt) + interval;
    return now.getTime() >= due
      ? { run: true }
      : { run: false, reason: `run: every ${policy.every} — next run due at ${new Date(due).toISOString()}` };
  }
  throw new AgentError('script.run-policy', `unknown run policy: ${JSON.stringify(policy)}`);
}

export interface RecoveryInput {
  /** Content of the run's exit file: a code, `torn` (present, unreadable), or absent. */
  exit: number | 'torn' | undefined;
  /** The wrapper got as far as starting the body (its output file exists). */
  started: boolean;
  /** The run's process group now (system/orphans.ts probeProcessGroup). */
  process: 'running' | 'gone' | 'unverifiable';
  /** Past the run's start + timeoutSeconds. */
  overdue: boolean;
}

export type RecoveryDecision = 'collect' | 'wait' | 'kill-overdue' | 'interrupted' | 'never-started';

/**
 * Pure: what to do with a run intent left by an agent that died. An exit status is the run's
 * outcome; a run still going is waited for (killed only past its own timeout); anything else
 * that started lost its outcome — `interrupted`; a body that never started is forgotten.
 */
export function decideRecovery(input: RecoveryInput): RecoveryDecision {
  if (typeof input.exit === 'number') return 'collect';
  if (input.process === 'running' && input.exit === undefined) return input.overdue ? 'kill-overdue' : 'wait';
  return input.started || input.exit === 'torn' ? 'interrupted' : 'never-started';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The POSIX wrapper: `sh -c WRAPPER deployx-script EXIT OUT ERR INTERPRETER ARGS…`. Constant
 * text; every path and argument arrives as a positional parameter, never as shell syntax. The
 * body's output goes to files, its exit status (128+n after a signal) to EXIT, fsynced where
 * `sync FILE` exists; the wrapper exits with the same status.
 */
export const SCRIPT_WRAPPER =
  'exit_file=$1; out=$2; err=$3; shift 3; "$@" >"$out" 2>"$err"; code=$?; ' +
  'printf "%s\\n" "$code" >"$exit_file"; sync "$exit_file" >/dev/null 2>&1; exit "$code"';

/** How often a waited-for orphan is looked at. */
const ORPHAN_POLL_MS = 200;
/** Between SIGTERM and SIGKILL of an overdue or aborted orphan. */
const ORPHAN_KILL_GRACE_MS = 5_000;

export async function runScript(step: ScriptStep, ctx: ExecContext): Promise<StepOutcome> {
  const interpreter = resolveInterpreter(step.interpreter, ctx.platform);
  const env = scriptEnvironment(step, ctx);
  const store = new ScriptRunStore(ctx.stateDir);
  const onInterrupt = step.onInterrupt ?? defaultOnInterrupt(step.run);

  // A run left by an agent that died comes first: nothing else runs for this key until it is settled.
  let recovered: StepOutcome | undefined;
  const intent = await store.getIntent(step.key);
  if (intent !== undefined) {
    const outcome = await settleIntent(intent, store, ctx);
    if (outcome !== undefined && intent.idempotencyKey !== undefined && intent.idempotencyKey === ctx.job?.idempotencyKey) {
      recovered = outcome;
    }
  }

  const record = await store.get(step.key);
  const decision = decideRun(step.run, step.sha256, record, ctx.now(), {
    onInterrupt,
    ...(ctx.job === undefined ? {} : { idempotencyKey: ctx.job.idempotencyKey }),
  });
  if ('replay' in decision) return recovered ?? replayedOutcome(step.key, record!);
  if ('interrupted' in decision) {
    return { status: 'interrupted', observed: toObserved(step.key, record), error: decision.reason };
  }
  if (!decision.run) return { status: 'skipped', observed: toObserved(step.key, record), output: decision.reason };

  let body: Uint8Array;
  try {
    body = await ctx.fetchBlob(step.sha256, { signal: ctx.signal });
  } catch (error) {
    throw new AgentError('blob.fetch', `script body ${step.sha256}: ${describeError(error)}`, { cause: error });
  }
  const actual = sha256Bytes(body);
  if (actual !== step.sha256) {
    return {
      status: 'failed',
      observed: toObserved(step.key, record),
      error: describeError(
        new AgentError('blob.hash-mismatch', `script body has sha256 ${actual}, expected ${step.sha256}; not run`),
      ),
    };
  }

  const cwd = ctx.root ?? ctx.stateDir;
  const timeoutMs = Math.max(1, step.timeoutSeconds) * 1000;
  if (step.check !== undefined && step.check !== '') {
    const tempDir = path.join(ctx.stateDir, 'tmp');
    await mkdir(tempDir, { recursive: true, mode: 0o700 });
    const file = path.join(tempDir, `check-${randomBytes(8).toString('hex')}${interpreter.extension}`);
    await writeFile(file, step.check, { mode: 0o700, flag: 'wx' });
    let check: ExecResult;
    try {
      check = await ctx.exec(interpreter.file, interpreter.args(file), { cwd, env, timeoutMs, signal: ctx.signal, maxOutputBytes: ctx.maxOutputBytes });
    } finally {
      await rm(file, { force: true });
    }
    const output = scriptOutput(check.stdout, check.stderr, ctx.maxOutputBytes);
    if (check.timedOut || check.aborted) {
      return {
        status: 'failed',
        observed: toObserved(step.key, record),
        output,
        error: check.aborted ? 'job.aborted: check guard aborted' : `script.timeout: check guard killed after ${step.timeoutSeconds}s`,
      };
    }
    if (check.exitCode === 0) {
      return {
        status: 'skipped',
        observed: toObserved(step.key, record),
        exitCode: 0,
        output: ['check exited 0: already done', output].filter((p) => p !== '').join('\n'),
      };
    }
  }

  // The intent is durable before the body can start.
  const run: ScriptRunIntent = {
    version: 1,
    key: step.key,
    runId: randomBytes(12).toString('hex'),
    sha256: step.sha256,
    ...(ctx.job === undefined ? {} : { jobId: ctx.job.id, idempotencyKey: ctx.job.idempotencyKey }),
    startedAt: ctx.now().toISOString(),
    timeoutSeconds: step.timeoutSeconds,
    successExitCodes: successCodesOf(step.successExitCodes),
    onInterrupt,
  };
  const files = runFiles(store, run);
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  const bodyFile = path.join(files.dir, `body${interpreter.extension}`);
  await writeFile(bodyFile, body, { mode: 0o700, flag: 'wx' });
  await store.putIntent(run);

  const wrapped = ctx.platform !== 'win32';
  const [file, args] = wrapped
    ? ['/bin/sh', ['-c', SCRIPT_WRAPPER, 'deployx-script', files.exit, files.stdout, files.stderr, interpreter.file, ...interpreter.args(bodyFile)]]
    : [interpreter.file, interpreter.args(bodyFile)];
  let identified: Promise<void> = Promise.resolve();
  const result = await ctx.exec(file, args, {
    cwd,
    env,
    timeoutMs,
    signal: ctx.signal,
    maxOutputBytes: ctx.maxOutputBytes,
    onSpawn: (pid) => {
      identified = identifyProcess(pid)
        .then((identity) => store.putIntent({ ...run, ...identity }))
        .catch(() => undefined);
    },
  });
  await identified;
  const output = wrapped
    ? scriptOutput(await readTail(files.stdout, ctx.maxOutputBytes), await readTail(files.stderr, ctx.maxOutputBytes), ctx.maxOutputBytes)
    : scriptOutput(result.stdout, result.stderr, ctx.maxOutputBytes);
  const failure = result.aborted
    ? 'job.aborted: script killed'
    : result.timedOut
      ? `script.timeout: killed after ${step.timeoutSeconds}s`
      : undefined;
  return finishRun(store, run, record, { exitCode: result.exitCode, signal: result.signal, failure, output });
}

/**
 * Settles a run intent found on disk (the agent died during that run): collects, waits for, or
 * gives up on it, records the outcome in the run record and removes the intent. Undefined when
 * the body had never started (nothing to record).
 */
async function settleIntent(intent: ScriptRunIntent, store: ScriptRunStore, ctx: ExecContext): Promise<StepOutcome | undefined> {
  const files = runFiles(store, intent);
  const record = await store.get(intent.key);
  const deadline = Date.parse(intent.startedAt) + Math.max(1, intent.timeoutSeconds) * 1000;
  let identity: ProcessIdentity | undefined =
    intent.pid === undefined ? undefined : { pid: intent.pid, ...(intent.bootId ? { bootId: intent.bootId } : {}), ...(intent.startTicks ? { startTicks: intent.startTicks } : {}) };
  if (identity === undefined && ctx.platform === 'linux') {
    // Died between starting the wrapper and recording it: the wrapper carries its exit file's path.
    const pid = await findProcessByArgument(files.exit);
    if (pid !== undefined) identity = await identifyProcess(pid);
  }
  for (;;) {
    const exit = await readExitFile(files.exit);
    // Without /proc nothing can be proven about a process: a run that started is `interrupted`.
    const group = ctx.platform !== 'linux' ? 'unverifiable' : identity === undefined ? 'gone' : await probeProcessGroup(identity);
    // Without the wrapper (Windows) there is no output file to tell: assume the body started.
    const started = exit !== undefined || ctx.platform === 'win32' || (await exists(files.stdout));
    const decision = decideRecovery({ exit, started, process: group, overdue: ctx.now().getTime() >= deadline });
    const output = async () =>
      scriptOutput(await readTail(files.stdout, ctx.maxOutputBytes), await readTail(files.stderr, ctx.maxOutputBytes), ctx.maxOutputBytes);
    switch (decision) {
      case 'wait':
        if (ctx.signal.aborted) {
          await killOrphan(identity!);
          return finishRun(store, intent, record, { exitCode: null, signal: 'SIGTERM', failure: 'job.aborted: script killed', output: await output() });
        }
        await sleep(ORPHAN_POLL_MS, undefined, { signal: ctx.signal }).catch(() => undefined);
        continue;
      case 'kill-overdue':
        await killOrphan(identity!);
        return finishRun(store, intent, record, {
          exitCode: null,
          signal: 'SIGTERM',
          failure: `script.timeout: killed after ${intent.timeoutSeconds}s (left running by an agent that stopped)`,
          output: await output(),
        });
      case 'collect':
        return finishRun(store, intent, record, { exitCode: exit as number, signal: null, failure: undefined, output: await output() });
      case 'interrupted':
        return finishRun(store, intent, record, { exitCode: null, signal: null, failure: 'interrupted', output: await output() });
      case 'never-started':
        await store.removeIntent(intent);
        return undefined;
    }
  }
}

interface RunEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Why the run failed whatever its exit code; `interrupted` when its outcome is unknown. */
  failure: string | undefined;
  output: string;
}

/** Records a run's outcome (stamped with its job), then forgets its intent; the step's outcome. */
async function finishRun(store: ScriptRunStore, run: ScriptRunIntent, record: ScriptRunRecord | undefined, end: RunEnd): Promise<StepOutcome> {
  const successCodes = successCodesOf(run.successExitCodes);
  const interrupted = end.failure === 'interrupted';
  const ok = end.failure === undefined && end.exitCode !== null && successCodes.includes(end.exitCode);
  const error = interrupted
    ? `script.interrupted: the agent stopped while this body ran (started ${run.startedAt}) and it ended without an exit status; ` +
      `${run.onInterrupt === 'rerun' ? 'it runs again (onInterrupt: rerun)' : 'not run again (onInterrupt: fail) — check the device, then set spec.onInterrupt: rerun or change the body to run it'}`
    : ok
      ? undefined
      : (end.failure ?? `script.exit-code: exit ${end.exitCode ?? end.signal} (expected ${successCodes.join(', ')})`);
  const next: ScriptRunRecord = {
    key: run.key,
    ...(record?.appliedSha256 === undefined ? {} : { appliedSha256: record.appliedSha256 }),
    ...(record?.lastSuccessAt === undefined ? {} : { lastSuccessAt: record.lastSuccessAt }),
    lastRunAt: run.startedAt,
    lastSha256: run.sha256,
    ...(end.exitCode === null ? {} : { lastExitCode: end.exitCode }),
    lastStatus: interrupted ? 'interrupted' : ok ? 'succeeded' : 'failed',
    ...(run.idempotencyKey === undefined ? {} : { lastIdempotencyKey: run.idempotencyKey }),
    ...(error === undefined ? {} : { lastError: error }),
  };
  if (ok) {
    next.appliedSha256 = run.sha256;
    next.lastSuccessAt = run.startedAt;
  }
  await store.put(next);
  await store.removeIntent(run);
  return {
    status: interrupted ? 'interrupted' : ok ? 'succeeded' : 'failed',
    observed: toObserved(run.key, next),
    output: end.output,
    ...(end.exitCode === null ? {} : { exitCode: end.exitCode }),
    ...(error === undefined ? {} : { error }),
  };
}

/** The outcome of this job's run, from the record, when its output is gone with the dead agent. */
function replayedOutcome(key: string, record: ScriptRunRecord): StepOutcome {
  return {
    status: record.lastStatus,
    observed: toObserved(key, record),
    output: `ran at ${record.lastRunAt} in this job before the agent restarted; not run again (output not kept)`,
    ...(record.lastExitCode === undefined ? {} : { exitCode: record.lastExitCode }),
    ...(record.lastError === undefined ? {} : { error: record.lastError }),
  };
}

/**
 * The process groups of script runs left by a previous agent that are still running: the
 * restarted agent waits for them instead of killing them (ChildRegistry.reapOrphans `spare`).
 */
export async function findRunningScriptGroups(stateDir: string, platform: NodeJS.Platform = process.platform): Promise<Set<number>> {
  const groups = new Set<number>();
  if (platform !== 'linux') return groups;
  const store = new ScriptRunStore(stateDir);
  for (const intent of await store.intents()) {
    if (typeof intent.runId !== 'string' || !/^[0-9a-f]{16,64}$/.test(intent.runId)) continue;
    const pid = intent.pid ?? (await findProcessByArgument(runFiles(store, intent).exit));
    if (pid !== undefined) groups.add(pid);
  }
  return groups;
}

function runFiles(store: ScriptRunStore, run: Pick<ScriptRunIntent, 'runId'>): { dir: string; exit: string; stdout: string; stderr: string } {
  const dir = store.runDir(run.runId);
  return { dir, exit: path.join(dir, 'exit'), stdout: path.join(dir, 'stdout'), stderr: path.join(dir, 'stderr') };
}

function successCodesOf(codes: readonly number[]): number[] {
  return codes.length > 0 ? [...codes] : [0];
}

/** A complete exit file is digits and a newline; anything else present is `torn`. */
async function readExitFile(file: string): Promise<number | 'torn' | undefined> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      text = (await handle.readFile()).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return /^\d{1,3}\n$/.test(text) ? Number(text.trim()) : 'torn';
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The last `maxBytes` of a file as text (no file: empty). */
async function readTail(file: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    let start = 0;
    // A cut inside a UTF-8 sequence: drop the orphaned continuation bytes.
    if (size > length) while (start < buffer.length && start < 3 && (buffer[start]! & 0xc0) === 0x80) start++;
    return buffer.subarray(start).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** SIGTERM to the group, SIGKILL if it is still there after the grace. */
async function killOrphan(identity: ProcessIdentity): Promise<void> {
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-identity.pid, name);
    } catch {
      // ESRCH: gone.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + ORPHAN_KILL_GRACE_MS;
  while (Date.now() < deadline) {
    if ((await probeProcessGroup(identity)) !== 'running') return;
    await sleep(ORPHAN_POLL_MS);
  }
  signal('SIGKILL');
}

export async function observeScript(step: ScriptStep, ctx: ExecContext): Promise<ObservedScript> {
  return toObserved(step.key, await new ScriptRunStore(ctx.stateDir).get(step.key));
}

function toObserved(key: string, record: ScriptRunRecord | undefined): ObservedScript {
  return {
    key,
    type: 'script',
    ...(record?.appliedSha256 === undefined ? {} : { appliedSha256: record.appliedSha256 }),
    ...(record === undefined ? {} : { lastRunAt: record.lastRunAt }),
    ...(record?.lastExitCode === undefined ? {} : { lastExitCode: record.lastExitCode }),
  };
}

function scriptEnvironment(step: ScriptStep, ctx: ExecContext): Record<string, string> {
  const env: Record<string, string> = { ...ctx.scriptEnv };
  for (const [name, value] of Object.entries(step.env ?? {})) {
    if (!ENV_NAME.test(name) || typeof value !== 'string' || value.includes('\0')) {
      throw new AgentError('script.env', `invalid environment variable ${JSON.stringify(name)}`);
    }
    env[name] = value;
  }
  if (ctx.root !== undefined) env.DEPLOYX_ROOT = path.resolve(ctx.root);
  return env;
}

/** stdout, then stderr under a marker, as one tail-capped text. */
function scriptOutput(stdoutText: string, stderrText: string, maxBytes: number): string {
  const stdout = stdoutText.trimEnd();
  const stderr = stderrText.trimEnd();
  const text = stderr === '' ? stdout : `${stdout}${stdout === '' ? '' : '\n'}--- stderr ---\n${stderr}`;
  return tailUtf8(text, maxBytes).text;
}
