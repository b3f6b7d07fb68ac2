import assert from 'node:assert/strict';
import { test } from 'node:test';
import { job } from './builders.ts';
import { jobTimeline, timelineJob } from './timeline.ts';

const steps = [
  { action: 'file.write' as const, key: 'file//etc/a', path: '/etc/a', sha256: 'x', size: 1 },
  { action: 'file.write' as const, key: 'file//etc/b', path: '/etc/b', sha256: 'y', size: 1 },
];

test('timelineJob: duration from the result, the failed step, steps never reported', () => {
  const j = timelineJob(
    job({
      id: 'j1',
      state: 'failed',
      steps,
      finishedAt: '2024-05-01T10:00:05Z',
      result: {
        jobId: 'j1', idempotencyKey: 'k', status: 'failed', observed: [],
        startedAt: '2024-05-01T10:00:01.000Z', finishedAt: '2024-05-01T10:00:03.500Z',
        steps: [{ key: 'file//etc/a', action: 'file.write', status: 'failed', exitCode: 2, error: 'EACCES', output: 'denied', durationMs: 12 }],
      },
    }),
  );
  assert.equal(j.durationMs, 2500);
  assert.equal(j.failedStep?.key, 'file//etc/a');
  assert.equal(j.failedStep?.exitCode, 2);
  assert.equal(j.pendingSteps, 1);
  assert.deepEqual(j.steps.map((s) => [s.key, s.status, s.planned]), [['file//etc/a', 'failed', true], ['file//etc/b', 'skipped', false]]);
});

test('a pending job has no duration', () => {
  assert.equal(timelineJob(job({ id: 'p', state: 'pending', steps })).durationMs, undefined);
});

test('jobTimeline: newest first, grouped by UTC day', () => {
  const days = jobTimeline([
    job({ id: 'a', createdAt: '2024-05-01T08:00:00Z', finishedAt: '2024-05-01T08:00:10Z' }),
    job({ id: 'b', createdAt: '2024-05-02T08:00:00Z', finishedAt: '2024-05-02T08:00:10Z' }),
    job({ id: 'c', createdAt: '2024-05-01T23:59:00Z', startedAt: '2024-05-01T23:59:30Z', state: 'running' }),
    job({ id: 'd', createdAt: '2024-05-02T09:00:00Z', state: 'pending' }),
  ]);
  assert.deepEqual(days.map((d) => [d.day, d.jobs.map((j) => j.id)]), [['2024-05-02', ['d', 'b']], ['2024-05-01', ['c', 'a']]]);
});
