// Handles a delivered Job exactly once per idempotencyKey, whatever the transport does:
//
//   completed before (journal)  → the stored result, nothing runs
//   already running here        → the same promise (a redelivery while running)
//   new, or interrupted earlier → run it; record the inventory; spool the result durably
//
// Jobs run one at a time, in arrival order: two package managers fighting over one dpkg lock
// help nobody. `cancel(jobId)` aborts a queued or running job (it ends `cancelled`).
//
// Order of writes: inventory first, then the spooled result. A crash between the two leaves
// the job "started" in the journal, so it is re-run (idempotently) rather than lost. A re-run
// never runs a script body twice: the script executor finds this job's run in its run record (or
// a run left going, which it waits for) and reports that run (executors/script.ts).
import type { Job, JobResult, ObservationOrder, Step, StepResult } from '../../../schemas/protocol.ts';
import type { ExecContext, Executors } from '../executors/index.ts';
import { runJobDetailed, type ProgressListener } from './run-job.ts';

export interface JobJournal {
  begin(job: Job): Promise<{ state: 'new' } | { state: 'interrupted' } | { state: 'completed'; result: JobResult }>;
  put(result: JobResult): Promise<void>;
}

export interface InventoryRecorder {
  record(steps: readonly Step[], results: readonly StepResult[], ran: number, revision?: string): Promise<void>;
}

export interface JobHandlerOptions {
  journal: JobJournal;
  inventory: InventoryRecorder;
  executors: Executors;
  /** The executor context for one job, bound to that job's abort signal. */
  context: (signal: AbortSignal, job: Job) => ExecContext;
  onProgress?: ProgressListener;
  /** Upper bound of one job's run; past it the job ends `timed_out`. */
  jobTimeoutMs?: number;
  /**
   * The observation stamp of a finished job's result, taken after its last observation and before
   * it is spooled (so every re-send carries the same stamp). Unstamped when absent.
   */
  stamp?: () => Promise<ObservationOrder>;
}

export interface HandledJob {
  result: JobResult;
  /** The result came from the journal: the job had completed before. */
  replayed: boolean;
}

export interface JobHandler {
  handle(job: Job): Promise<HandledJob>;
  /** True when the job was queued or running here. */
  cancel(jobId: string): boolean;
}

export function createJobHandler(options: JobHandlerOptions): JobHandler {
  const running = new Map<string, { jobId: string; controller: AbortController; done: Promise<HandledJob> }>();
  let queue: Promise<unknown> = Promise.resolve();

  const execute = async (job: Job, controller: AbortController): Promise<HandledJob> => {
    const begun = await options.journal.begin(job);
    if (begun.state === 'completed') return { result: begun.result, replayed: true };
    const signal =
      options.jobTimeoutMs === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, AbortSignal.timeout(options.jobTimeoutMs)]);
    const run = await runJobDetailed(job, options.executors, options.context(signal, job), options.onProgress);
    const { ran } = run;
    const result: JobResult = options.stamp ? { ...run.result, ...(await options.stamp()) } : run.result;
    await options.inventory.record(job.steps, result.steps, ran, job.revision);
    await options.journal.put(result);
    return { result, replayed: false };
  };

  return {
    handle(job) {
      const existing = running.get(job.idempotencyKey);
      if (existing) return existing.done;
      const controller = new AbortController();
      const done = queue.then(() => execute(job, controller));
      queue = done.catch(() => undefined);
      running.set(job.idempotencyKey, { jobId: job.id, controller, done });
      void done.finally(() => running.delete(job.idempotencyKey)).catch(() => undefined);
      return done;
    },
    cancel(jobId) {
      let found = false;
      for (const entry of running.values()) {
        if (entry.jobId !== jobId) continue;
        entry.controller.abort(new Error(`job ${jobId} cancelled`));
        found = true;
      }
      return found;
    },
  };
}
