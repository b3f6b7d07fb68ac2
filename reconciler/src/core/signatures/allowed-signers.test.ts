import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findAllowedSigner, matchPatternList, parseAllowedSigners, parseSshTime } from './allowed-signers.ts';

const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIPkGRWfzR4lM2ijN6AQfzilhPmUhF4tqyMgPZgyBYfBP';
const OTHER = 'AAAAC3NzaC1lZDI1NTE5AAAAIL/2C14OWokJ0XGkgKd+ql6vzotCLQvr1fTDYPlLntiv';
const blob = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

test('parses principals, options, key type and key; comments and blank lines are ignored', () => {
  const { signers, problems } = parseAllowedSigners(
    [
      '# maintainers',
      '',
      `alice@example.com ssh-ed25519 ${ED} alice's laptop`,
      `"bob@example.com,carol@example.com" namespaces="git,file",valid-after="20240101Z" ssh-ed25519 ${OTHER}`,
      `*@corp.example cert-authority ssh-ed25519 ${OTHER}`,
    ].join('\n'),
  );
  assert.deepEqual(problems, []);
  assert.equal(signers.length, 3);
  assert.deepEqual(signers[0], { line: 3, principals: ['alice@example.com'], namespaces: undefined, validAfter: undefined, validBefore: undefined, certAuthority: false, keyType: 'ssh-ed25519', key: ED });
  assert.deepEqual(signers[1]!.principals, ['bob@example.com', 'carol@example.com']);
  assert.deepEqual(signers[1]!.namespaces, ['git', 'file']);
  assert.equal(signers[1]!.validAfter, Date.UTC(2024, 0, 1) / 1000);
  assert.equal(signers[2]!.certAuthority, true);
});

test('every bad line is a problem with its line number; good lines still parse', () => {
  const { signers, problems } = parseAllowedSigners(
    [`a@x ssh-ed25519 ${ED}`, 'b@x', `c@x frobnicate ssh-ed25519 ${ED}`, `d@x ssh-ed25519 not*base64`, `e@x valid-before="tomorrow" ssh-ed25519 ${ED}`, `"f@x ssh-ed25519 ${ED}`].join('\n'),
  );
  assert.equal(signers.length, 1);
  assert.deepEqual(problems.map((p) => p.line), [2, 3, 4, 5, 6]);
  assert.match(problems[1]!.message, /unknown option "frobnicate"/);
});

test('trust: the key must be listed, for namespace git, within its validity', () => {
  const { signers } = parseAllowedSigners(
    [`alice@x namespaces="git" ssh-ed25519 ${ED}`, `old@x valid-before="20200101Z" ssh-ed25519 ${OTHER}`, `ca@x cert-authority ssh-ed25519 ${OTHER}`].join('\n'),
  );
  const now = Date.UTC(2024, 5, 1) / 1000;
  const alice = findAllowedSigner(signers, blob(ED), { namespace: 'git', time: now });
  assert.deepEqual(alice.trusted && alice.identity, 'alice@x');
  assert.equal(findAllowedSigner(signers, blob(ED), { namespace: 'file', time: now }).trusted, false);
  const expired = findAllowedSigner(signers, blob(OTHER), { namespace: 'git', time: now });
  assert.equal(expired.trusted, false);
  assert.match(expired.trusted ? '' : expired.reason, /line 2 expired/);
  assert.equal(findAllowedSigner(signers, blob(OTHER), { namespace: 'git', time: Date.UTC(2019, 0, 1) / 1000 }).trusted, true);
  const unknown = findAllowedSigner([], blob(ED), { namespace: 'git', time: now });
  assert.match(unknown.trusted ? '' : unknown.reason, /not in the allowed signers file/);
});

test('namespace patterns follow OpenSSH: * and ?, a matching !pattern refuses', () => {
  assert.equal(matchPatternList('git', ['*']), true);
  assert.equal(matchPatternList('git', ['g?t']), true);
  assert.equal(matchPatternList('git', ['file']), false);
  assert.equal(matchPatternList('git', ['*', '!git']), false);
});

test('ssh times', () => {
  assert.equal(parseSshTime('20240102'), Date.UTC(2024, 0, 2) / 1000);
  assert.equal(parseSshTime('202401020304Z'), Date.UTC(2024, 0, 2, 3, 4) / 1000);
  assert.equal(parseSshTime('20240102030405'), Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  assert.equal(parseSshTime('2024-01-02'), undefined);
});
