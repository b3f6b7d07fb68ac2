import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission, type Candidate } from './admission.ts';

/** A candidate whose check ends when the test says so; records how it was answered. */
function candidate(log: string[], name: string, alive = () => true): Candidate & { finish(): void } {
  let finish = (): void => {};
  return {
    start: () => {
      log.push(`${name} checked`);
      return new Promise<void>((resolve) => (finish = resolve));
    },
    alive,
    refuse: (ms) => log.push(`${name} refused ${ms}`),
    finish: () => finish(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('beyond the concurrent checks a handshake waits its turn, in order, and is not refused', async () => {
  const log: string[] = [];
  const admission = new Admission({ maxConcurrent: 2, retryAfterMs: [1_000, 60_000], queueWaitMs: 5_000 }, () => 0);
  const all = ['a', 'b', 'c', 'd'].map((n) => candidate(log, n));
  for (const c of all) admission.offer(c);
  assert.deepEqual(log, ['a checked', 'b checked']);
  assert.equal(admission.waiting, 2);
  all[1]!.finish();
  await tick();
  all[0]!.finish();
  await tick();
  assert.deepEqual(log, ['a checked', 'b checked', 'c checked', 'd checked']);
  assert.equal(admission.refusals, 0);
  admission.close();
});

test('the queue holds what the server completes in queueWaitMs at its rate; the rest get appointments after it', () => {
  const log: string[] = [];
  // 1,000 a second (the initial rate) × 0.05 s: 50 may wait.
  const admission = new Admission({ maxConcurrent: 1, retryAfterMs: [100, 60_000], queueWaitMs: 50, random: () => 0 }, () => 0);
  for (let i = 0; i < 60; i++) admission.offer(candidate(log, `h${i}`));
  assert.equal(admission.checking, 1);
  assert.equal(admission.waiting, 50);
  const refused = log.filter((l) => l.includes('refused'));
  assert.equal(refused.length, 9);
  // The first refused comes back after the 50 waiting (50 ms at 1,000/s) — here the 100 ms floor.
  assert.equal(refused[0], 'h51 refused 100');
  assert.equal(admission.refusals, 9);
  admission.close();
  assert.equal(admission.waiting, 0);
  assert.equal(log.filter((l) => l.includes('refused')).length, 59, 'closing refuses everyone still waiting');
});

test('a handshake that waited longer than queueWaitMs is refused with an appointment, and one whose client left is skipped', async () => {
  const log: string[] = [];
  let now = 0;
  const admission = new Admission({ maxConcurrent: 1, retryAfterMs: [100, 60_000], queueWaitMs: 200, random: () => 0 }, () => now);
  const first = candidate(log, 'first');
  admission.offer(first);
  let goneAlive = true;
  admission.offer(candidate(log, 'gone', () => goneAlive));
  admission.offer(candidate(log, 'late'));
  goneAlive = false;
  now = 1_000;
  first.finish();
  await tick();
  assert.deepEqual(log, ['first checked', 'late refused 100']);
  admission.close();
});

test('the expiry timer refuses a queue that stopped moving (a stalled check)', async () => {
  const log: string[] = [];
  const admission = new Admission({ maxConcurrent: 1, retryAfterMs: [100, 60_000], queueWaitMs: 60, random: () => 0 });
  admission.offer(candidate(log, 'stuck'));
  admission.offer(candidate(log, 'waiting'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(log, ['stuck checked', 'waiting refused 100']);
  assert.equal(admission.waiting, 0);
  admission.close();
});

test('queueWaitMs 0: no queue, everything beyond the checks is refused', () => {
  const log: string[] = [];
  const admission = new Admission({ maxConcurrent: 1, retryAfterMs: [100, 60_000], queueWaitMs: 0, random: () => 0 }, () => 0);
  for (const n of ['a', 'b', 'c']) admission.offer(candidate(log, n));
  assert.deepEqual(log, ['a checked', 'b refused 100', 'c refused 101']);
});
