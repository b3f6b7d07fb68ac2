import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, backoffDelay, CONNECT_BACKOFF, REFUSED_BACKOFF, type BackoffPolicy } from './backoff.ts';

/** A seeded PRNG (mulberry32), so the spread test is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoffDelay', () => {
  it('grows the ceiling 1 s → 2 s → 4 s … and caps it at 60 s (random = 1 gives the ceiling)', () => {
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map((attempt) => backoffDelay(attempt, CONNECT_BACKOFF, () => 1));
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  });

  it('is fully jittered: uniform between 0 and the ceiling', () => {
    const table: Array<[attempt: number, random: number, expected: number]> = [
      [0, 0, 0],
      [0, 0.5, 500],
      [3, 0.25, 2000],
      [6, 0.1, 6000],
      [9, 0.999, 59940],
    ];
    for (const [attempt, random, expected] of table) {
      assert.equal(backoffDelay(attempt, CONNECT_BACKOFF, () => random), expected, `attempt ${attempt}, random ${random}`);
    }
  });

  it('keeps a floor when the policy has one (refused handshakes wait longer)', () => {
    assert.equal(backoffDelay(0, REFUSED_BACKOFF, () => 0), 15_000);
    assert.equal(backoffDelay(0, REFUSED_BACKOFF, () => 1), 30_000);
    assert.equal(backoffDelay(50, REFUSED_BACKOFF, () => 1), 600_000);
    const tight: BackoffPolicy = { baseMs: 100, capMs: 1000, minMs: 5000 };
    assert.equal(backoffDelay(0, tight, () => 0.5), 100, 'the floor never exceeds the ceiling');
  });

  it('spreads 10,000 agents restarting at once over the whole window instead of one wave', () => {
    const random = seeded(42);
    const delays = Array.from({ length: 10_000 }, () => backoffDelay(6, CONNECT_BACKOFF, random));
    const buckets = new Array<number>(60).fill(0);
    for (const d of delays) buckets[Math.min(59, Math.floor(d / 1000))]!++;
    assert.ok(Math.max(...buckets) < 250, `no second of the minute gets more than 2.5 % (max ${Math.max(...buckets)})`);
    assert.ok(Math.min(...buckets) > 100, `every second gets some (min ${Math.min(...buckets)})`);
    assert.equal(new Set(delays).size > 5000, true, 'delays are not in lock-step');
  });

  it('Backoff counts attempts and starts over after reset()', () => {
    const backoff = new Backoff(CONNECT_BACKOFF, () => 1);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [1000, 2000, 4000]);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.next(), 1000);
  });
});
