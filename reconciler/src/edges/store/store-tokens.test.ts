import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from './store.ts';
import { at, describeStores } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('20 concurrent consumes of a 5-use token: exactly 5 succeed', async (t) => {
    const { store } = await tempStore(t);
    await store.createEnrollmentToken({ id: 't1', name: 'lab', tokenHash: 'h1', maxUses: 5, createdAt: at(0) });
    const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeEnrollmentToken('h1', at(1))));
    assert.equal(results.filter((r) => r.ok).length, 5);
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.reason)),
      new Array(15).fill('exhausted'),
    );
    // Every success saw its own use counted.
    assert.deepEqual(results.flatMap((r) => (r.ok ? [r.token.uses] : [])).sort(), [1, 2, 3, 4, 5]);
    assert.equal((await store.listEnrollmentTokens())[0]?.uses, 5);
  });

  test('two connections on one file racing for a 5-use token: exactly 5 succeed', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    await store.createEnrollmentToken({ id: 't1', name: 'lab', tokenHash: 'h1', maxUses: 5 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).consumeEnrollmentToken('h1', at(1))),
    );
    assert.equal(results.filter((r) => r.ok).length, 5);
    assert.equal((await other.listEnrollmentTokens())[0]?.uses, 5);
  });

  test('refusal reasons: unknown, expired, revoked, exhausted', async (t) => {
    const { store } = await tempStore(t);
    await store.createEnrollmentToken({ id: 'exp', name: 'e', tokenHash: 'h-exp', expiresAt: at(10) });
    await store.createEnrollmentToken({ id: 'rev', name: 'r', tokenHash: 'h-rev', maxUses: 0 });
    await store.createEnrollmentToken({ id: 'once', name: 'o', tokenHash: 'h-once', maxUses: 1 });
    await store.createEnrollmentToken({ id: 'free', name: 'f', tokenHash: 'h-free' });
    await store.revokeEnrollmentToken('rev', at(0));

    assert.deepEqual(await store.consumeEnrollmentToken('h-none', at(1)), { ok: false, reason: 'unknown' });
    assert.equal((await store.consumeEnrollmentToken('h-exp', at(9))).ok, true);
    // Expiry is exclusive: at expiresAt the token no longer works.
    assert.deepEqual(await store.consumeEnrollmentToken('h-exp', at(10)), { ok: false, reason: 'expired' });
    // Revoked wins over exhausted (maxUses 0).
    assert.deepEqual(await store.consumeEnrollmentToken('h-rev', at(1)), { ok: false, reason: 'revoked' });
    assert.equal((await store.consumeEnrollmentToken('h-once', at(1))).ok, true);
    assert.deepEqual(await store.consumeEnrollmentToken('h-once', at(1)), { ok: false, reason: 'exhausted' });
    for (let i = 0; i < 3; i++) assert.equal((await store.consumeEnrollmentToken('h-free', at(1))).ok, true);

    const uses = Object.fromEntries((await store.listEnrollmentTokens()).map((tk) => [tk.id, tk.uses]));
    assert.deepEqual(uses, { exp: 1, rev: 0, once: 1, free: 3 });
  });

  test('tokens round-trip, list newest first, revoke once, and refuse duplicates', async (t) => {
    const { store } = await tempStore(t);
    const created = await store.createEnrollmentToken({
      id: 't1', name: 'web', tokenHash: 'h1', createdAt: at(0), expiresAt: at(60), maxUses: 3,
      labels: { role: 'web' }, boundDevice: 'web-01',
    });
    assert.deepEqual(created, {
      id: 't1', name: 'web', tokenHash: 'h1', createdAt: at(0), expiresAt: at(60), maxUses: 3, uses: 0,
      labels: { role: 'web' }, boundDevice: 'web-01',
    });
    await store.createEnrollmentToken({ id: 't2', name: 'db', tokenHash: 'h2', createdAt: at(5) });
    assert.deepEqual((await store.listEnrollmentTokens()).map((tk) => tk.id), ['t2', 't1']);

    await assert.rejects(store.createEnrollmentToken({ id: 't1', name: 'x', tokenHash: 'h3' }), (err) =>
      isStoreError(err, 'store.conflict'),
    );
    await assert.rejects(store.createEnrollmentToken({ id: 't3', name: 'x', tokenHash: 'h1' }), (err) =>
      isStoreError(err, 'store.conflict') &&
      // The API shows a 409's message to its caller: the database's words, not its SQL.
      !/INSERT|enrollment_tokens \(/.test(err.message) &&
      /^INSERT INTO enrollment_tokens/.test(err.statement ?? ''),
    );

    assert.equal((await store.revokeEnrollmentToken('t1', at(7))).revokedAt, at(7));
    assert.equal((await store.revokeEnrollmentToken('t1', at(9))).revokedAt, at(7));
    await assert.rejects(store.revokeEnrollmentToken('nope'), (err) => isStoreError(err, 'store.not-found'));
    const consumed = await store.consumeEnrollmentToken('h2', at(1));
    assert.ok(consumed.ok && consumed.token.id === 't2' && consumed.token.labels !== undefined);
  });
});
