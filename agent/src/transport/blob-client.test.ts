import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { deviceAuthorization } from '../../../schemas/protocol.ts';
import { isAgentError } from '../errors.ts';
import { createBlobFetcher } from './blob-client.ts';

const body = Buffer.from('#!/bin/sh\necho hello\n');
const sha = createHash('sha256').update(body).digest('hex');
const other = createHash('sha256').update('other').digest('hex');
const identity = { deviceId: 'dev-7', credential: 'cred-abcdef' };

let server: Server;
let url: string;
/** Statuses to answer with, in order; then 200. */
let script: number[] = [];
let corrupt = false;
const seen: Array<{ path: string; authorization: string | undefined }> = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== deviceAuthorization(identity.deviceId, identity.credential)) return void res.writeHead(401).end();
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
  createBlobFetcher({ server: url, identity: () => id, backoff: { baseMs: 5, capMs: 20 }, attempts: 4 });

describe('createBlobFetcher', () => {
  it('GETs the blob path with the device Basic credential and returns verified bytes', async () => {
    const bytes = await fetcher()(sha);
    assert.equal(Buffer.from(bytes).toString(), body.toString());
    assert.deepEqual(seen, [{ path: `/api/v1/blobs/sha256/${sha}`, authorization: `Basic ${btoa('dev-7:cred-abcdef')}` }]);
  });

  it('retries transient statuses (503, 429) and then succeeds', async () => {
    script = [503, 429];
    const bytes = await fetcher()(sha);
    assert.equal(bytes.length, body.length);
    assert.equal(seen.length, 3);
  });

  it('does not retry a 404 or a 401 (blob.fetch)', async () => {
    await assert.rejects(fetcher()(other), (e) => isAgentError(e, 'blob.fetch') && /HTTP 404/.test(e.message));
    assert.equal(seen.length, 1);
    await assert.rejects(fetcher({ deviceId: 'dev-7', credential: 'wrong' })(sha), (e) => isAgentError(e, 'blob.fetch') && /HTTP 401/.test(e.message));
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

  it('fails without a credential', async () => {
    const fetch = createBlobFetcher({ server: url, identity: () => undefined });
    await assert.rejects(fetch(sha), (e) => isAgentError(e, 'blob.fetch'));
    assert.equal(seen.length, 0);
  });
});
