import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildModel } from '../core/compile/test-builders.ts';
import { makeTempDir, removeDir } from '../edges/git/test-repo.ts';
import type { RevisionReader } from '../edges/git/revision-reader.ts';
import { BlobIndex, BlobUpstreamError } from './blob-index.ts';

const payload = Buffer.from('wallpaper bytes');
const sha = createHash('sha256').update(payload).digest('hex');
let hits = 0;
let base = '';
let dir = '';
const server = createServer((req, res) => {
  hits++;
  res.end(req.url === '/w.jpg' ? payload : 'something else');
});

before(async () => {
  dir = await makeTempDir('deployx-blobs-');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.close();
  await removeDir(dir);
});

const noReader: RevisionReader = { revision: 'worktree', list: async () => [], read: async () => new Uint8Array() };

function indexWith(url: string, sha256: string): BlobIndex {
  const index = new BlobIndex({ cacheDir: path.join(dir, 'cache') });
  const model = buildModel({ files: { wallpaper: { path: '/srv/w.jpg', url, sha256 } } });
  index.addRevision(model, noReader);
  return index;
}

test('a url source is fetched once, verified, and served from the cache afterwards', async () => {
  const index = indexWith(`${base}/w.jpg`, sha);
  assert.deepEqual(Buffer.from((await index.read(sha))!), payload);
  assert.deepEqual(Buffer.from((await index.read(sha))!), payload);
  assert.equal(hits, 1);
});

test('a url whose bytes do not match the SHA-256 is refused, not served', async () => {
  const wrong = createHash('sha256').update('expected').digest('hex');
  const index = indexWith(`${base}/other`, wrong);
  await assert.rejects(index.read(wrong), (e: unknown) => e instanceof BlobUpstreamError && e.code === 'blob.upstream');
});

test('inline content is served by its hash; unknown hashes are undefined', async () => {
  const index = new BlobIndex({ cacheDir: path.join(dir, 'cache2') });
  index.addRevision(buildModel({ files: { motd: { path: '/etc/motd', content: 'hello\n' } } }), noReader);
  const hello = createHash('sha256').update('hello\n').digest('hex');
  assert.equal(Buffer.from((await index.read(hello))!).toString(), 'hello\n');
  assert.equal(await index.read('0'.repeat(64)), undefined);
});
