import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration, relativeTime, revisionOid, shortRevision } from './format.ts';

const oid = '0123456789abcdef0123456789abcdef01234567';

test('shortRevision', () => {
  const cases: Array<[string | null, string]> = [
    [`main@sha1:${oid}`, 'main@0123456'],
    ['release/1.2@sha1:abcdef0', 'release/1.2@abcdef0'],
    ['not-a-revision', 'not-a-revision'],
    [null, '—'],
  ];
  for (const [input, out] of cases) assert.equal(shortRevision(input), out, String(input));
  assert.equal(revisionOid(`main@sha1:${oid}`), oid);
  assert.equal(revisionOid('x'), undefined);
});

test('relativeTime', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  const cases: Array<[string | null, string]> = [
    [null, 'never'],
    ['2024-05-01T12:00:02Z', 'just now'],
    ['2024-05-01T11:59:18Z', '42 s ago'],
    ['2024-05-01T11:55:00Z', '5 min ago'],
    ['2024-05-01T09:00:00Z', '3 h ago'],
    ['2024-04-29T12:00:00Z', '2 d ago'],
    ['2024-05-01T12:10:00Z', 'in 10 min'],
    ['garbage', '—'],
  ];
  for (const [input, out] of cases) assert.equal(relativeTime(input, now), out, String(input));
});

test('formatDuration', () => {
  const cases: Array<[number | undefined, string]> = [
    [undefined, '—'],
    [-1, '—'],
    [850, '850 ms'],
    [4_200, '4.2 s'],
    [42_000, '42 s'],
    [185_000, '3 min 05 s'],
    [7_620_000, '2 h 07 min'],
  ];
  for (const [input, out] of cases) assert.equal(formatDuration(input), out, String(input));
});

test('formatBytes', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(8 * 2 ** 30), '8.0 GiB');
  assert.equal(formatBytes(undefined), '—');
});
