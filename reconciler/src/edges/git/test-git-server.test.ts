import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createBareRepo, startGitHttpServer, type GitHttpServer } from './test-git-server.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type TestRepo } from './test-repo.ts';

describe('startGitHttpServer (git http-backend as CGI)', () => {
  let tmp: string;
  let server: GitHttpServer;
  let work: TestRepo & { first: string };
  let url: string;

  before(async () => {
    tmp = await makeTempDir('deployx-git-http-');
    server = await startGitHttpServer({ projectRoot: join(tmp, 'served') });
    await createBareRepo(join(tmp, 'served'), 'fleet');
    url = `${server.url}/fleet.git`;
    work = await makeRepo(join(tmp, 'work'), { 'fleet.yaml': 'kind: Fleet\n' });
  });

  after(async () => {
    await server.close();
    await removeDir(tmp);
  });

  it('takes a push and serves a clone to the git CLI (protocol v2)', async () => {
    await runGit(work.dir, ['push', '--quiet', url, 'main']);
    await runGit(tmp, ['-c', 'protocol.version=2', 'clone', '--quiet', url, join(tmp, 'clone')]);
    assert.equal(await runGit(join(tmp, 'clone'), ['rev-parse', 'HEAD']), work.first);
    assert.ok(server.requests.some((r) => r.service === 'git-receive-pack' && r.method === 'POST' && r.status === 200));
    assert.ok(server.requests.some((r) => r.service === 'git-upload-pack' && r.method === 'POST' && r.status === 200));
  });

  it('inflates a gzip request body', async () => {
    const pkt = (line: string): string => (line.length + 4).toString(16).padStart(4, '0') + line;
    const request = `${pkt(`want ${work.first}\n`)}0000${pkt('done\n')}`;
    const response = await fetch(`${url}/git-upload-pack`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-git-upload-pack-request', 'Content-Encoding': 'gzip' },
      body: gzipSync(request),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/x-git-upload-pack-result');
    const body = Buffer.from(await response.arrayBuffer());
    assert.equal(body.subarray(0, 8).toString(), '0008NAK\n');
    assert.equal(body.subarray(8, 12).toString(), 'PACK');
  });

  it('answers 404 for a missing repository and for a path leaving the project root', async () => {
    assert.equal((await fetch(`${server.url}/missing.git/info/refs?service=git-upload-pack`)).status, 404);
    // Escaping would find <tmp>/served/fleet.git from the project root's parent.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(`${server.url}/x`, { path: '/../served/fleet.git/info/refs?service=git-upload-pack' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 404);
  });

  it('requires the configured credentials', async () => {
    const guarded = await startGitHttpServer({ projectRoot: join(tmp, 'served'), auth: { username: 'u', password: 'p' } });
    try {
      const path = `${guarded.url}/fleet.git/info/refs?service=git-upload-pack`;
      const refused = await fetch(path);
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Basic /);
      const allowed = await fetch(path, { headers: { Authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } });
      assert.equal(allowed.status, 200);
      assert.ok((await allowed.text()).includes(work.first));
    } finally {
      await guarded.close();
    }
  });
});
