import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  generateSigningKeyPair,
  JOB_PAYLOAD_TYPE,
  keyFingerprint,
  openEnvelope,
  pae,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromPem,
  publicKeyToPem,
  SERVER_KEYS_PAYLOAD_TYPE,
  signEnvelope,
  signingKey,
} from './signing.ts';

describe('DSSE envelopes with Ed25519', () => {
  const { privateKey, publicKey } = generateSigningKeyPair();
  const key = signingKey(privateKey);
  const trusted = new Map([[key.keyid, publicKey]]);

  it('PAE is the DSSE v1 encoding (the spec example)', () => {
    assert.equal(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('a signed payload opens with the key that signed it', () => {
    const envelope = signEnvelope(JOB_PAYLOAD_TYPE, { jobId: 'j1', seq: 3 }, key);
    const opened = openEnvelope(envelope, JOB_PAYLOAD_TYPE, trusted);
    assert.deepEqual(opened, { ok: true, payload: { jobId: 'j1', seq: 3 }, keyid: key.keyid });
  });

  it('refuses another type, another key, a changed payload, a changed signature and junk', () => {
    const envelope = signEnvelope(JOB_PAYLOAD_TYPE, { jobId: 'j1' }, key);
    assert.equal(openEnvelope(envelope, SERVER_KEYS_PAYLOAD_TYPE, trusted).ok, false);
    const other = signingKey(generateSigningKeyPair().privateKey);
    const byOther = signEnvelope(JOB_PAYLOAD_TYPE, { jobId: 'j1' }, other);
    assert.deepEqual(openEnvelope(byOther, JOB_PAYLOAD_TYPE, trusted), { ok: false, code: 'envelope.untrusted-key', message: 'not signed by a trusted key' });
    const forgedKeyid = { ...byOther, signatures: [{ keyid: key.keyid, sig: byOther.signatures[0]!.sig }] };
    assert.equal((openEnvelope(forgedKeyid, JOB_PAYLOAD_TYPE, trusted) as { code: string }).code, 'envelope.bad-signature');
    const changed = { ...envelope, payload: Buffer.from(JSON.stringify({ jobId: 'j2' })).toString('base64') };
    assert.equal((openEnvelope(changed, JOB_PAYLOAD_TYPE, trusted) as { code: string }).code, 'envelope.bad-signature');
    for (const junk of [null, 'x', {}, { payloadType: JOB_PAYLOAD_TYPE, payload: 'e30=', signatures: [] }]) {
      assert.equal((openEnvelope(junk, JOB_PAYLOAD_TYPE, trusted) as { code: string }).code, 'envelope.malformed');
    }
  });

  it('keys survive PEM and keep their fingerprint', () => {
    const again = privateKeyFromPem(privateKeyToPem(privateKey));
    assert.equal(keyFingerprint(again), key.keyid);
    assert.equal(keyFingerprint(publicKeyFromPem(publicKeyToPem(publicKey))), key.keyid);
    assert.match(key.keyid, /^sha256:[0-9a-f]{64}$/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    assert.throws(() => publicKeyFromPem(ec), /not an Ed25519/);
  });

  it('reads an Ed25519 PEM the same whichever way it is written, and refuses a damaged one', () => {
    const pem = publicKeyToPem(publicKey);
    const crlf = pem.replace(/\n/g, '\r\n');
    const folded = pem.replace(/^(-----BEGIN PUBLIC KEY-----\n)(.{20})/, '$1$2\n');
    for (const form of [pem, crlf, folded, pem.trimEnd()]) assert.equal(keyFingerprint(publicKeyFromPem(form)), key.keyid, JSON.stringify(form));
    const der = Buffer.from(pem.split('\n')[1]!, 'base64');
    der[9] = 0x71; // the algorithm OID's last byte: Ed448 (1.3.101.113), 57 key bytes expected
    assert.throws(() => publicKeyFromPem(`-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`));
    assert.throws(() => publicKeyFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'));
  });
});
