import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationError, parseDuration, readDuration } from './duration.ts';

// The one grammar of durations, for the fleet repository, the server's options and every CLI
// flag: input → milliseconds, or the error code.
const TABLE: Array<[text: string, expected: number | string, options?: { zero: true }]> = [
  ['30s', 30_000],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['7d', 604_800_000],
  ['1h30m', 5_400_000],
  ['1d2h3m4s', 93_784_000],
  ['250ms', 250],
  ['1s500ms', 1_500],
  ['90m', 5_400_000],
  ['0030s', 30_000],
  ['0s', 'duration.zero'],
  ['0s', 0, { zero: true }],
  ['0ms', 0, { zero: true }],
  ['0h0m', 'duration.zero'],
  ['30m1h', 'duration.invalid'],
  ['1h1h', 'duration.invalid'],
  ['1.5s', 'duration.invalid'],
  ['5', 'duration.invalid'],
  ['0', 'duration.invalid'],
  ['5x', 'duration.invalid'],
  ['m5', 'duration.invalid'],
  ['', 'duration.invalid'],
  [' 5m', 'duration.invalid'],
  ['5m ', 'duration.invalid'],
  ['-5m', 'duration.invalid'],
  ['5M', 'duration.invalid'],
  ['1w', 'duration.invalid'],
  ['99999999999999999d', 'duration.too-large'],
];

for (const [text, expected, options] of TABLE) {
  test(`parseDuration(${JSON.stringify(text)}${options ? ', {zero}' : ''}) → ${expected}`, () => {
    if (typeof expected === 'number') {
      assert.equal(parseDuration(text, options), expected);
      assert.equal(readDuration(text, options), expected);
    } else {
      assert.throws(() => parseDuration(text, options), (error) => error instanceof DurationError && error.code === expected);
      assert.equal(readDuration(text, options), undefined);
    }
  });
}

test('a non-string is duration.invalid, not a TypeError', () => {
  assert.throws(() => parseDuration(30 as unknown as string), (error) => error instanceof DurationError && error.code === 'duration.invalid');
});
