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
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Interpreter, RunPolicy } from '../../../schemas/kinds.ts';
import type { ObservedScript, Step } from '../../../schemas/protocol.ts';
import { readDuration } from '../../../schemas/duration.ts';
import { AgentError, describeError } from '../errors.ts';
import { tailUtf8, type ExecResult } from '../system/exec.ts';
import { sha256Bytes } from '../system/fs-atomic.ts';
import { ScriptRunStore, type ScriptRunRecord } from '../state/script-runs.ts';
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

export type RunDecision = { run: true } | { run: false; reason: string };

/** Pure: whether the policy lets this body run now, given the last run record. */
export function decideRun(policy: RunPolicy, sha256: string, record: ScriptRunRecord | undefined, now: Date): RunDecision {
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

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function runScript(step: ScriptStep, ctx: ExecContext): Promise<StepOutcome> {
  const interpreter = resolveInterpreter(step.interpreter, ctx.platform);
  const env = scriptEnvironment(step, ctx);
  const store = new ScriptRunStore(ctx.stateDir);
  const record = await store.get(step.key);
  const decision = decideRun(step.run, step.sha256, record, ctx.now());
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

  const tempDir = path.join(ctx.stateDir, 'tmp');
  await mkdir(tempDir, { recursive: true, mode: 0o700 });
  const cwd = ctx.root ?? ctx.stateDir;
  const timeoutMs = Math.max(1, step.timeoutSeconds) * 1000;
  const run = async (content: Uint8Array | string, label: string): Promise<ExecResult> => {
    const file = path.join(tempDir, `${label}-${randomBytes(8).toString('hex')}${interpreter.extension}`);
    await writeFile(file, content, { mode: 0o700, flag: 'wx' });
    try {
      return await ctx.exec(interpreter.file, interpreter.args(file), {
        cwd,
        env,
        timeoutMs,
        signal: ctx.signal,
        maxOutputBytes: ctx.maxOutputBytes,
      });
    } finally {
      await rm(file, { force: true });
    }
  };

  if (step.check !== undefined && step.check !== '') {
    const check = await run(step.check, 'check');
    const output = scriptOutput(check, ctx.maxOutputBytes);
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

  const startedAt = ctx.now().toISOString();
  const result = await run(body, 'script');
  const successCodes = step.successExitCodes.length > 0 ? step.successExitCodes : [0];
  const ok = !result.timedOut && !result.aborted && result.exitCode !== null && successCodes.includes(result.exitCode);
  const next: ScriptRunRecord = {
    key: step.key,
    ...(record?.appliedSha256 === undefined ? {} : { appliedSha256: record.appliedSha256 }),
    ...(record?.lastSuccessAt === undefined ? {} : { lastSuccessAt: record.lastSuccessAt }),
    lastRunAt: startedAt,
    lastSha256: step.sha256,
    ...(result.exitCode === null ? {} : { lastExitCode: result.exitCode }),
    lastStatus: ok ? 'succeeded' : 'failed',
  };
  if (ok) {
    next.appliedSha256 = step.sha256;
    next.lastSuccessAt = startedAt;
  }
  await store.put(next);

  const outcome: StepOutcome = {
    status: ok ? 'succeeded' : 'failed',
    observed: toObserved(step.key, next),
    output: scriptOutput(result, ctx.maxOutputBytes),
    ...(result.exitCode === null ? {} : { exitCode: result.exitCode }),
  };
  if (!ok) {
    outcome.error = result.aborted
      ? 'job.aborted: script killed'
      : result.timedOut
        ? `script.timeout: killed after ${step.timeoutSeconds}s`
        : `script.exit-code: exit ${result.exitCode ?? result.signal} (expected ${successCodes.join(', ')})`;
  }
  return outcome;
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
function scriptOutput(result: ExecResult, maxBytes: number): string {
  const stdout = result.stdout.trimEnd();
  const stderr = result.stderr.trimEnd();
  const text = stderr === '' ? stdout : `${stdout}${stdout === '' ? '' : '\n'}--- stderr ---\n${stderr}`;
  return tailUtf8(text, maxBytes).text;
}
