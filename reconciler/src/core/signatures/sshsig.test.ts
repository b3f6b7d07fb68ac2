import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SSH_VECTORS } from '../../edges/signatures/test-vectors.ts';
import { concat, ecdsaToP1363, parseSshSignature, sshString, sshsigSignedData, SshFormatError } from './sshsig.ts';

test('parses the fields of an SSHSIG blob', () => {
  const sig = parseSshSignature(SSH_VECTORS.ed25519.signature);
  assert.equal(sig.namespace, 'git');
  assert.equal(sig.hashAlgorithm, 'sha512');
  assert.equal(sig.signatureFormat, 'ssh-ed25519');
  assert.equal(sig.publicKey.type, 'ssh-ed25519');
  assert.equal(sig.signatureBytes.length, 64);
  const rsa = parseSshSignature(SSH_VECTORS.rsa.signature);
  assert.equal(rsa.publicKey.type, 'ssh-rsa');
  assert.equal(rsa.signatureFormat, 'rsa-sha2-512');
  const ecdsa = parseSshSignature(SSH_VECTORS.ecdsa.signature);
  assert.deepEqual([ecdsa.publicKey.type, 'curve' in ecdsa.publicKey ? ecdsa.publicKey.curve : ''], ['ecdsa-sha2-nistp256', 'nistp256']);
});

test('the signed data is MAGIC, namespace, reserved, hash name and digest, as PROTOCOL.sshsig says', () => {
  const digest = new Uint8Array([1, 2, 3]);
  const expected = concat([new TextEncoder().encode('SSHSIG'), sshString('git'), sshString(''), sshString('sha512'), sshString(digest)]);
  assert.deepEqual(sshsigSignedData('git', 'sha512', digest), expected);
  assert.deepEqual([...sshString('ab')], [0, 0, 0, 2, 97, 98]);
});

test('an ECDSA (mpint r, mpint s) pair becomes fixed-width r ‖ s', () => {
  const r = new Uint8Array([0x00, 0x80, 0x01]); // mpint with a sign byte
  const s = new Uint8Array([0x05]);
  const p1363 = ecdsaToP1363(concat([sshString(r), sshString(s)]), 4);
  assert.deepEqual([...p1363], [0, 0, 0x80, 0x01, 0, 0, 0, 0x05]);
});

test('wrong magic, version, truncation and trailing bytes are SshFormatErrors', () => {
  const armour = (bytes: Uint8Array) => `-----BEGIN SSH SIGNATURE-----\n${Buffer.from(bytes).toString('base64')}\n-----END SSH SIGNATURE-----\n`;
  const good = Buffer.from(SSH_VECTORS.ed25519.signature.split('\n').slice(1, -2).join(''), 'base64');
  const cases: Uint8Array[] = [
    concat([new TextEncoder().encode('SSHSIX'), good.subarray(6)]),
    concat([good.subarray(0, 6), new Uint8Array([0, 0, 0, 2]), good.subarray(10)]),
    good.subarray(0, good.length - 3),
    concat([good, new Uint8Array([0])]),
  ];
  for (const bytes of cases) assert.throws(() => parseSshSignature(armour(bytes)), SshFormatError);
  assert.throws(() => parseSshSignature('-----BEGIN PGP SIGNATURE-----'), SshFormatError);
});
