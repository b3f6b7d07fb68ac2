import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiscoveryNotices, SourceRateLimiter } from './discovery-guard.ts';

test('a source gets its burst, then its refill rate; other sources are not affected', () => {
  const limiter = new SourceRateLimiter({ perSourceBurst: 3, perSourcePerMinute: 6, maxTrackedSources: 10 });
  const taken = Array.from({ length: 5 }, () => limiter.take('a', 0));
  assert.deepEqual(taken, [true, true, true, false, false]);
  assert.equal(limiter.take('b', 0), true);
  assert.equal(limiter.take('a', 10_000), true, 'one token back after 10 s at 6 a minute');
  assert.equal(limiter.take('a', 10_000), false);
});

test('discovery notices: the first at once, the rest of the window as one count', () => {
  const told: Array<[string, number]> = [];
  const notices = new DiscoveryNotices<string>((mac, count) => told.push([mac, count]), 60_000);
  for (let i = 0; i < 100; i++) notices.add(`m${i}`, 1_000 + i);
  assert.deepEqual(told, [['m0', 1]]);
  notices.flush();
  assert.deepEqual(told, [['m0', 1], ['m99', 99]]);
});
