import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError, REVISION_ERRORS_KEPT, type RevisionInput } from './store.ts';
import { at, describeStores } from './test-support.ts';

function rev(oid: string, seenMinute: number, extra: Partial<RevisionInput> = {}): RevisionInput {
  return {
    revision: `main@sha1:${oid}`,
    oid,
    branch: 'main',
    author: 'Ada <ada@example.com>',
    message: `commit ${oid}`,
    committedAt: at(seenMinute - 1),
    seenAt: at(seenMinute),
    status: 'accepted',
    errors: [],
    ...extra,
  };
}

describeStores(({ tempStore }) => {
  test('a revision round-trips with every error, and recording its oid again changes nothing', async (t) => {
    const { store } = await tempStore(t);
    const errors = [
      { code: 'schema.unknown-key', message: 'unknown key "pakages"', file: 'sw/nginx.yaml', line: 4, col: 3, path: '/spec/pakages', suggestion: 'packages' },
      { code: 'ref.group', message: 'no group "web"', file: 'profiles/web.yaml', line: 9, col: 7, path: '/spec/targets/0' },
    ];
    const first = await store.recordRevision(rev('bad1', 10, { status: 'rejected', errors }));
    assert.equal(first.created, true);
    assert.deepEqual(await store.getRevision('bad1'), {
      ...rev('bad1', 10, { status: 'rejected', errors }),
      lastSeenAt: at(10),
      errorCount: 2,
    });

    const again = await store.recordRevision(rev('bad1', 10, { status: 'accepted', errors: [], message: 'other' }));
    assert.equal(again.created, false);
    assert.equal(again.revision.status, 'rejected');
    assert.deepEqual(again.revision.errors, errors);
    assert.equal((await store.listRevisions({ limit: 10 })).length, 1);
    assert.equal(await store.getRevision('nope'), undefined);
  });

  test('times are normalised to UTC ISO with milliseconds; a non-time is store.invalid', async (t) => {
    const { store } = await tempStore(t);
    const { revision } = await store.recordRevision(
      rev('a', 1, { committedAt: '2025-01-01T01:30:00+01:00', seenAt: '2025-01-01T00:31:00Z' }),
    );
    assert.equal(revision.committedAt, '2025-01-01T00:30:00.000Z');
    assert.equal(revision.seenAt, '2025-01-01T00:31:00.000Z');
    await assert.rejects(store.recordRevision(rev('b', 2, { committedAt: 'yesterday' })), (err) =>
      isStoreError(err, 'store.invalid'),
    );
  });

  test('listRevisions is newest first and pages with an oid cursor', async (t) => {
    const { store } = await tempStore(t);
    // Recorded out of order; two seen in the same millisecond keep their recording order.
    await store.recordRevision(rev('b', 2));
    await store.recordRevision(rev('a', 1));
    await store.recordRevision(rev('c', 3));
    await store.recordRevision(rev('d', 3));
    const oids = async (q: { limit: number; before?: string }) => (await store.listRevisions(q)).map((r) => r.oid);
    assert.deepEqual(await oids({ limit: 10 }), ['d', 'c', 'b', 'a']);
    assert.deepEqual(await oids({ limit: 2 }), ['d', 'c']);
    assert.deepEqual(await oids({ limit: 2, before: 'c' }), ['b', 'a']);
    assert.deepEqual(await oids({ limit: 2, before: 'a' }), []);
    await assert.rejects(store.listRevisions({ limit: 2, before: 'zzz' }), (err) => isStoreError(err, 'store.invalid'));
    await assert.rejects(store.listRevisions({ limit: 0 }), (err) => isStoreError(err, 'store.invalid'));
  });

  test('latestAccepted follows the branch: skips rejected heads and returns to a reset oid', async (t) => {
    const { store } = await tempStore(t);
    assert.equal(await store.latestAccepted(), undefined);
    await store.recordRevision(rev('a', 1));
    await store.recordRevision(rev('b', 2));
    await store.recordRevision(rev('c', 3, { status: 'rejected', errors: [] }));
    assert.equal((await store.latestAccepted())?.oid, 'b');

    // The branch is reset to `a`: a is the revision to serve again, its history entry stays put.
    const reset = await store.recordRevision(rev('a', 4));
    assert.equal(reset.created, false);
    assert.equal(reset.revision.seenAt, at(1));
    assert.equal(reset.revision.lastSeenAt, at(4));
    assert.equal((await store.latestAccepted())?.oid, 'a');
    assert.deepEqual((await store.listRevisions({ limit: 10 })).map((r) => r.oid), ['c', 'b', 'a']);

    // An older sighting delivered late never moves lastSeenAt back.
    await store.recordRevision(rev('a', 2));
    assert.equal((await store.getRevision('a'))?.lastSeenAt, at(4));
  });

  test('seenAt defaults to the store clock', async (t) => {
    const { store } = await tempStore(t, { now: () => new Date('2025-06-01T12:00:00Z') });
    const { seenAt: _omit, ...input } = rev('x', 1);
    const { revision } = await store.recordRevision(input);
    assert.equal(revision.seenAt, '2025-06-01T12:00:00.000Z');
  });

  test('a rejected revision keeps its first REVISION_ERRORS_KEPT errors and the total; the list carries fewer', async (t) => {
    const { store } = await tempStore(t);
    const errors = Array.from({ length: 5_000 }, (_, i) => ({ code: 'yaml.syntax', message: `bad ${i}`, file: 'big.yaml', line: i + 1, col: 1, path: '' }));
    const { revision } = await store.recordRevision(rev('big', 10, { status: 'rejected', errors }));
    assert.equal(revision.errorCount, 5_000);
    assert.deepEqual(revision.errors, errors.slice(0, REVISION_ERRORS_KEPT));
    const stored = await store.getRevision('big');
    assert.equal(stored?.errorCount, 5_000);
    assert.equal(stored?.errors.length, REVISION_ERRORS_KEPT);

    const [listed] = await store.listRevisions({ limit: 10, errorsPerRevision: 20 });
    assert.equal(listed?.errorCount, 5_000);
    assert.deepEqual(listed?.errors, errors.slice(0, 20));
    const [whole] = await store.listRevisions({ limit: 10 });
    assert.equal(whole?.errors.length, REVISION_ERRORS_KEPT);

    const { revision: ok } = await store.recordRevision(rev('ok', 11));
    assert.equal(ok.errorCount, 0);
  });

  test('an accepted revision keeps its verified signer (migration 013); one recorded without a signer has none', async (t) => {
    const { store } = await tempStore(t);
    const signer = { method: 'ssh' as const, fingerprint: 'SHA256:rw6xlA4c1LKyEaSyFOb5p6Bcj8bX/JaEWi3o0rVWbBM', identity: 'alice@example.com' };
    await store.recordRevision(rev('signed1', 10, { signer }));
    await store.recordRevision(rev('plain1', 11));
    assert.deepEqual((await store.getRevision('signed1'))?.signer, signer);
    assert.equal('signer' in (await store.getRevision('plain1'))!, false);
    assert.deepEqual((await store.listRevisions({ limit: 10 })).map((r) => r.signer?.identity), [undefined, 'alice@example.com']);
    assert.deepEqual((await store.latestAccepted())?.oid, 'plain1');
  });
});
