import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusyWait } from './busy-wait.ts';

const half = () => 0.5;

test('the busy wait grows while refusals outpace admissions, and shrinks back when they stop', () => {
  const wait = new BusyWait([1_000, 5_000], 60_000);
  let t = 0;
  // A short burst: the configured window.
  assert.equal(wait.refused(t, half), 3_000);
  // A long one: 550 refused and 25 admitted every second.
  for (let second = 0; second < 10; second++) {
    t += 1_000;
    for (let i = 0; i < 25; i++) wait.admitted(t);
    for (let i = 0; i < 550; i++) wait.refused(t, half);
  }
  assert.equal(wait.maxWaitMs, 60_000, 'grown to the cap');
  assert.ok(wait.refused(t, () => 0.99) > 50_000);
  assert.equal(wait.refused(t, () => 0), 1_000, 'never below the configured minimum');
  // The load is gone: admissions outnumber refusals, back to the configured window.
  for (let second = 0; second < 12; second++) {
    t += 1_000;
    wait.admitted(t);
  }
  t += 1_000;
  assert.equal(wait.refused(t, half), 3_000);
});

test('a balanced load keeps the window where it is', () => {
  const wait = new BusyWait([1_000, 5_000]);
  let t = 0;
  for (let second = 0; second < 5; second++) {
    t += 1_000;
    for (let i = 0; i < 100; i++) wait.admitted(t);
    for (let i = 0; i < 150; i++) wait.refused(t, half);
  }
  assert.equal(wait.maxWaitMs, 5_000);
});
