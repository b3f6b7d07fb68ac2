import assert from 'node:assert/strict';
import { test } from 'node:test';
import { revision } from './builders.ts';
import { commitTitle, errorLocation, errorsByFile, hiddenErrorCount, revisionHeadline, signerLabel, sourceLink } from './revisions.ts';

const oid = 'abcdef0123456789abcdef0123456789abcdef01';

test('sourceLink substitutes the template', () => {
  const cases: Array<[string | null, { path: string; line?: number; oid: string }, string | undefined]> = [
    ['https://git.example.com/fleet/blob/{oid}/{path}#L{line}', { path: 'profiles/web.yaml', line: 10, oid }, `https://git.example.com/fleet/blob/${oid}/profiles/web.yaml#L10`],
    ['https://gitlab.example.com/f/-/blob/{oid}/{path}#L{line}', { path: 'dir with space/a.yaml', line: 3, oid }, `https://gitlab.example.com/f/-/blob/${oid}/dir%20with%20space/a.yaml#L3`],
    ['https://git.example.com/{path}?at={oid}#L{line}', { path: 'fleet.yaml', oid }, `https://git.example.com/fleet.yaml?at=${oid}`],
    [null, { path: 'a.yaml', line: 1, oid }, undefined],
    ['javascript:alert({path})', { path: 'a.yaml', line: 1, oid }, undefined],
    ['https://x/{path}', { path: '', oid }, undefined],
  ];
  for (const [template, at, url] of cases) assert.equal(sourceLink(template, at), url, String(template));
});

test('errorLocation', () => {
  assert.equal(errorLocation({ file: 'profiles.yaml', line: 10, col: 3 }), 'profiles.yaml:10:3');
  assert.equal(errorLocation({ file: 'profiles.yaml', line: 10, col: 0 }), 'profiles.yaml:10');
  assert.equal(errorLocation({ file: 'profiles.yaml', line: 0, col: 0 }), 'profiles.yaml');
  assert.equal(errorLocation({ file: '', line: 0, col: 0 }), '(repository)');
});

test('revisionHeadline: the one in force and a newer rejected one', () => {
  const good = revision({ oid: 'a1', lastSeenAt: '2024-05-01T10:00:00Z' });
  const bad = revision({ oid: 'b2', status: 'rejected', lastSeenAt: '2024-05-01T11:00:00Z' });
  const older = revision({ oid: 'c3', status: 'rejected', lastSeenAt: '2024-05-01T09:00:00Z' });
  const h = revisionHeadline([older, good, bad], good.revision);
  assert.equal(h.current?.oid, 'a1');
  assert.equal(h.newestRejected?.oid, 'b2');
  assert.equal(revisionHeadline([older, good], good.revision).newestRejected, undefined, 'a rejection older than the revision in force is history');
  assert.equal(revisionHeadline([bad], null).newestRejected?.oid, 'b2', 'nothing accepted yet');
});

test('errorsByFile groups and orders', () => {
  const e = (file: string, line: number, col = 1) => ({ code: 'x', message: 'm', file, line, col, path: '' });
  assert.deepEqual(
    errorsByFile([e('b.yaml', 3), e('a.yaml', 9), e('b.yaml', 1, 5), e('b.yaml', 1, 2)]).map((g) => [g.file, g.errors.map((x) => `${x.line}:${x.col}`)]),
    [['a.yaml', ['9:1']], ['b.yaml', ['1:2', '1:5', '3:1']]],
  );
});

test('commitTitle', () => assert.equal(commitTitle('Fix the typo\n\nlong body'), 'Fix the typo'));

test('hiddenErrorCount: the errors a listing left out', () => {
  const e = (line: number) => ({ code: 'yaml.syntax', message: 'm', file: 'a.yaml', line, col: 1, path: '' });
  assert.equal(hiddenErrorCount(revision({ oid, status: 'rejected', errors: [e(1), e(2)], errorCount: 127_101 })), 127_099);
  assert.equal(hiddenErrorCount(revision({ oid, status: 'rejected', errors: [e(1)] })), 0);
  assert.equal(hiddenErrorCount(revision({ oid })), 0);
});

test('signerLabel: the identity shown, the key in the title; nothing for an unverified commit', () => {
  assert.deepEqual(signerLabel({ signer: { method: 'ssh', fingerprint: 'SHA256:abc', identity: 'alice@example.com' } }), {
    text: 'Signed by alice@example.com',
    title: 'Verified SSH signature, key SHA256:abc',
  });
  assert.equal(signerLabel({ signer: { method: 'openpgp', fingerprint: 'ADAF', identity: 'Bob <b@x>' } })?.title, 'Verified OpenPGP signature, key ADAF');
  assert.equal(signerLabel({}), undefined);
});
