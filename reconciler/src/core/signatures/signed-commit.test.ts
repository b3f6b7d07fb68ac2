import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signatureKind, splitSignedCommit } from './signed-commit.ts';

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const dec = (b: Uint8Array) => Buffer.from(b).toString('latin1');

const HEADERS = 'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent 1111111111111111111111111111111111111111\nparent 2222222222222222222222222222222222222222\nauthor A <a@x> 1700000000 +0000\ncommitter C <c@x> 1700000123 +0200\n';

test('the gpgsig header and its continuation lines are the signature; everything else, byte for byte, the payload', () => {
  const raw = `${HEADERS}gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n \n -----END SSH SIGNATURE-----\nmergetag object 33\n type commit\n\nmessage\r\n  with trailing spaces  \n\n\n`;
  const split = splitSignedCommit(enc(raw));
  assert.equal(split.signature, '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n\n-----END SSH SIGNATURE-----\n');
  assert.equal(dec(split.payload), `${HEADERS}mergetag object 33\n type commit\n\nmessage\r\n  with trailing spaces  \n\n\n`);
  assert.deepEqual(split.parents, ['1111111111111111111111111111111111111111', '2222222222222222222222222222222222222222']);
  assert.equal(split.committerTime, 1700000123);
  assert.equal(signatureKind(split.signature!), 'ssh');
});

test('an unsigned commit is its own payload; a message without a final newline stays so', () => {
  const raw = `${HEADERS}\nno newline at the end`;
  const split = splitSignedCommit(enc(raw));
  assert.equal(split.signature, undefined);
  assert.equal(dec(split.payload), raw);
});

test('a gpgsig-sha256 header is left out of the payload and is not the signature (as git does in a SHA-1 repository)', () => {
  const raw = `${HEADERS}gpgsig-sha256 -----BEGIN PGP SIGNATURE-----\n abc\n -----END PGP SIGNATURE-----\n\nmsg\n`;
  const split = splitSignedCommit(enc(raw));
  assert.equal(split.signature, undefined);
  assert.equal(dec(split.payload), `${HEADERS}\nmsg\n`);
});

test('a "gpgsig" line in the message is message, not signature; non-UTF-8 bytes survive', () => {
  const raw = `${HEADERS}encoding ISO-8859-1\n\ngpgsig not a header\n caf\xe9\n`;
  const split = splitSignedCommit(enc(raw));
  assert.equal(split.signature, undefined);
  assert.deepEqual(split.payload, enc(raw));
});

test('signature kinds', () => {
  assert.equal(signatureKind('-----BEGIN PGP SIGNATURE-----\n'), 'openpgp');
  assert.equal(signatureKind('-----BEGIN SIGNED MESSAGE-----\n'), 'x509');
  assert.equal(signatureKind('hello'), 'unknown');
});
