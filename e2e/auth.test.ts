// Handshake refusals against a real server: a bad enrollment token, a forged device id, another
// device's key, the key of a deleted device; and API/blob routes without credentials.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io as connect } from 'socket.io-client';
import { AGENT_NAMESPACE, type Enrollment } from '../schemas/protocol.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';
import { blobAuthorization, keyAuth, testDeviceKey } from './device-auth.ts';

const FACTS = { hostname: 'auth-test', os: { family: 'debian' } };

describe('agent authentication', { timeout: 60_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let server: RunningServer;

  /** Connects with `auth`; resolves with the enrollment (if any) or rejects with the refusal. */
  function handshake(auth: Record<string, unknown>): Promise<{ enrollment?: Enrollment; close: () => void }> {
    return new Promise((resolve, reject) => {
      // An enrollment sends a fresh device key's public half, as an agent does.
      const full = 'enrollmentToken' in auth && !('publicKey' in auth) ? { ...auth, publicKey: testDeviceKey().publicKey } : auth;
      const socket = connect(server.url + AGENT_NAMESPACE, { transports: ['websocket'], auth: full, reconnection: false, timeout: 5000 });
      const close = () => socket.close();
      socket.on('connect_error', (error: Error & { data?: { code?: string; reason?: string } }) => {
        close();
        reject(Object.assign(new Error(error.message), { data: error.data }));
      });
      socket.on('enrolled', (enrollment: Enrollment, ack: (r: unknown) => void) => {
        ack({ ok: true });
        resolve({ enrollment, close });
      });
      socket.on('connect', () => {
        if (!('enrollmentToken' in auth)) resolve({ close });
      });
    });
  }

  before(async () => {
    work = await tempDir('deployx-auth-');
    const repo = path.join(work.dir, 'repo');
    await makeRepo(repo, testFleet());
    server = await startTestServer({ repo, dataDir: path.join(work.dir, 'server') });
  });

  after(async () => {
    await server?.close();
    await work?.remove();
  });

  test('an unknown enrollment token is refused at the handshake', async () => {
    await assert.rejects(handshake({ enrollmentToken: 'dxe_not-a-token', machineId: 'm-1', facts: FACTS }), (e: Error & { data?: { code: string; reason: string } }) => {
      assert.equal(e.message, 'auth.refused');
      assert.equal(e.data?.reason, 'token-unknown');
      return true;
    });
  });

  test('an exhausted or expired token is refused', async () => {
    const once = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'once', maxUses: 1 });
    const first = await handshake({ enrollmentToken: once.token, machineId: 'm-once', facts: FACTS });
    first.close();
    await assert.rejects(handshake({ enrollmentToken: once.token, machineId: 'm-twice', facts: FACTS }), /auth.refused/);
    const old = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'old', expires: '1m', now: new Date(Date.now() - 3_600_000) });
    await assert.rejects(handshake({ enrollmentToken: old.token, machineId: 'm-late', facts: FACTS }), (e: Error & { data?: { reason: string } }) => e.data?.reason === 'token-expired');
  });

  test("a forged device id, another device's key and a bare credential are refused; the device's own key connects", async () => {
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'pair', maxUses: 2 });
    const keyA = testDeviceKey();
    const keyB = testDeviceKey();
    const a = await handshake({ enrollmentToken: token, machineId: 'm-a', facts: { ...FACTS, hostname: 'device-a' }, publicKey: keyA.publicKey });
    const b = await handshake({ enrollmentToken: token, machineId: 'm-b', facts: { ...FACTS, hostname: 'device-b' }, publicKey: keyB.publicKey });
    a.close();
    b.close();
    const ea = a.enrollment!;
    const eb = b.enrollment!;
    assert.notEqual(ea.deviceId, eb.deviceId);
    assert.deepEqual(Object.keys(ea), ['deviceId'], 'enrollment hands out no secret');
    const refusal = (reason: string) => (e: Error & { data?: { reason?: string } }) => e.message === 'auth.refused' && e.data?.reason === reason;
    await assert.rejects(handshake(keyAuth(server, eb.deviceId, keyA)), refusal('handshake-bad-signature'), "A's key does not open B");
    await assert.rejects(handshake({ ...keyAuth(server, ea.deviceId, keyA), deviceId: eb.deviceId }), refusal('handshake-bad-signature'), "A's handshake does not open B");
    await assert.rejects(handshake({ deviceId: ea.deviceId, credential: 'dxc_guess' }), refusal('key-required'));
    const elsewhere = { deviceId: ea.deviceId, handshake: (await import('../schemas/device-auth.ts')).signDeviceHandshake({ deviceId: ea.deviceId, serverKey: `sha256:${'0'.repeat(64)}`, key: keyA.key, now: new Date() }) };
    await assert.rejects(handshake(elsewhere), refusal('handshake-wrong-server'), 'a handshake made for another server');
    await assert.rejects(handshake(keyAuth(server, ea.deviceId, keyA, new Date(Date.now() - 10 * 60_000))), refusal('handshake-stale'));
    const ok = await handshake(keyAuth(server, ea.deviceId, keyA));
    ok.close();
  });

  test('the credential of a deleted device is refused, and so are its blob downloads', async () => {
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'doomed', maxUses: 1 });
    const key = testDeviceKey();
    const { enrollment, close } = await handshake({ enrollmentToken: token, machineId: 'm-doomed', facts: { ...FACTS, hostname: 'doomed' }, publicKey: key.publicKey });
    close();
    const state = await waitFor('the device counted in the stats', () => server.reconciler.statuses.get(enrollment!.deviceId)?.state);
    // /metrics counts the states the loop keeps, one gauge per state.
    const gauge = async () => {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.apiToken}` } });
      const line = (await res.text()).split('\n').find((l) => l.startsWith(`deployx_devices{state="${state}"}`));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const counted = await gauge();
    const res = await fetch(`${server.url}/api/v1/devices/${enrollment!.deviceId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${server.apiToken}` },
    });
    assert.equal(res.status, 204);
    // Gone from what the loop keeps: /metrics counts it no more.
    assert.equal(server.reconciler.statuses.has(enrollment!.deviceId), false);
    assert.equal(await gauge(), counted - 1);
    await assert.rejects(handshake(keyAuth(server, enrollment!.deviceId, key)), /auth.refused/);
    const blob = await fetch(`${server.url}/api/v1/blobs/sha256/${'0'.repeat(64)}`, {
      headers: { authorization: blobAuthorization(server, enrollment!.deviceId, key, '0'.repeat(64)) },
    });
    assert.equal(blob.status, 401);
  });

  test('a device downloads its blobs with a signed request each time, whole or by Range', async () => {
    await waitFor('the first revision', async () => server.reconciler.revision);
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'blobs', maxUses: 1, labels: { role: 'web' } });
    const key = testDeviceKey();
    const { enrollment, close } = await handshake({ enrollmentToken: token, machineId: 'm-blobs', facts: { ...FACTS, hostname: 'blobs' }, publicKey: key.publicKey });
    close();
    const content = 'Managed by DeployX\n';
    const sha = createHash('sha256').update(content).digest('hex');
    const signed = (hex = sha) => ({ authorization: blobAuthorization(server, enrollment!.deviceId, key, hex) });
    const auth = signed();
    const whole = await fetch(`${server.url}/api/v1/blobs/sha256/${sha}`, { headers: auth });
    assert.equal(whole.status, 200);
    assert.equal(await whole.text(), content);
    const replayed = await fetch(`${server.url}/api/v1/blobs/sha256/${sha}`, { headers: auth });
    assert.equal(replayed.status, 401, 'a signed request is used once');
    const part = await fetch(`${server.url}/api/v1/blobs/sha256/${sha}`, { headers: { ...signed(), range: 'bytes=8-9' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 8-9/${content.length}`);
    assert.equal(await part.text(), 'by');
    const beyond = await fetch(`${server.url}/api/v1/blobs/sha256/${sha}`, { headers: { ...signed(), range: 'bytes=500-' } });
    assert.equal(beyond.status, 416);
    const elsewhere = await fetch(`${server.url}/api/v1/blobs/sha256/${'1'.repeat(64)}`, { headers: signed() });
    assert.equal(elsewhere.status, 401, 'a request signed for one blob does not fetch another');
    const notMine = await fetch(`${server.url}/api/v1/blobs/sha256/${'1'.repeat(64)}`, { headers: signed('1'.repeat(64)) });
    assert.equal(notMine.status, 403, 'a blob no desired state or job of the device references');
  });

  test('the API refuses requests without the token', async () => {
    for (const route of ['/api/v1/devices', '/api/v1/revisions', '/api/v1/jobs', '/api/v1/stats']) {
      const res = await fetch(server.url + route);
      assert.equal(res.status, 401, route);
      const wrong = await fetch(server.url + route, { headers: { authorization: 'Bearer dxa_wrong' } });
      assert.equal(wrong.status, 401, route);
    }
    const blob = await fetch(`${server.url}/api/v1/blobs/sha256/${'0'.repeat(64)}`);
    assert.equal(blob.status, 401);
    await waitFor('healthz', async () => (await fetch(server.url + '/healthz')).ok);
  });
});
