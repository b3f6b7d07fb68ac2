import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusyWait } from './busy-wait.ts';

const none = () => 0;

test('a refused handshake gets the next free slot at the measured rate, from the minimum wait on', () => {
  const wait = new BusyWait([1_000, 120_000], { initialRate: 100 });
  // A short burst: the minimum wait plus one slot each (10 ms apart at 100/s).
  assert.deepEqual([wait.refused(0, none), wait.refused(0, none), wait.refused(0, none)], [1_000, 1_010, 1_020]);
  // A later refusal queues behind the slots given out (the next begins at 1,030).
  assert.equal(wait.refused(15, none), 1_015);
  assert.equal(wait.refused(10_000, none), 1_000, 'the queue has drained');
});

test('a storm of 10,000 is spread over the time the server needs at its measured rate, not a fixed or growing window', () => {
  const wait = new BusyWait([1_000, 120_000], { initialRate: 1_000 });
  // One second saturated: 600 handshakes completed while others were refused.
  for (let i = 0; i < 600; i++) wait.admitted(500);
  wait.refused(500, none);
  // The next second learns the rate (600/s) and spreads 10,000 over it.
  let last = 0;
  for (let i = 0; i < 10_000; i++) last = wait.refused(1_500, none);
  assert.equal(wait.ratePerSecond, 600);
  assert.ok(Math.abs(last - (1_000 + 10_000 / 0.6)) < 50, `the last of 10,000 comes back after ~17.7 s, told ${last}`);
  // A stalled second (a fleet compile: 50 done) does not lower it.
  for (let i = 0; i < 50; i++) wait.admitted(2_500);
  wait.refused(2_600, none);
  assert.equal(wait.ratePerSecond, 600);
  // Never beyond the cap.
  const capped = new BusyWait([1_000, 60_000], { initialRate: 10 });
  for (let i = 0; i < 5_000; i++) last = capped.refused(0, none);
  assert.equal(last, 60_000);
});

test('jitter stays inside the slot, so devices given neighbouring slots do not arrive together', () => {
  const wait = new BusyWait([1_000, 120_000], { initialRate: 100 });
  assert.equal(wait.refused(0, () => 0.5), 1_005);
  assert.equal(wait.refused(0, () => 0.99), 1_020);
});

test('a second without refusals measures demand, not capacity: the rate is kept', () => {
  const wait = new BusyWait([1_000, 120_000], { initialRate: 800 });
  for (let i = 0; i < 5; i++) wait.admitted(100);
  wait.refused(1_200, none);
  assert.equal(wait.ratePerSecond, 800);
});
