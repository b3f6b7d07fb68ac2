// verifyJob and verifyServerHello as tables: each refusal code, and what is let through.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobPayload, sealJob } from '../../../schemas/job-envelope.ts';
import type { Job } from '../../../schemas/protocol.ts';
import { generateSigningKeyPair, JOB_PAYLOAD_TYPE, publicKeyToPem, SERVER_HELLO_PAYLOAD_TYPE, signEnvelope, signingKey } from '../../../schemas/signing.ts';
import { trustedKeyMap, verifyJob, verifyServerHello } from './verify-server.ts';

const key = signingKey(generateSigningKeyPair().privateKey);
const other = signingKey(generateSigningKeyPair().privateKey);
const pem = (k: typeof key) => publicKeyToPem(k.privateKey);
const trusted = trustedKeyMap([{ keyid: key.keyid, publicKey: pem(key) }]);
const NOW = new Date('2026-01-01T12:00:00Z');
const job: Job = {
  id: 'j1',
  deviceId: 'd1',
  revision: 'main@sha1:abc',
  idempotencyKey: 'k1',
  steps: [{ action: 'file.write', key: 'file/a', path: '/a', sha256: 'a'.repeat(64), size: 1 }],
  createdAt: NOW.toISOString(),
};
const seal = { sequence: 5, issuedAt: NOW, ttlMs: 60_000 };

describe('verifyJob', () => {
  const good = sealJob(job, seal, [key]);
  const table: Array<[what: string, envelope: unknown, expected: { highest?: number; now?: Date; deviceId?: string }, code: string | 'ok']> = [
    ['a good job', good, {}, 'ok'],
    ['signed by two keys, one trusted (rotation grace)', sealJob(job, seal, [other, key]), {}, 'ok'],
    ['a bare job', job, {}, 'job.unsigned'],
    ['no signatures', { ...good, signatures: [] }, {}, 'job.unsigned'],
    ['a hello, not a job', signEnvelope(SERVER_HELLO_PAYLOAD_TYPE, jobPayload(job, seal), key), {}, 'job.wrong-type'],
    ['an untrusted key', sealJob(job, seal, [other]), {}, 'job.untrusted-key'],
    ['a trusted keyid, a forged signature', { ...good, signatures: [{ keyid: key.keyid, sig: sealJob(job, seal, [other]).signatures[0]!.sig }] }, {}, 'job.bad-signature'],
    ['a tampered payload', { ...good, payload: Buffer.from(JSON.stringify({ ...jobPayload(job, seal), sequence: 99 })).toString('base64') }, {}, 'job.bad-signature'],
    ['a signed payload missing its sequence', signEnvelope(JOB_PAYLOAD_TYPE, { ...jobPayload(job, seal), sequence: undefined }, key), {}, 'job.invalid'],
    ['a blob not in the signed list', signEnvelope(JOB_PAYLOAD_TYPE, { ...jobPayload(job, seal), blobs: [] }, key), {}, 'job.invalid'],
    ['another device', good, { deviceId: 'd2' }, 'job.wrong-device'],
    ['expired', good, { now: new Date(NOW.getTime() + 60_001) }, 'job.expired'],
    ['at its expiry instant', good, { now: new Date(NOW.getTime() + 60_000) }, 'ok'],
    ['sequence equal to the mark', good, { highest: 5 }, 'job.replayed'],
    ['sequence below the mark', good, { highest: 9 }, 'job.replayed'],
    ['sequence just above the mark', good, { highest: 4 }, 'ok'],
  ];
  for (const [what, envelope, expected, code] of table) {
    it(what, () => {
      const verdict = verifyJob(envelope, { trusted, deviceId: expected.deviceId ?? 'd1', now: expected.now ?? NOW, highest: expected.highest ?? 0 });
      if (code === 'ok') {
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
        if (verdict.ok) assert.deepEqual([verdict.job, verdict.sequence], [job, 5]);
      } else {
        assert.equal(verdict.ok, false);
        if (!verdict.ok) {
          assert.equal(verdict.code, code, verdict.error);
          assert.doesNotMatch(verdict.error, /\n/);
        }
      }
    });
  }
  it('a replayed job carries the job, for the redelivery check', () => {
    const verdict = verifyJob(good, { trusted, deviceId: 'd1', now: NOW, highest: 5 });
    assert.equal(!verdict.ok && verdict.job?.idempotencyKey, 'k1');
  });
});

describe('verifyServerHello', () => {
  const hello = (signers: Array<typeof key>, listed: Array<typeof key>, challenge = 'c'.repeat(32), deviceId?: string) =>
    signEnvelope(SERVER_HELLO_PAYLOAD_TYPE, { challenge, ...(deviceId ? { deviceId } : {}), keys: listed.map((k) => ({ keyid: k.keyid, publicKey: pem(k) })), issuedAt: NOW.toISOString() }, signers);
  const pin = [{ keyid: key.keyid }];
  const table: Array<[what: string, envelope: unknown, trust: Array<{ keyid: string; publicKey?: string }>, code: string | 'ok', deviceId?: string]> = [
    ['signed by the pinned key (fingerprint only)', hello([key], [key]), pin, 'ok'],
    ['signed by a learnt key', hello([key], [key]), [{ keyid: key.keyid, publicKey: pem(key) }], 'ok'],
    ['rotation: old and new sign, both listed', hello([other, key], [other, key]), pin, 'ok'],
    ['signed by another key listing itself', hello([other], [other]), pin, 'hello.untrusted'],
    ['lists the pinned key but signed by another', hello([other], [key, other]), pin, 'hello.untrusted'],
    ['another challenge (a replayed hello)', hello([key], [key], 'x'.repeat(32)), pin, 'hello.wrong-challenge'],
    ['for another device', hello([key], [key], 'c'.repeat(32), 'd2'), pin, 'hello.wrong-device', 'd1'],
    ['not an envelope', { hello: true }, pin, 'hello.unsigned'],
    ['a listed key whose fingerprint lies', signEnvelope(SERVER_HELLO_PAYLOAD_TYPE, { challenge: 'c'.repeat(32), keys: [{ keyid: key.keyid, publicKey: pem(other) }], issuedAt: '' }, other), pin, 'hello.unsigned'],
  ];
  for (const [what, envelope, trust, code, deviceId] of table) {
    it(what, () => {
      const verdict = verifyServerHello(envelope, { trusted: trust, challenge: 'c'.repeat(32), ...(deviceId ? { deviceId } : {}) });
      assert.equal(verdict.ok ? 'ok' : verdict.code, code, verdict.ok ? '' : verdict.error);
    });
  }
  it('a verified hello gives the listed keys, current first, with their PEM', () => {
    const verdict = verifyServerHello(hello([other, key], [other, key]), { trusted: pin, challenge: 'c'.repeat(32) });
    assert.ok(verdict.ok);
    assert.deepEqual(verdict.keys.map((k) => k.keyid), [other.keyid, key.keyid]);
  });
});
