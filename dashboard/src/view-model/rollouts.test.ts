import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Role } from '../../../schemas/protocol.ts';
import { counts } from './builders.ts';
import { haltedReason, progressOf, rolloutCommands, sortRollouts, wavePhase } from './rollouts.ts';
import type { RolloutView, WaveView } from './wire.ts';

test('progressOf counts ends reached and draws segments', () => {
  const p = progressOf(counts({ succeeded: 6, failed: 1, offline: 1, running: 2 }));
  assert.equal(p.total, 10);
  assert.equal(p.done, 8);
  assert.equal(p.percent, 80);
  assert.deepEqual(p.segments.map((s) => [s.status, s.count, s.percent]), [['succeeded', 6, 60], ['failed', 1, 10], ['offline', 1, 10], ['running', 2, 20]]);
  assert.equal(progressOf(counts({})).percent, 0);
});

const view = (status: RolloutView['status'], awaitingPromotion: number | null = null): Pick<RolloutView, 'status' | 'awaitingPromotion'> => ({ status, awaitingPromotion });

test('rolloutCommands by status and role', () => {
  const cases: Array<[RolloutView['status'], number | null, Role, Record<string, [boolean, boolean]>]> = [
    ['progressing', null, 'operator', { promote: [false, true], pause: [true, true], resume: [false, true] }],
    ['progressing', 1, 'admin', { promote: [true, true], pause: [true, true], resume: [false, true] }],
    ['paused', null, 'operator', { promote: [false, true], pause: [false, true], resume: [true, true] }],
    ['halted', null, 'viewer', { promote: [false, false], pause: [false, false], resume: [true, false] }],
    ['completed', null, 'admin', { promote: [false, true], pause: [false, true], resume: [false, true] }],
  ];
  for (const [status, awaiting, role, expected] of cases) {
    const got = Object.fromEntries(rolloutCommands(view(status, awaiting), role).map((b) => [b.command, [b.applicable, b.allowed]]));
    assert.deepEqual(got, expected, `${status} as ${role}`);
  }
  assert.equal(rolloutCommands(view('paused'), 'viewer')[2]!.hint, 'Operators and admins only');
});

test('wavePhase and haltedReason', () => {
  const wave = (index: number, extra: Partial<WaveView> = {}): WaveView => ({
    index, name: `w${index}`, implicit: false, manualPromotion: false, failureThreshold: 0, maxParallel: 1, counts: counts({}), startedAt: null, completedAt: null, promotedAt: null, ...extra,
  });
  const r = { activeWave: 1, awaitingPromotion: 2, halted: null };
  assert.equal(wavePhase(r, wave(0, { completedAt: 'x' })), 'done');
  assert.equal(wavePhase(r, wave(1)), 'running');
  assert.equal(wavePhase(r, wave(2)), 'awaiting-promotion');
  assert.equal(wavePhase(r, wave(3)), 'pending');
  assert.equal(wavePhase({ ...r, halted: { wave: 1, name: 'w1', threshold: 0, devices: ['a'] } }, wave(1)), 'halted');
  assert.equal(haltedReason({ halted: { wave: 0, name: 'canary', threshold: 1, devices: ['a', 'b'] } }), 'Halted in canary: 2 devices failed (the wave tolerates 1)');
  assert.equal(haltedReason({ halted: null }), undefined);
});

test('sortRollouts puts the ones needing attention first', () => {
  const r = (id: string, status: string, createdAt: string) => ({ id, status, createdAt }) as RolloutView;
  assert.deepEqual(
    sortRollouts([r('a', 'completed', '2024-05-03'), r('b', 'progressing', '2024-05-01'), r('c', 'halted', '2024-05-02'), r('d', 'completed', '2024-05-04')]).map((x) => x.id),
    ['c', 'b', 'd', 'a'],
  );
});
