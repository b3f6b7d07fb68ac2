import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, backoffDelay, ReconnectBackoff, type BackoffPolicy, type ReconnectPolicy } from './backoff.ts';
import { seededRandom as seeded } from './seeded-random.ts';

const ONE_TO_SIXTY: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

describe('backoffDelay', () => {
  it('grows the ceiling 1 s → 2 s → 4 s … and caps it (random = 1 gives the ceiling)', () => {
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map((attempt) => backoffDelay(attempt, ONE_TO_SIXTY, () => 1));
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  });

  it('full jitter (default): uniform between the floor and the ceiling', () => {
    const table: Array<[attempt: number, random: number, expected: number]> = [
      [0, 0, 0],
      [0, 0.5, 500],
      [3, 0.25, 2000],
      [6, 0.1, 6000],
      [9, 0.999, 59940],
    ];
    for (const [attempt, random, expected] of table) {
      assert.equal(backoffDelay(attempt, ONE_TO_SIXTY, () => random), expected, `attempt ${attempt}, random ${random}`);
    }
  });

  it('equal jitter: uniform between half the ceiling and the ceiling (rollout and notification retries)', () => {
    const rollout: BackoffPolicy = { baseMs: 30_000, capMs: 600_000, jitter: 'equal' };
    const table: Array<[attempt: number, random: number, expected: number]> = [
      [0, 0, 15_000],
      [0, 1, 30_000],
      [1, 0.5, 45_000],
      [4, 0, 240_000],
      [10, 1, 600_000],
      [10, 0, 300_000],
    ];
    for (const [attempt, random, expected] of table) {
      assert.equal(backoffDelay(attempt, rollout, () => random), expected, `attempt ${attempt}, random ${random}`);
    }
  });

  it('keeps a floor when the policy has one, never above the ceiling', () => {
    const refused: BackoffPolicy = { baseMs: 30_000, capMs: 600_000, minMs: 15_000 };
    assert.equal(backoffDelay(0, refused, () => 0), 15_000);
    assert.equal(backoffDelay(0, refused, () => 1), 30_000);
    assert.equal(backoffDelay(0, { baseMs: 100, capMs: 1000, minMs: 5000 }, () => 0.5), 100);
  });

  it('clamps a random source outside [0, 1] and NaN to the ceiling', () => {
    assert.equal(backoffDelay(0, ONE_TO_SIXTY, () => 7), 1000);
    assert.equal(backoffDelay(0, ONE_TO_SIXTY, () => -1), 0);
    assert.equal(backoffDelay(0, ONE_TO_SIXTY, () => NaN), 1000);
  });

  it('spreads 10,000 agents over the whole window instead of one wave', () => {
    const random = seeded(42);
    const delays = Array.from({ length: 10_000 }, () => backoffDelay(6, ONE_TO_SIXTY, random));
    const buckets = new Array<number>(60).fill(0);
    for (const d of delays) buckets[Math.min(59, Math.floor(d / 1000))]!++;
    assert.ok(Math.max(...buckets) < 250, `no second of the minute gets more than 2.5 % (max ${Math.max(...buckets)})`);
    assert.ok(Math.min(...buckets) > 100, `every second gets some (min ${Math.min(...buckets)})`);
  });

  it('Backoff counts attempts and starts over after reset()', () => {
    const backoff = new Backoff(ONE_TO_SIXTY, () => 1);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [1000, 2000, 4000]);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.next(), 1000);
  });
});

describe('ReconnectBackoff', () => {
  const policy: ReconnectPolicy = { baseMs: 500, capMs: 60_000, outageCapMs: 5_000, outageMs: 60_000, stableSessionMs: 10_000 };

  it('resets only after a session lived stableSessionMs; a shorter session keeps the count', () => {
    const b = new ReconnectBackoff(policy, () => 1);
    let t = 0;
    // The server is down: 0.5, 1, 2, 4 s, then the outage ceiling of 5 s.
    const failing = [b.failed(t), b.failed((t += 500)), b.failed((t += 1_000)), b.failed((t += 2_000)), b.failed((t += 4_000))];
    assert.deepEqual(failing, [500, 1_000, 2_000, 4_000, 5_000]);
    // A session of 3 s (the server came up and went again): no reset, the count goes on.
    b.connected((t += 5_000));
    assert.equal(b.sessionEnded((t += 3_000)), 5_000);
    // A session of 10 s: the next wait is back at the first window.
    b.connected((t += 5_000));
    assert.equal(b.sessionEnded((t += 10_000)), 500);
  });

  it('retries within outageCapMs for the first outageMs of an outage, then grows to capMs', () => {
    const b = new ReconnectBackoff(policy, () => 1);
    let t = 0;
    const waits: number[] = [];
    while (t < 120_000) {
      const wait = b.failed(t);
      waits.push(wait);
      t += wait;
    }
    const early = waits.slice(0, waits.findIndex((_, i) => waits.slice(0, i + 1).reduce((a, w) => a + w, 0) >= 60_000));
    assert.ok(early.every((w) => w <= 5_000), `every wait in the first minute ≤ 5 s: ${early.join(', ')}`);
    assert.ok(waits.some((w) => w > 5_000), `after a minute the waits grow: ${waits.join(', ')}`);
    assert.ok(waits.every((w) => w <= 60_000));
  });

  it('after a reset, 10,000 agents dropped at once spread over the first window, not all at 0', () => {
    const random = seeded(7);
    const first = Array.from({ length: 10_000 }, () => {
      const b = new ReconnectBackoff(policy, random);
      b.connected(0);
      return b.sessionEnded(3_600_000);
    });
    const atZero = first.filter((w) => w === 0).length;
    assert.ok(atZero < 50, `almost nobody retries at once (${atZero})`);
    const halves = [first.filter((w) => w < 250).length, first.filter((w) => w >= 250).length];
    assert.ok(halves.every((n) => n > 4_000), `both halves of the window get a share: ${halves.join(' / ')}`);
  });

  it('a server-given retryAfterMs is the wait, and does not grow the count', () => {
    const b = new ReconnectBackoff(policy, () => 1);
    assert.equal(b.failed(0), 500);
    assert.equal(b.told(1_000, 2_345), 2_345);
    assert.equal(b.told(4_000, 1_200), 1_200);
    assert.equal(b.failed(6_000), 1_000, 'the count is where the last failure left it');
  });
});
