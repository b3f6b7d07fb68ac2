// OpenPGP detached signatures over a commit payload (keys made in-process by `openpgp`; the e2e
// test covers keys and signatures made by gpg and git): a trusted key verifies and names its
// primary user id; another key is untrusted, by fingerprint; a changed payload is invalid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMessage, generateKey, readKey, readPrivateKey, sign } from 'openpgp';
import { CommitVerifier } from './commit-verifier.ts';
import { checkOpenPgpSignature } from './verify-openpgp.ts';
import { splitSignedCommit } from '../../core/signatures/signed-commit.ts';

const payload = new TextEncoder().encode('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nmsg\n');

async function keyPair(name: string) {
  const { privateKey, publicKey } = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email: `${name.toLowerCase()}@example.invalid` }], format: 'armored' });
  return { privateKey: await readPrivateKey({ armoredKey: privateKey }), publicKey: await readKey({ armoredKey: publicKey }) };
}

async function detached(bytes: Uint8Array, privateKey: Awaited<ReturnType<typeof keyPair>>['privateKey']): Promise<string> {
  return sign({ message: await createMessage({ binary: bytes }), signingKeys: privateKey, detached: true, format: 'armored' }) as Promise<string>;
}

test('a trusted key verifies; another key is untrusted; a changed payload is invalid', async () => {
  const bob = await keyPair('Bob');
  const eve = await keyPair('Eve');
  const signature = await detached(payload, bob.privateKey);

  const ok = await checkOpenPgpSignature(signature, payload, [bob.publicKey]);
  assert.equal(ok.ok, true);
  assert.equal(ok.ok && ok.identity, 'Bob <bob@example.invalid>');
  assert.equal(ok.fingerprint, bob.publicKey.getFingerprint().toUpperCase());

  const untrusted = await checkOpenPgpSignature(signature, payload, [eve.publicKey]);
  assert.deepEqual([untrusted.ok, !untrusted.ok && untrusted.untrusted], [false, true]);

  const changed = payload.slice();
  changed[changed.length - 2] = changed[changed.length - 2]! ^ 1;
  const invalid = await checkOpenPgpSignature(signature, changed, [bob.publicKey]);
  assert.deepEqual([invalid.ok, !invalid.ok && invalid.untrusted], [false, false]);

  const junk = await checkOpenPgpSignature('-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n', payload, [bob.publicKey]);
  assert.equal(junk.ok, false);
});

test('the verifier reads a signed commit object: verified with its signer, or rejected by state', async () => {
  const bob = await keyPair('Bob');
  const signature = await detached(payload, bob.privateKey);
  const text = new TextDecoder().decode(payload);
  const headerEnd = text.indexOf('\n\n');
  const raw = `${text.slice(0, headerEnd)}\ngpgsig ${signature.trimEnd().split('\n').join('\n ')}\n${text.slice(headerEnd + 1)}`;
  const verifier = new CommitVerifier('head', { ssh: [], openpgp: [bob.publicKey] });
  const oid = 'a'.repeat(40);
  const verdict = await verifier.verifySplit(oid, splitSignedCommit(new TextEncoder().encode(raw)));
  assert.deepEqual(verdict, { state: 'verified', oid, signer: { method: 'openpgp', fingerprint: bob.publicKey.getFingerprint().toUpperCase(), identity: 'Bob <bob@example.invalid>' } });
  assert.equal((await verifier.verifySplit(oid, splitSignedCommit(payload))).state, 'unsigned');
  const stranger = new CommitVerifier('head', { ssh: [], openpgp: [(await keyPair('Eve')).publicKey] });
  assert.equal((await stranger.verifySplit(oid, splitSignedCommit(new TextEncoder().encode(raw)))).state, 'untrusted');
});
