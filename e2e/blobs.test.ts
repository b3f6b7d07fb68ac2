// The content-addressed blob store across a server restart: a job planned against an older
// accepted revision still downloads its blobs from a restarted server (real SQLite file, real git
// repo, the real server composition, the agent's own blob client), served as ranges with the hash
// as ETag; leftover temp files in the store are removed at start.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { blobPath } from '../schemas/protocol.ts';
import { createBlobFetcher } from '../agent/src/transport/blob-client.ts';
import { blobAuthorization, testDeviceKey } from './device-auth.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { KERNEL, pxeFleet } from '../pxe/test/pxe-fleet.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const device = { deviceId: 'blob-dev', key: testDeviceKey() };

async function acceptedHead(server: RunningServer, oid: string): Promise<void> {
  server.reconciler.enqueueSource();
  await waitFor(`revision ${oid} served`, () => server.reconciler.revision?.endsWith(oid), 30_000);
}

describe('blob store', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('a restarted server serves blobs of an older accepted revision, as ranges, and removes temp leftovers', async () => {
    const work = await tempDir('deployx-blobs-');
    cleanups.push(work.remove);
    const dataDir = path.join(work.dir, 'server');
    const oldConf = 'listen = 8080\nworkers = 4\n# revision one\n';
    const oldMotd = 'Managed by DeployX, revision one\n';
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet({ appConf: oldConf, motd: oldMotd }));
    let server = await startTestServer({ repo: repo.dir, dataDir });
    let open = true;
    cleanups.push(async () => open && (await server.close()));
    await acceptedHead(server, repo.first);
    const second = await repo.commit(testFleet({ appConf: 'listen = 9090\n', motd: 'revision two\n' }), 'second');
    await acceptedHead(server, second);
    await server.store.enrollDevice({
      id: device.deviceId,
      machineId: 'm-blob',
      labels: {},
      facts: {},
      publicKey: device.key.publicKey,
      now: new Date().toISOString(),
    });
    // A job planned against the first revision, still open when the server goes down: what
    // entitles the device to that revision's blobs (a device reads only what its jobs and desired
    // state reference).
    await server.store.createJobs([
      {
        id: 'job-old',
        deviceId: device.deviceId,
        revision: `main@sha1:${repo.first}`,
        idempotencyKey: 'job-old',
        steps: [
          { action: 'file.write', key: 'file/app-conf', path: '/etc/e2e/app.conf', sha256: sha256(oldConf), size: Buffer.byteLength(oldConf) },
          { action: 'file.write', key: 'file/motd', path: '/etc/e2e/motd', sha256: sha256(oldMotd), size: Buffer.byteLength(oldMotd) },
        ],
        createdAt: new Date().toISOString(),
      },
    ]);
    await server.close();
    open = false;

    // A write the previous process never finished (SIGKILL between create and rename).
    const leftoverDir = path.join(dataDir, 'blobs', 'sha256', 'ab');
    await mkdir(leftoverDir, { recursive: true });
    await writeFile(path.join(leftoverDir, `${'ab'.repeat(32)}.1234.tmp`), 'half a blob');

    server = await startTestServer({ repo: repo.dir, dataDir });
    open = true;
    await acceptedHead(server, second);

    // The agent's own client, as a job pinned to the first revision would use it.
    const fetchBlob = createBlobFetcher({ server: server.url, authorize: (sha) => blobAuthorization(server, device.deviceId, device.key, sha), attempts: 1 });
    assert.equal(Buffer.from(await fetchBlob(sha256(oldConf))).toString(), oldConf);
    assert.equal(Buffer.from(await fetchBlob(sha256(oldMotd))).toString(), oldMotd);

    const url = server.url + blobPath(sha256(oldConf));
    // Each request signs afresh: a statement is used once.
    const signed = (sha = sha256(oldConf)) => blobAuthorization(server, device.deviceId, device.key, sha);
    const size = Buffer.byteLength(oldConf);

    const middle = await fetch(url, { headers: { authorization: signed(), range: 'bytes=7-10' } });
    assert.equal(middle.status, 206);
    assert.equal(middle.headers.get('content-range'), `bytes 7-10/${size}`);
    assert.equal(middle.headers.get('etag'), `"${sha256(oldConf)}"`);
    assert.equal(await middle.text(), oldConf.slice(7, 11));

    const suffix = await fetch(url, { headers: { authorization: signed(), range: 'bytes=-5' } });
    assert.equal(suffix.status, 206);
    assert.equal(await suffix.text(), oldConf.slice(-5));

    const open_ = await fetch(url, { headers: { authorization: signed(), range: `bytes=${size - 3}-` } });
    assert.equal(open_.status, 206);
    assert.equal(await open_.text(), oldConf.slice(-3));

    const beyond = await fetch(url, { headers: { authorization: signed(), range: `bytes=${size}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${size}`);
    await beyond.body?.cancel();

    const head = await fetch(url, { method: 'HEAD', headers: { authorization: signed() } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(size));
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.equal(head.headers.get('etag'), `"${sha256(oldConf)}"`);

    // A Range that is stale for this ETag (If-Range) gets the whole blob.
    const stale = await fetch(url, { headers: { authorization: signed(), range: 'bytes=0-1', 'if-range': '"0000"' } });
    assert.equal(stale.status, 200);
    assert.equal(await stale.text(), oldConf);

    // A blob no job or desired state of the device references is refused before the store is asked.
    const unknown = await fetch(server.url + blobPath(sha256('never committed')), { headers: { authorization: signed(sha256('never committed')) } });
    assert.equal(unknown.status, 403);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'blob.forbidden');
    assert.deepEqual(await readdir(leftoverDir), [], 'temp leftovers are removed at start');
  });

  test('PXE artifacts stream from the store with Range to the run that needs them', async () => {
    const work = await tempDir('deployx-blobs-pxe-');
    cleanups.push(work.remove);
    const mac = '52:54:00:b1:0b:01';
    const repo = await makeRepo(path.join(work.dir, 'repo'), pxeFleet({ device: { name: 'web-1', mac, site: 'lab' } }));
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    await acceptedHead(server, repo.first);
    // Build mode: armed first, as `deployx device provision web-1` does.
    const armed = await fetch(`${server.url}/api/v1/devices/web-1/provisioning/arm`, { method: 'POST', headers: { authorization: `Bearer ${server.apiToken}` } });
    assert.equal(armed.status, 200);
    const script = await (await fetch(`${server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(mac)}&platform=pcbios&buildarch=x86_64`)).text();
    const token = /^set token (\S+)$/m.exec(script)?.[1];
    const kernelHex = sha256(KERNEL.toString('latin1'));
    assert.ok(token && script.includes(`/pxe/v1/artifacts/sha256/${kernelHex}?token=\${token}`), `an install script naming the kernel:\n${script}`);
    const kernelPath = `/pxe/v1/artifacts/sha256/${kernelHex}?token=${token}`;

    const whole = await fetch(server.url + kernelPath);
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), KERNEL);
    const part = await fetch(server.url + kernelPath, { headers: { range: 'bytes=5-10' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 5-10/${KERNEL.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), KERNEL.subarray(5, 11));
    const noToken = await fetch(server.url + kernelPath.replace(/\?token=.*/, ''));
    assert.equal(noToken.status, 401);
    await noToken.body?.cancel();
  });
});
