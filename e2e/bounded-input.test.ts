// End to end: a committer's hostile YAML against the real server (a real git repository in a temp
// dir, watched for commits; a real SQLite store; the HTTP API). Deep nesting, a 12 MB file and a
// commit with tens of thousands of errors are each rejected with their own error code, the last
// good revision stays in force, /healthz answers within a second all along, and the revisions
// listing stays small.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import type { RevisionsResponse, RevisionView } from '../schemas/protocol.ts';
import { testFleet } from './fleet.ts';
import { api, startTestServer, tempDir, waitFor } from './harness.ts';

/** Probes /healthz every 50 ms until stopped; the slowest answer (ms) and how many came back. */
function probeHealth(server: RunningServer): { stop: () => Promise<{ worstMs: number; answers: number }> } {
  let running = true;
  let worstMs = 0;
  let answers = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const res = await fetch(`${server.url}/healthz`);
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      worstMs = Math.max(worstMs, performance.now() - started);
      answers++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { worstMs, answers };
    },
  };
}

describe('hostile YAML commits', { timeout: 180_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('deep nesting, a 12 MB file and 40,000 errors: each rejected with its code, the server answers within 1 s, the listing stays small', async (t) => {
    const work = await tempDir('deployx-bounded-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const listing = () => api<RevisionsResponse>(server, '/api/v1/revisions');
    const good = `main@sha1:${repo.first}`;
    await waitFor('the first revision in force', async () => (await listing()).current === good);

    const rejected = async (files: Record<string, string | null>, message: string): Promise<{ revision: RevisionView; worstMs: number }> => {
      const probe = probeHealth(server);
      try {
        const oid = await repo.commit(files, message);
        server.reconciler.enqueueSource();
        const revision = await waitFor(`the ${message} commit`, async () => (await listing()).revisions.find((r) => r.oid === oid), 60_000);
        const { worstMs, answers } = await probe.stop();
        assert.ok(answers > 0, 'healthz answered');
        return { revision, worstMs };
      } finally {
        await probe.stop();
      }
    };

    // 64 KB of nested flow sequences, outside the plain-YAML fast path (the sequence is not closed).
    const deep = await rejected({ 'deep.yaml': `notes: ${'['.repeat(65_536)}\n` }, 'deep nesting');
    assert.equal(deep.revision.status, 'rejected');
    assert.deepEqual(deep.revision.errors.map((e) => [e.code, e.file, e.line]), [['yaml.too-deep', 'deep.yaml', 1]]);
    t.diagnostic(`deep: slowest /healthz ${deep.worstMs.toFixed(0)} ms`);
    assert.ok(deep.worstMs < 1000, `healthz took ${deep.worstMs.toFixed(0)} ms`);

    // 12 MB of YAML in one file: every line would be an error if it were parsed.
    const big = Array.from({ length: 400_000 }, (_, i) => `- {name: item-${i}, bogus: [1, 2]}`).join('\n') + '\n';
    assert.ok(big.length > 12_000_000);
    const large = await rejected({ 'deep.yaml': null, 'big.yaml': big }, 'a 12 MB file');
    assert.deepEqual(large.revision.errors.map((e) => [e.code, e.file, e.line]), [['file.too-large', 'big.yaml', 1]]);
    assert.equal(large.revision.errorCount, 1);
    t.diagnostic(`large: slowest /healthz ${large.worstMs.toFixed(0)} ms`);
    assert.ok(large.worstMs < 1000, `healthz took ${large.worstMs.toFixed(0)} ms`);

    // Within the size limits, 40,000 documents that are not mappings: 40,000 errors.
    const many = await rejected({ 'big.yaml': null, 'many.yaml': '---\n1\n'.repeat(40_000) }, 'many errors');
    assert.equal(many.revision.errorCount, 40_000);
    assert.ok(many.revision.errors.length <= 20, `${many.revision.errors.length} errors listed`);
    assert.deepEqual(many.revision.errors[0] && [many.revision.errors[0].code, many.revision.errors[0].file, many.revision.errors[0].line], ['document.not-object', 'many.yaml', 2]);
    t.diagnostic(`many: slowest /healthz ${many.worstMs.toFixed(0)} ms`);
    assert.ok(many.worstMs < 1000, `healthz took ${many.worstMs.toFixed(0)} ms`);
    const detail = await api<RevisionView>(server, `/api/v1/revisions/${many.revision.oid}`);
    assert.equal(detail.errors.length, 200);
    assert.equal(detail.errorCount, 40_000);

    // The server is up, the good revision is still in force, and the listing is small.
    const res = await fetch(`${server.url}/api/v1/revisions`, { headers: { authorization: `Bearer ${server.apiToken}` } });
    const body = await res.text();
    assert.equal(res.status, 200);
    t.diagnostic(`GET /api/v1/revisions: ${body.length} bytes`);
    assert.ok(body.length < 64 * 1024, `the listing is ${body.length} bytes`);
    const final = JSON.parse(body) as RevisionsResponse;
    assert.equal(final.current, good);
    assert.equal(final.revisions.length, 4);
  });
});
