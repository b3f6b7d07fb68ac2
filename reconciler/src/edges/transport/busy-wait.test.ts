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
  // Five seconds saturated: 600 handshakes completed in each while others were refused (they
  // push the initial rate out of the seconds remembered).
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < 600; i++) wait.admitted(s * 1_000 + 500);
    wait.refused(s * 1_000 + 500, none);
  }
  // The next second has learnt the rate (600/s) and spreads 10,000 over it.
  const now = 5_500;
  let last = 0;
  for (let i = 0; i < 10_000; i++) last = wait.refused(now, none);
  assert.equal(wait.ratePerSecond, 600);
  assert.ok(Math.abs(last - (1_000 + 10_000 / 0.6)) < 50, `the last of 10,000 comes back after ~17.7 s, told ${last}`);
  // A stalled second (a fleet compile: 50 done) does not lower it.
  for (let i = 0; i < 50; i++) wait.admitted(now + 1_000);
  wait.refused(now + 1_100, none);
  assert.equal(wait.ratePerSecond, 600);
  // Never beyond the horizon: slots that would lie further are not given.
  const capped = new BusyWait([1_000, 60_000], { initialRate: 10 });
  for (let i = 0; i < 5_000; i++) last = capped.refused(0, none);
  assert.equal(last, 1_000, 'beyond the horizon: a random wait within it (here the shortest)');
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

test('a slow rate does not send devices away for minutes: beyond the horizon they are told to ask again within it', () => {
  // A server measured at 30 handshakes a second (a cold start under a profiler did that).
  const wait = new BusyWait([1_000, 20_000], { initialRate: 30 });
  wait.refused(500, () => 0);
  assert.equal(wait.ratePerSecond, 30);
  // 3,350 refused at that rate: before, the last was told 3,350 / 30 s ≈ 112 s.
  const told: number[] = [];
  for (let i = 0; i < 3_350; i++) told.push(wait.refused(1_500, () => 0.999));
  assert.ok(Math.max(...told) <= 20_000, `longest wait ${Math.max(...told)} ms`);
  // Those within the horizon keep their slots, one after the other at the measured rate...
  const slotted = told.filter((ms, i) => i === 0 || ms > told[i - 1]!);
  assert.ok(slotted.length >= 500 && slotted.length <= 600, `${slotted.length} slots within 20 s at 30/s`);
  // ...the others come back spread over it, and then get a slot at the rate measured then.
  const beyond = told.slice(slotted.length);
  assert.ok(beyond.every((ms) => ms >= 1_000 && ms <= 20_000));
  const spread = new BusyWait([1_000, 20_000], { initialRate: 1_000 });
  const random = [0, 0.5, 0.99];
  for (let i = 0; i < 20_000; i++) spread.refused(0, () => 0);
  assert.deepEqual(random.map((r) => spread.refused(0, () => r)), [1_000, 10_500, 19_810]);
  // Not before the queue ahead of them is through.
  assert.equal(spread.refused(0, () => 0, 5_000), 5_000);
});

test('the optimistic initial rate counts among the remembered seconds: one cold first second does not set the rate', () => {
  const wait = new BusyWait([1_000, 60_000], { initialRate: 1_000 });
  // Saturated seconds after a restart: cold at first, then what the server really does.
  const seconds = [30, 80, 300, 550, 600, 610];
  const rates: number[] = [];
  seconds.forEach((done, s) => {
    for (let i = 0; i < done; i++) wait.admitted(s * 1_000 + 500);
    wait.queued(s * 1_000 + 600);
    wait.refused((s + 1) * 1_000 + 500, () => 0);
    rates.push(wait.ratePerSecond);
  });
  // The initial rate is one of the five seconds remembered: it stands until five measured seconds
  // have pushed it out; then the best of those.
  assert.deepEqual(rates, [1_000, 1_000, 1_000, 1_000, 600, 610]);
});
