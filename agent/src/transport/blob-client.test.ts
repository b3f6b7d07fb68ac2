import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { checkBlobRequest, parseBlobAuthorization, ReplayGuard } from '../../../schemas/device-auth.ts';
import { isAgentError } from '../errors.ts';
import { deviceSigningKey, newDeviceKey, type Credentials } from '../state/credentials.ts';
import { createBlobFetcher, deviceBlobAuthorizer, removeStaleParts } from './blob-client.ts';

const body = Buffer.from('#!/bin/sh\necho hello\n');
const sha = createHash('sha256').update(body).digest('hex');
const other = createHash('sha256').update('other').digest('hex');
const identity: Credentials = { deviceId: 'dev-7', privateKey: newDeviceKey() };
const SERVER_KEY = `sha256:${'a'.repeat(64)}`;
const replay = new ReplayGuard();
const authorize = (id: Credentials | undefined = identity) => deviceBlobAuthorizer(() => id, () => SERVER_KEY);
/** Whether a request carries a fresh statement of dev-7's key for the blob it asks for. */
function signedForPath(url: string | undefined, authorization: string | undefined): boolean {
  const parsed = parseBlobAuthorization(authorization);
  const requested = /([0-9a-f]{64})$/.exec(url ?? '')?.[1];
  if (!parsed || parsed.deviceId !== identity.deviceId || requested === undefined) return false;
  const publicKey = createPublicKey(deviceSigningKey(identity).privateKey);
  return checkBlobRequest(parsed.envelope, requested, { deviceId: identity.deviceId, publicKey, serverKeys: new Set([SERVER_KEY]), now: new Date(), replay }).ok;
}

let server: Server;
let url: string;
/** Statuses to answer with, in order; then 200. */
let script: number[] = [];
let corrupt = false;
const seen: Array<{ path: string; authorization: string | undefined }> = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (!signedForPath(req.url, req.headers.authorization)) return void res.writeHead(401).end();
    if (req.url !== `/api/v1/blobs/sha256/${sha}`) return void res.writeHead(404).end();
    const status = script.shift() ?? 200;
    if (status !== 200) return void res.writeHead(status).end();
    res.writeHead(200).end(corrupt ? Buffer.from('truncated') : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  script = [];
  corrupt = false;
  seen.length = 0;
});

const fetcher = (id = identity) =>
  createBlobFetcher({ server: url, authorize: authorize(id), backoff: { baseMs: 5, capMs: 20 }, attempts: 4 });

describe('createBlobFetcher', () => {
  it('GETs the blob path with a statement signed by the device key for that blob, and returns verified bytes', async () => {
    const bytes = await fetcher()(sha);
    assert.equal(Buffer.from(bytes).toString(), body.toString());
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.path, `/api/v1/blobs/sha256/${sha}`);
    assert.match(seen[0]!.authorization ?? '', /^DeployX-Device dev-7 [A-Za-z0-9_-]+$/);
    assert.ok(!(seen[0]!.authorization ?? '').includes('PRIVATE'), 'no key material is sent');
  });

  it('retries transient statuses (503, 429) and then succeeds', async () => {
    script = [503, 429];
    const bytes = await fetcher()(sha);
    assert.equal(bytes.length, body.length);
    assert.equal(seen.length, 3);
  });

  it('does not retry a 401 (another key), nor a 404 once the restart grace is over (blob.fetch)', async () => {
    const noGrace = createBlobFetcher({ server: url, authorize: authorize(), backoff: { baseMs: 5, capMs: 20 }, attempts: 4, notFoundGraceMs: 0 });
    await assert.rejects(noGrace(other), (e) => isAgentError(e, 'blob.fetch') && /HTTP 404/.test(e.message));
    assert.equal(seen.length, 1);
    await assert.rejects(fetcher({ deviceId: 'dev-7', privateKey: newDeviceKey() })(sha), (e) => isAgentError(e, 'blob.fetch') && /HTTP 401/.test(e.message));
    assert.equal(seen.length, 2);
  });

  it('verifies the SHA-256: wrong bytes are retried, then fail with blob.hash-mismatch', async () => {
    corrupt = true;
    await assert.rejects(fetcher()(sha), (e) => isAgentError(e, 'blob.hash-mismatch'));
    assert.equal(seen.length, 4);
  });

  it('gives up after the attempts with blob.fetch when the server stays down', async () => {
    script = [500, 500, 500, 500, 500];
    await assert.rejects(fetcher()(sha), (e) => isAgentError(e, 'blob.fetch') && /after 4 attempts/.test(e.message));
  });

  it('fails without a device key', async () => {
    const fetch = createBlobFetcher({ server: url, authorize: () => undefined });
    await assert.rejects(fetch(sha), (e) => isAgentError(e, 'blob.fetch'));
    assert.equal(seen.length, 0);
  });
});

/** A server on 127.0.0.1:port answering with `handle`; `close` ends it and its connections. */
async function serve(handle: Parameters<typeof createServer>[1], port = 0): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const s = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', resolve);
  });
  return {
    server: s,
    port: (s.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  };
}

describe('createBlobFetcher: resume and outages', () => {
  const big = Buffer.alloc(1024 * 1024, 0);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
  const bigSha = createHash('sha256').update(big).digest('hex');
  const blobUrl = `/api/v1/blobs/sha256/${bigSha}`;
  let partDir: string;
  before(async () => {
    partDir = await mkdtemp(path.join(tmpdir(), 'deployx-parts-'));
  });
  after(() => rm(partDir, { recursive: true, force: true }));

  it('resumes a download cut in the middle with Range, keeping the part, and verifies the whole', async () => {
    const ranges: Array<string | undefined> = [];
    const half = 400 * 1024;
    const srv = await serve((req, res) => {
      if (req.url !== blobUrl) return void res.writeHead(404).end();
      ranges.push(req.headers.range);
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (match) {
        const start = Number(match[1]);
        res.writeHead(206, { 'content-range': `bytes ${start}-${big.length - 1}/${big.length}`, 'content-length': big.length - start });
        res.end(big.subarray(start));
        return;
      }
      // Promise the whole blob, send part of it, then drop the connection.
      res.writeHead(200, { 'content-length': big.length });
      res.write(big.subarray(0, half), () => setTimeout(() => res.destroy(), 20));
    });
    try {
      const fetchBlob = createBlobFetcher({
        server: `http://127.0.0.1:${srv.port}`,
        authorize: authorize(),
        backoff: { baseMs: 5, capMs: 20 },
        partDir,
      });
      const bytes = await fetchBlob(bigSha, { signal: AbortSignal.timeout(20_000) });
      assert.equal(createHash('sha256').update(bytes).digest('hex'), bigSha);
      assert.equal(ranges.length, 2);
      assert.equal(ranges[0], undefined);
      assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(ranges[1]!)![0]) >= half / 2, `resumed from the part, not from 0 (${ranges[1]})`);
      assert.deepEqual(await readdir(partDir), [], 'the part file is removed once verified');
    } finally {
      await srv.close();
    }
  });

  it('keeps retrying through a ~10 s server outage and succeeds when the server is back', { timeout: 40_000 }, async () => {
    const handler: Parameters<typeof createServer>[1] = (req, res) => {
      if (req.url !== blobUrl) return void res.writeHead(404).end();
      res.writeHead(200).end(big);
    };
    const first = await serve(handler);
    const port = first.port;
    await first.close(); // connection refused from now on
    let back: Awaited<ReturnType<typeof serve>> | undefined;
    const restart = setTimeout(() => void serve(handler, port).then((s) => (back = s)), 10_000);
    const started = Date.now();
    try {
      // The default attempts and a fixed jitter: only the policy's shape is the test's.
      const fetchBlob = createBlobFetcher({
        server: `http://127.0.0.1:${port}`,
        authorize: authorize(),
        backoff: { baseMs: 200, capMs: 1_000 },
        random: () => 0.5,
        partDir,
      });
      const bytes = await fetchBlob(bigSha, { signal: AbortSignal.timeout(30_000) });
      assert.equal(createHash('sha256').update(bytes).digest('hex'), bigSha);
      assert.ok(Date.now() - started >= 9_000, 'the download came after the outage');
    } finally {
      clearTimeout(restart);
      await back?.close();
    }
  });

  it('takes a 404 for a server still starting and retries it within the grace', async () => {
    let answers = 0;
    const srv = await serve((req, res) => {
      answers++;
      if (answers <= 2 || req.url !== blobUrl) return void res.writeHead(404).end();
      res.writeHead(200).end(big);
    });
    try {
      const fetchBlob = createBlobFetcher({ server: `http://127.0.0.1:${srv.port}`, authorize: authorize(), backoff: { baseMs: 5, capMs: 20 } });
      const bytes = await fetchBlob(bigSha, { signal: AbortSignal.timeout(10_000) });
      assert.equal(bytes.length, big.length);
      assert.equal(answers, 3);
    } finally {
      await srv.close();
    }
  });

  it('stops retrying when the job signal aborts', async () => {
    const srv = await serve((_req, res) => void res.writeHead(503).end());
    try {
      const fetchBlob = createBlobFetcher({ server: `http://127.0.0.1:${srv.port}`, authorize: authorize(), backoff: { baseMs: 5, capMs: 20 } });
      const started = Date.now();
      await assert.rejects(fetchBlob(bigSha, { signal: AbortSignal.timeout(300) }), (e: unknown) => (e as Error).name === 'TimeoutError');
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await srv.close();
    }
  });
});

describe('removeStaleParts', () => {
  it('removes part files untouched for longer than the age and keeps recent ones', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployx-parts-'));
    try {
      const old = path.join(dir, `${'a'.repeat(64)}.part`);
      const fresh = path.join(dir, `${'b'.repeat(64)}.part`);
      await writeFile(old, 'cancelled long ago');
      await writeFile(fresh, 'resumes soon');
      const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3_600_000);
      await utimes(old, eightDaysAgo, eightDaysAgo);
      assert.equal(await removeStaleParts(dir, new Date()), 1);
      assert.deepEqual(await readdir(dir), [path.basename(fresh)]);
      assert.equal(await removeStaleParts(path.join(dir, 'missing'), new Date()), 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
