// Runs one Job's steps in order through the executor table: each executor observes, applies
// and observes again. The first failed (or `interrupted`) step stops the job and fails it; the steps after it are reported
// `skipped` ("not run"). Cancellation (ctx.signal) stops it the same way and ends the job
// `cancelled`, or `timed_out` when the signal's reason is a TimeoutError.
//
// Never throws: an executor exception becomes a failed step carrying the error's code and
// message, and a throwing progress listener is ignored.
//
// No I/O and no node:* imports here: everything goes through the executors and ctx.
import type {
  Job,
  JobFinalState,
  JobProgress,
  JobResult,
  ObservedResource,
  Step,
  StepResult,
} from '../../../schemas/protocol.ts';
import { isStepFailure } from '../../../schemas/step-status.ts';
import { describeError } from '../errors.ts';
import type { ExecContext, Executors, StepOutcome } from '../executors/index.ts';

export type ProgressListener = (progress: JobProgress) => void;

export interface JobRun {
  result: JobResult;
  /** Steps that were started: always a prefix of job.steps (the rest were not run). */
  ran: number;
}

export async function runJob(
  job: Job,
  executors: Executors,
  ctx: ExecContext,
  onProgress: ProgressListener = () => {},
): Promise<JobResult> {
  return (await runJobDetailed(job, executors, ctx, onProgress)).result;
}

export async function runJobDetailed(
  job: Job,
  executors: Executors,
  ctx: ExecContext,
  onProgress: ProgressListener = () => {},
): Promise<JobRun> {
  const startedAt = isoNow(ctx);
  const steps: StepResult[] = [];
  const observed = new Map<string, ObservedResource>();
  const emit = (progress: JobProgress): void => {
    try {
      onProgress(progress);
    } catch {
      // Progress is best effort; it must not change the job's outcome.
    }
  };

  let ran = 0;
  let stopReason: string | undefined;
  let failed = false;
  let interrupted = false;
  for (const [index, step] of (job.steps ?? []).entries()) {
    if (stopReason === undefined && ctx.signal.aborted) {
      interrupted = true;
      stopReason = `not run: job ${abortState(ctx.signal) === 'timed_out' ? 'timed out' : 'cancelled'}`;
    }
    if (stopReason !== undefined) {
      steps.push({ key: step.key, action: step.action, status: 'skipped', output: stopReason, durationMs: 0 });
      emit({ jobId: job.id, stepIndex: index, status: 'skipped' });
      continue;
    }

    emit({ jobId: job.id, stepIndex: index, status: 'running' });
    ran = index + 1;
    const started = performance.now();
    const outcome = await executeSafely(executors, step, ctx);
    const result: StepResult = {
      key: step.key,
      action: step.action,
      status: outcome.status,
      durationMs: Math.round(performance.now() - started),
    };
    if (outcome.exitCode !== undefined) result.exitCode = outcome.exitCode;
    if (outcome.output !== undefined && outcome.output !== '') result.output = outcome.output;
    if (outcome.error !== undefined) result.error = outcome.error;
    steps.push(result);
    if (outcome.observed !== undefined) observed.set(outcome.observed.key, outcome.observed);
    emit({ jobId: job.id, stepIndex: index, status: outcome.status });

    if (isStepFailure(outcome.status)) {
      failed = true;
      if (ctx.signal.aborted) interrupted = true;
      stopReason = `not run: step ${index + 1} (${step.key}) ${interrupted ? 'was interrupted' : 'failed'}`;
    }
  }

  const status: JobFinalState = interrupted ? abortState(ctx.signal) : failed ? 'failed' : 'succeeded';
  return {
    ran,
    result: {
      jobId: job.id,
      idempotencyKey: job.idempotencyKey,
      status,
      steps,
      observed: [...observed.values()],
      startedAt,
      finishedAt: isoNow(ctx),
    },
  };
}

async function executeSafely(executors: Executors, step: Step, ctx: ExecContext): Promise<StepOutcome> {
  try {
    const run = executors[step.action] as ((s: Step, c: ExecContext) => Promise<StepOutcome>) | undefined;
    if (typeof run !== 'function') return { status: 'failed', error: `no executor for ${String(step.action)}` };
    const outcome = await run(step, ctx);
    if (outcome === null || typeof outcome !== 'object') {
      return { status: 'failed', error: `executor for ${step.action} returned no outcome` };
    }
    return outcome;
  } catch (error) {
    return { status: 'failed', error: describeError(error) };
  }
}

function abortState(signal: AbortSignal): 'timed_out' | 'cancelled' {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? 'timed_out' : 'cancelled';
}

function isoNow(ctx: ExecContext): string {
  try {
    return ctx.now().toISOString();
  } catch {
    return new Date(0).toISOString();
  }
}
