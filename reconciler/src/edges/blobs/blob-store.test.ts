import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildModel } from '../../core/compile/test-builders.ts';
import { makeTempDir, removeDir } from '../git/test-repo.ts';
import type { RevisionReader } from '../git/revision-reader.ts';
import { BlobStore, BlobStoreError } from './blob-store.ts';

const payload = Buffer.from('wallpaper bytes');
const sha = createHash('sha256').update(payload).digest('hex');
let hits = 0;
let base = '';
let dir = '';
const server = createServer((req, res) => {
  hits++;
  // Slow enough that concurrent first uses overlap.
  setTimeout(() => res.end(req.url === '/w.jpg' ? payload : 'something else'), 50);
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

async function storeWith(name: string, url: string, sha256: string): Promise<BlobStore> {
  const store = await BlobStore.open({ dir: path.join(dir, name) });
  await store.addRevision(buildModel({ files: { wallpaper: { path: '/srv/w.jpg', url, sha256 } } }), noReader);
  return store;
}

test('a url source is fetched once (concurrent first uses share it), verified, and served from disk afterwards', async () => {
  hits = 0;
  const store = await storeWith('url', `${base}/w.jpg`, sha);
  const [a, b] = await Promise.all([store.get(sha), store.get(sha)]);
  assert.deepEqual(await readFile(a!.path), payload);
  assert.equal(b!.size, payload.length);
  assert.equal(await store.problem(sha), undefined);
  // A new process on the same dir: the URL is remembered and the bytes are not fetched again.
  const reopened = await BlobStore.open({ dir: path.join(dir, 'url') });
  assert.deepEqual(await readFile((await reopened.get(sha))!.path), payload);
  assert.equal(hits, 1);
});

test('a url whose bytes do not match the SHA-256 is refused, not stored', async () => {
  const wrong = createHash('sha256').update('expected').digest('hex');
  const store = await storeWith('wrong', `${base}/other`, wrong);
  await assert.rejects(store.get(wrong), (e: unknown) => e instanceof BlobStoreError && e.code === 'blob.upstream');
  assert.match((await store.problem(wrong))!, /SHA-256/);
  const files = await readdir(path.dirname(store.pathOf(wrong)));
  assert.deepEqual(files, [`${wrong}.url`], 'neither the blob nor a temp file is left');
});

test('inline content is stored by its hash when the revision is added; unknown hashes are undefined', async () => {
  const store = await BlobStore.open({ dir: path.join(dir, 'inline') });
  await store.addRevision(buildModel({ files: { motd: { path: '/etc/motd', content: 'hello\n' } } }), noReader);
  const hello = createHash('sha256').update('hello\n').digest('hex');
  assert.equal(await readFile(store.pathOf(hello), 'utf8'), 'hello\n');
  assert.equal((await store.get(hello))!.size, 6);
  assert.equal(await store.get('0'.repeat(64)), undefined);
  assert.equal(await store.problem('0'.repeat(64)), 'not in any accepted revision');
});

test('opening the store removes temp files of unfinished writes and adopts the flat cache of older versions', async () => {
  const root = path.join(dir, 'leftovers');
  const prefix = path.join(root, 'sha256', sha.slice(0, 2));
  await mkdir(prefix, { recursive: true });
  await writeFile(path.join(prefix, `${sha}.0b1c.tmp`), 'half');
  await writeFile(path.join(root, `${sha}.4242.tmp`), 'half');
  await writeFile(path.join(root, sha), payload);
  const store = await BlobStore.open({ dir: root });
  assert.deepEqual(await readdir(prefix), [sha]);
  assert.deepEqual(await readdir(root), ['sha256']);
  assert.deepEqual(await readFile((await store.get(sha))!.path), payload);
});
