// Whether a runner's task status report is acceptable, and whether it ends the run. Pure, so the
// store can apply it inside the transaction that records the step.
//
// Tasks run strictly in order: a report is for the next task not yet finished (or a repeat of the
// `started` it already sent, which is accepted and not recorded twice). A task that fails without
// `continueOnError` ends the run as failed; the last task finishing ends it as succeeded.

export const STEP_STATUSES = ['started', 'succeeded', 'failed'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepReport {
  index: number;
  status: StepStatus;
}

export type StepVerdict =
  | { ok: true; duplicate: boolean; finish?: 'succeeded' | 'failed' }
  | { ok: false; code: 'pxe.step-index' | 'pxe.step-order'; message: string };

export function acceptStep(
  tasks: ReadonlyArray<{ continueOnError: boolean }>,
  history: readonly StepReport[],
  report: StepReport,
): StepVerdict {
  if (!Number.isInteger(report.index) || report.index < 0 || report.index >= tasks.length) {
    return { ok: false, code: 'pxe.step-index', message: `task ${report.index} does not exist (the run has ${tasks.length})` };
  }
  const last = new Map<number, StepStatus>();
  for (const h of history) last.set(h.index, h.status);
  let next = 0;
  while (next < tasks.length && (last.get(next) === 'succeeded' || last.get(next) === 'failed')) next++;
  if (report.index !== next) {
    return {
      ok: false,
      code: 'pxe.step-order',
      message: next === tasks.length ? 'every task has finished' : `task ${report.index} reported while task ${next} is the next to run`,
    };
  }
  if (report.status === 'started') return { ok: true, duplicate: last.get(next) === 'started' };
  const stops = report.status === 'failed' && !tasks[next]!.continueOnError;
  if (stops) return { ok: true, duplicate: false, finish: 'failed' };
  return next === tasks.length - 1 ? { ok: true, duplicate: false, finish: 'succeeded' } : { ok: true, duplicate: false };
}
