import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter, retryDelayMs } from './delivery-policy.ts';

const fixed = (r: number) => () => r;

describe('backoffDelayMs (defaults: 1 s base, 60 s cap)', () => {
  // [attempt that failed, random, expected wait]
  const rows: Array<[number, number, number]> = [
    [1, 0.999999, 1000],
    [1, 0, 500],
    [2, 0.999999, 2000],
    [3, 0.5, 3000],
    [5, 0.999999, 16000],
    [6, 0.999999, 32000],
    [7, 0.999999, 60000],
    [7, 0, 30000],
    [40, 0.999999, 60000],
  ];
  for (const [attempt, random, expected] of rows) {
    it(`attempt ${attempt}, random ${random} → ${expected} ms`, () => {
      assert.equal(backoffDelayMs(attempt, DEFAULT_RETRY_POLICY, fixed(random)), expected);
    });
  }

  it('never exceeds the cap nor goes below half the nominal wait', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
        const ms = backoffDelayMs(attempt, DEFAULT_RETRY_POLICY, fixed(r));
        const nominal = Math.min(60_000, 1000 * 2 ** (attempt - 1));
        assert.ok(ms <= 60_000 && ms >= nominal / 2 && ms <= nominal, `${attempt} ${r} ${ms}`);
      }
    }
  });
});

describe('isRetryableStatus', () => {
  const rows: Array<[number, boolean]> = [
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [599, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [410, false],
    [301, false],
  ];
  for (const [status, expected] of rows) it(`${status} → ${expected}`, () => assert.equal(isRetryableStatus(status), expected));
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2015-10-21T07:28:00Z');
  const rows: Array<[string | null, number | undefined]> = [
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2015 07:27:00 GMT', 0],
    [null, undefined],
    ['', undefined],
    ['-5', undefined],
    ['1.5', undefined],
    ['soon', undefined],
  ];
  for (const [value, expected] of rows) it(`${JSON.stringify(value)} → ${expected}`, () => assert.equal(parseRetryAfter(value, now), expected));
});

describe('retryDelayMs', () => {
  it("uses the server's Retry-After over backoff, bounded by maxRetryAfterMs", () => {
    assert.equal(retryDelayMs(1, 7000, DEFAULT_RETRY_POLICY, fixed(0)), 7000);
    assert.equal(retryDelayMs(1, 0, DEFAULT_RETRY_POLICY, fixed(0)), 0);
    assert.equal(retryDelayMs(1, 3_600_000, DEFAULT_RETRY_POLICY, fixed(0)), 300_000);
    assert.equal(retryDelayMs(2, undefined, DEFAULT_RETRY_POLICY, fixed(0)), 1000);
  });
});
