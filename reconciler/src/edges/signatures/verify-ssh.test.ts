// SSHSIG verification against real ssh-keygen signatures (test-vectors.ts): every key type git
// users sign with, a tampered payload, a wrong namespace, and the fingerprint ssh-keygen prints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSshSignature } from '../../core/signatures/sshsig.ts';
import { ED25519_FILE_NAMESPACE, MESSAGE, SSH_VECTORS } from './test-vectors.ts';
import { checkSshSignature, sshFingerprint } from './verify-ssh.ts';

const payload = new TextEncoder().encode(MESSAGE);

for (const [name, vector] of Object.entries(SSH_VECTORS)) {
  test(`an ssh-keygen ${name} signature verifies, names its key, and fails on one changed byte`, () => {
    const ok = checkSshSignature(vector.signature, payload, 'git');
    assert.equal(ok.ok, true, ok.ok ? '' : ok.reason);
    assert.equal(ok.fingerprint, vector.fingerprint);
    assert.equal(Buffer.from(parseSshSignature(vector.signature).publicKeyBlob).toString('base64'), vector.key);

    const tampered = payload.slice();
    tampered[tampered.length - 2] = tampered[tampered.length - 2]! ^ 1;
    const bad = checkSshSignature(vector.signature, tampered, 'git');
    assert.equal(bad.ok, false);
    assert.equal(bad.fingerprint, vector.fingerprint);
  });
}

test('a signature made for another namespace is refused', () => {
  const result = checkSshSignature(ED25519_FILE_NAMESPACE, payload, 'git');
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /namespace "file"/);
});

test('a malformed signature is refused with a reason, not thrown', () => {
  for (const armoured of ['', '-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----', '-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----']) {
    const result = checkSshSignature(armoured, payload, 'git');
    assert.equal(result.ok, false);
  }
});

test('sshFingerprint is ssh-keygen -l', () => {
  const v = SSH_VECTORS.ed25519;
  assert.equal(sshFingerprint(Buffer.from(v.key, 'base64')), v.fingerprint);
});
