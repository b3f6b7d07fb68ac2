import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GitSourceError } from '../edges/git/source-errors.ts';
import { StoreError } from '../edges/store/store.ts';
import { BACKOFF_STEPS_MS, FailureStreaks, nextMove, REQUEUE_MS, STALL_MS } from './outcome.ts';

test('an error decides the loop\'s next move, in one place', () => {
  const rows: Array<{ error: unknown; failures: number; kind: string; afterMs: number }> = [
    { error: new StoreError('store.unavailable', 'busy'), failures: 1, kind: 'backoff', afterMs: BACKOFF_STEPS_MS[0]! },
    { error: new StoreError('store.unavailable', 'busy'), failures: 3, kind: 'backoff', afterMs: BACKOFF_STEPS_MS[2]! },
    { error: new StoreError('store.unavailable', 'busy'), failures: 99, kind: 'backoff', afterMs: BACKOFF_STEPS_MS.at(-1)! },
    { error: new StoreError('store.internal', 'odd', { transient: true }), failures: 1, kind: 'backoff', afterMs: BACKOFF_STEPS_MS[0]! },
    { error: new StoreError('store.internal', 'odd'), failures: 1, kind: 'requeue', afterMs: REQUEUE_MS },
    { error: new StoreError('store.closed', 'closed'), failures: 1, kind: 'stall', afterMs: STALL_MS },
    { error: new StoreError('store.schema-too-new', 'newer'), failures: 1, kind: 'stall', afterMs: STALL_MS },
    { error: new GitSourceError('git.fetch-failed', 'network'), failures: 2, kind: 'backoff', afterMs: BACKOFF_STEPS_MS[1]! },
    { error: new GitSourceError('git.auth-failed', '401'), failures: 1, kind: 'stall', afterMs: STALL_MS },
    { error: new GitSourceError('git.branch-missing', 'gone'), failures: 1, kind: 'stall', afterMs: STALL_MS },
    { error: new TypeError('bug'), failures: 1, kind: 'requeue', afterMs: REQUEUE_MS },
  ];
  for (const row of rows) {
    const move = nextMove(row.error, row.failures);
    assert.equal(move.kind, row.kind, String(row.error));
    assert.equal(move.afterMs, row.afterMs, String(row.error));
  }
});

test('failure streaks count per key until a success', () => {
  const streaks = new FailureStreaks();
  assert.equal(streaks.failed('a'), 1);
  assert.equal(streaks.failed('a'), 2);
  assert.equal(streaks.failed('b'), 1);
  streaks.succeeded('a');
  assert.equal(streaks.failed('a'), 1);
});
