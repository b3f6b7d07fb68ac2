// A device's jobs as a timeline: newest first, grouped by day, each with its duration and the
// step that decided its outcome. Pure.
import type { JobState, StepResult } from '../../../schemas/protocol.ts';
import { durationBetween } from './format.ts';
import type { JobRecord } from './wire.ts';

export interface TimelineJob {
  id: string;
  revision: string;
  state: JobState;
  /** When it happened, for sorting and the day heading: finished, else started, else created. */
  at: string;
  durationMs: number | undefined;
  attempts: number;
  steps: Array<StepResult & { planned: boolean }>;
  /** The first failed step, when the job failed. */
  failedStep: StepResult | undefined;
  /** Steps planned but never reported (the job did not finish, or stopped early). */
  pendingSteps: number;
}

export interface TimelineDay {
  /** `2024-05-01` (UTC). */
  day: string;
  jobs: TimelineJob[];
}

export function timelineJob(job: JobRecord): TimelineJob {
  const results = job.result?.steps ?? [];
  const byKey = new Map(results.map((s) => [s.key, s]));
  const steps = job.steps.map((planned) => {
    const r = byKey.get(planned.key);
    return r ? { ...r, planned: true } : { key: planned.key, action: planned.action, status: 'skipped' as const, durationMs: 0, planned: false };
  });
  // Results for keys the job did not plan (should not happen) are still shown.
  for (const r of results) if (!job.steps.some((s) => s.key === r.key)) steps.push({ ...r, planned: true });
  const start = job.result?.startedAt ?? job.startedAt ?? job.dispatchedAt;
  const end = job.result?.finishedAt ?? job.finishedAt;
  return {
    id: job.id,
    revision: job.revision,
    state: job.state,
    at: job.finishedAt ?? job.startedAt ?? job.createdAt,
    durationMs: durationBetween(start, end),
    attempts: job.attempts,
    steps,
    failedStep: results.find((s) => s.status === 'failed'),
    pendingSteps: steps.filter((s) => !s.planned).length,
  };
}

export function jobTimeline(jobs: readonly JobRecord[]): TimelineDay[] {
  const items = jobs.map(timelineJob).sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || (a.id < b.id ? 1 : -1));
  const days: TimelineDay[] = [];
  for (const job of items) {
    const day = new Date(job.at).toISOString().slice(0, 10);
    const last = days[days.length - 1];
    if (last && last.day === day) last.jobs.push(job);
    else days.push({ day, jobs: [job] });
  }
  return days;
}

export const JOB_STATE_LABELS: Record<JobState, string> = {
  pending: 'Waiting for device',
  dispatched: 'Dispatched',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  timed_out: 'Timed out',
  cancelled: 'Cancelled',
};

export function isFinalJobState(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'timed_out' || state === 'cancelled';
}
