import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ValidationIssue } from '../../core/errors.ts';
import { createEvent, type FleetEvent, issueRefs, outputTail, shortRevision, summarize } from './events.ts';
import { AT, deviceFailed, REVISION, revisionAccepted, revisionRejected, rolloutEnded, rolloutHalted, waveCompleted } from './test-events.ts';

describe('summarize', () => {
  const rows: Array<[string, FleetEvent, string]> = [
    ['accepted', revisionAccepted(), 'revision main@abc1234 accepted: Bump nginx to 1.24 (Ada Lovelace <ada@example.com>)'],
    ['accepted without commit details', revisionAccepted({ author: undefined, message: undefined }), 'revision main@abc1234 accepted'],
    ['rejected, several errors', revisionRejected(), 'revision main@abc1234 rejected: 3 errors (groups/web.yaml:12 schema.unknown-key …)'],
    [
      'rejected, one error',
      revisionRejected({ errorCount: 1, errors: revisionRejected().errors.slice(0, 1) }),
      'revision main@abc1234 rejected: 1 error (groups/web.yaml:12 schema.unknown-key)',
    ],
    ['rejected, no error listed', revisionRejected({ errorCount: 0, errors: [] }), 'revision main@abc1234 rejected'],
    ['wave completed', waveCompleted(), 'web-eu @ main@abc1234: wave canary completed: 1/1 succeeded'],
    [
      'unnamed wave with offline devices',
      waveCompleted({ wave: { index: 1 }, counts: { succeeded: 18, failed: 0, offline: 2, total: 20 } }),
      'web-eu @ main@abc1234: wave #2 completed: 18/20 succeeded, 2 offline',
    ],
    ['completed', rolloutEnded(), 'web-eu @ main@abc1234: 212/212 succeeded'],
    [
      'partial',
      rolloutEnded('rollout.partial', { succeeded: 209, failed: 2, offline: 1, total: 212 }),
      'web-eu @ main@abc1234 (partial): 209/212 succeeded, 2 failed, 1 offline',
    ],
    ['failed', rolloutEnded('rollout.failed', { succeeded: 0, failed: 3, offline: 0, total: 3 }), 'web-eu @ main@abc1234 (failed): 0/3 succeeded, 3 failed'],
    ['halted', rolloutHalted(), 'rollout web-server halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)'],
    [
      'halted, more failures than names shown',
      rolloutHalted({
        waveCounts: { succeeded: 5, failed: 5, offline: 0, total: 10 },
        failedDevices: ['d1', 'd2', 'd3', 'd4'].map((device) => ({ device })),
      }),
      'rollout web-server halted in wave canary: 5 of 10 failed (d1, d2, d3, +2 more)',
    ],
    [
      'rollout without a profile (fleet-wide policy)',
      rolloutHalted({ profile: undefined, wave: { index: 2 }, failedDevices: [] }),
      'rollout halted in wave #3: 2 of 5 failed (+2 more)',
    ],
    ['completed without a profile', createEvent({ ...rolloutEnded(), profile: undefined }), 'main@abc1234: 212/212 succeeded'],
    ['device failed', deviceFailed(), 'device web-eu-03 failed on web-eu @ main@abc1234: exit code 1'],
    [
      'device failed, multi-line error, no profile',
      deviceFailed({ profile: undefined, error: '\n  step file:/etc/motd failed\nstack…' }),
      'device web-eu-03 failed @ main@abc1234: step file:/etc/motd failed',
    ],
  ];
  for (const [name, event, expected] of rows) {
    it(name, () => {
      assert.equal(summarize(event), expected);
      assert.equal(event.summary, expected, 'createEvent stores the same summary');
    });
  }

  it('keeps a summary on one bounded line', () => {
    const long = revisionAccepted({ message: 'x'.repeat(500) + '\nsecond line' });
    assert.ok(!long.summary.includes('\n'));
    assert.ok(long.summary.length < 200, long.summary);
    assert.ok(long.summary.includes('…'));
  });
});

describe('shortRevision', () => {
  const rows: Array<[string, string]> = [
    [REVISION, 'main@abc1234'],
    ['origin/main@sha1:0123456789abcdef0123456789abcdef01234567', 'origin/main@0123456'],
    ['sha1:0123456789abcdef0123456789abcdef01234567', '0123456'],
    ['worktree', 'worktree'],
  ];
  for (const [input, expected] of rows) it(`${input} → ${expected}`, () => assert.equal(shortRevision(input), expected));
});

describe('event helpers', () => {
  it('createEvent keeps every field and adds the summary', () => {
    const event = createEvent({ type: 'rollout.completed', at: AT, rolloutId: 'r', profile: 'p', revision: 'worktree', counts: { succeeded: 1, failed: 0, offline: 0, total: 1 } });
    assert.deepEqual(event, {
      type: 'rollout.completed',
      at: AT,
      rolloutId: 'r',
      profile: 'p',
      revision: 'worktree',
      counts: { succeeded: 1, failed: 0, offline: 0, total: 1 },
      summary: 'p @ worktree: 1/1 succeeded',
    });
  });

  it('issueRefs keeps the first issues with file, line, code and message', () => {
    const issue = (line: number): ValidationIssue => ({ code: 'schema.type', message: `m${line}`, file: 'a.yaml', line, col: 1, path: '/spec', document: 0 });
    const refs = issueRefs([1, 2, 3, 4, 5, 6, 7].map(issue));
    assert.equal(refs.length, 5);
    assert.deepEqual(refs[0], { file: 'a.yaml', line: 1, code: 'schema.type', message: 'm1' });
  });

  it('outputTail keeps the last lines and characters', () => {
    const out = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\r\n') + '\n\n';
    const tail = outputTail(out, { maxLines: 3 });
    assert.equal(tail, '…\nline 28\nline 29\nline 30');
    assert.equal(outputTail('short\n'), 'short');
    const chars = outputTail('a'.repeat(50), { maxChars: 10 });
    assert.equal(chars, '…' + 'a'.repeat(9));
  });
});
