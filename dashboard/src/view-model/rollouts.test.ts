import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Role } from '../../../schemas/protocol.ts';
import { counts } from './builders.ts';
import { currentWave, haltedReason, progressOf, rolloutCommands, sortRollouts, waitingText, wavePhase } from './rollouts.ts';
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
    const got = Object.fromEntries(rolloutCommands(view(status, awaiting), role).filter((b) => b.command !== 'start-now').map((b) => [b.command, [b.applicable, b.allowed]]));
    assert.deepEqual(got, expected, `${status} as ${role}`);
  }
  assert.equal(rolloutCommands(view('paused'), 'viewer').find((b) => b.command === 'resume')!.hint, 'Operators and admins only');
  // Start now: only for a wave a window or a pause holds; an operator may, a viewer may not.
  const held = (kind: 'window' | 'pause' | 'promotion', role: Role) =>
    rolloutCommands({ ...view('progressing'), waiting: { kind, reason: '', until: null, wave: 0 } }, role).find((b) => b.command === 'start-now')!;
  assert.deepEqual([held('window', 'operator').applicable, held('window', 'operator').allowed], [true, true]);
  assert.deepEqual([held('pause', 'viewer').applicable, held('pause', 'viewer').allowed], [true, false]);
  assert.equal(held('promotion', 'admin').applicable, false);
  assert.equal(rolloutCommands(view('progressing'), 'admin').find((b) => b.command === 'start-now')!.applicable, false);
});

test('wavePhase and haltedReason', () => {
  const wave = (index: number, extra: Partial<WaveView> = {}): WaveView => ({
    index, name: `w${index}`, implicit: false, manualPromotion: false, failureThreshold: 0, maxParallel: 1, counts: counts({ waiting: 1 }), startedAt: null, completedAt: null, promotedAt: null, ...extra,
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

test('a waiting wave, a skipped empty wave, the current wave never defaults to the first', () => {
  const wv = (index: number, total: number, started = false, completed = false) =>
    ({ index, name: `w${index}`, implicit: false, manualPromotion: false, failureThreshold: 0, maxParallel: 1, counts: { total, waiting: total, running: 0, succeeded: 0, failed: 0, retrying: 0, offline: 0 }, startedAt: started ? 'x' : null, completedAt: completed ? 'x' : null, promotedAt: null }) as const;
  const between = { activeWave: null, awaitingPromotion: null, halted: null, waiting: { kind: 'pause' as const, reason: 'pause between waves', until: null, wave: 1 }, waves: [wv(0, 1, true, true), wv(1, 3), wv(2, 0)] };
  assert.equal(wavePhase(between, between.waves[1]!), 'waiting');
  assert.equal(wavePhase(between, between.waves[2]!), 'skipped');
  assert.equal(currentWave(between)?.index, 1);
  assert.equal(currentWave({ ...between, waiting: null }), undefined, 'finished, or between waves with no reason: no wave named');
});

test('waitingText adds the viewer’s own time and what is left', () => {
  const waiting = { kind: 'window' as const, reason: 'outside its maintenance windows', until: '2026-12-07T19:00:00.000Z', wave: 0, timeZone: 'Europe/Amsterdam' };
  assert.equal(waitingText(waiting, Date.parse('2026-12-07T17:30:00.000Z'), 'America/New_York'), 'outside its maintenance windows — Mon 14:00 your time, in 90 min');
  assert.equal(waitingText({ ...waiting, until: null }), 'outside its maintenance windows');
});
