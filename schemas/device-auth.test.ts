import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blobRequestAuthorization,
  checkBlobRequest,
  checkDeviceHandshake,
  parseBlobAuthorization,
  ReplayGuard,
  signDeviceHandshake,
  STATEMENT_WINDOW_MS,
} from './device-auth.ts';
import { generateSigningKeyPair, signingKey } from './signing.ts';

const device = signingKey(generateSigningKeyPair().privateKey);
const other = signingKey(generateSigningKeyPair().privateKey);
const SERVER = 'sha256:' + 'a'.repeat(64);
const now = new Date('2026-12-06T10:00:00Z');
const check = (extra: Partial<Parameters<typeof checkDeviceHandshake>[1]> = {}) => ({
  deviceId: 'web-01',
  publicKey: generateSigningKeyPair().publicKey,
  serverKeys: new Set([SERVER]),
  now,
  replay: new ReplayGuard(),
  ...extra,
});
const { createPublicKey } = await import('node:crypto');
const devicePublic = createPublicKey(device.privateKey);

test('a fresh handshake signed by the stored key is accepted once; its replay is refused', () => {
  const replay = new ReplayGuard();
  const handshake = signDeviceHandshake({ deviceId: 'web-01', serverKey: SERVER, key: device, now });
  const c = check({ publicKey: devicePublic, replay });
  assert.equal(checkDeviceHandshake(handshake, c).ok, true);
  assert.deepEqual(checkDeviceHandshake(handshake, { ...c, now: new Date(now.getTime() + 1000) }), { ok: false, reason: 'handshake-replayed' });
});

test('a handshake is refused for another device, another server, outside the window, or signed by another key', () => {
  const sign = (over: Partial<Parameters<typeof signDeviceHandshake>[0]> = {}) =>
    signDeviceHandshake({ deviceId: 'web-01', serverKey: SERVER, key: device, now, ...over });
  const c = () => check({ publicKey: devicePublic });
  assert.deepEqual(checkDeviceHandshake(sign({ deviceId: 'web-02' }), c()), { ok: false, reason: 'handshake-wrong-device' });
  assert.deepEqual(checkDeviceHandshake(sign({ serverKey: 'sha256:' + 'b'.repeat(64) }), c()), { ok: false, reason: 'handshake-wrong-server' });
  const late = new Date(now.getTime() - STATEMENT_WINDOW_MS - 1000);
  assert.deepEqual(checkDeviceHandshake(sign({ now: late }), c()), { ok: false, reason: 'handshake-stale' });
  const early = new Date(now.getTime() + STATEMENT_WINDOW_MS + 1000);
  assert.deepEqual(checkDeviceHandshake(sign({ now: early }), c()), { ok: false, reason: 'handshake-stale' });
  assert.deepEqual(checkDeviceHandshake(sign({ key: other }), c()), { ok: false, reason: 'handshake-bad-signature' });
  // The other key, named as the device's: still only the stored key counts.
  const forged = sign({ key: { keyid: device.keyid, privateKey: other.privateKey } });
  assert.deepEqual(checkDeviceHandshake(forged, c()), { ok: false, reason: 'handshake-bad-signature' });
  // A payload edited after signing.
  const edited = sign();
  edited.payload = Buffer.from(Buffer.from(edited.payload, 'base64').toString().replace('web-01', 'web-02')).toString('base64');
  assert.deepEqual(checkDeviceHandshake(edited, check({ publicKey: devicePublic, deviceId: 'web-02' })), { ok: false, reason: 'handshake-bad-signature' });
  for (const junk of [null, 'x', {}, { payloadType: 'x', payload: '', signatures: [] }]) {
    assert.deepEqual(checkDeviceHandshake(junk, c()), { ok: false, reason: 'handshake-malformed' });
  }
});

test('a blob request is bound to its blob and used once', () => {
  const sha = 'c'.repeat(64);
  const header = blobRequestAuthorization({ deviceId: 'web-01', serverKey: SERVER, key: device, now, sha256: sha });
  const parsed = parseBlobAuthorization(header)!;
  assert.equal(parsed.deviceId, 'web-01');
  const c = check({ publicKey: devicePublic });
  assert.deepEqual(checkBlobRequest(parsed.envelope, 'd'.repeat(64), c), { ok: false, reason: 'handshake-wrong-blob' });
  assert.equal(checkBlobRequest(parsed.envelope, sha, c).ok, true);
  assert.deepEqual(checkBlobRequest(parsed.envelope, sha, c), { ok: false, reason: 'handshake-replayed' });
  assert.equal(parseBlobAuthorization('Basic d2ViLTAxOnNlY3JldA=='), undefined);
  assert.equal(parseBlobAuthorization('DeployX-Device web-01 !!!'), undefined);
});

test('the replay guard forgets a nonce once its statement is too old to be accepted', () => {
  const guard = new ReplayGuard();
  const t = now.getTime();
  assert.equal(guard.use('a', 'n'.repeat(16), t, t), true);
  assert.equal(guard.use('b', 'n'.repeat(16), t, t), true, 'nonces are per device');
  assert.equal(guard.use('a', 'n'.repeat(16), t, t + 1), false);
  guard.use('c', 'm'.repeat(16), t + STATEMENT_WINDOW_MS + 20_000, t + STATEMENT_WINDOW_MS + 20_000);
  assert.equal(guard.size, 1, 'the expired entries were swept');
});
