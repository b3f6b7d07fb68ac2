import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from './store.ts';
import { at, describeStores } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('users: created once, replaced only on request, listed by name', async (t) => {
    const { store } = await tempStore(t);
    await store.saveUser({ name: 'bob', role: 'viewer', passwordHash: 'h1' });
    await store.saveUser({ name: 'alice', role: 'admin', passwordHash: 'h2' });
    await assert.rejects(store.saveUser({ name: 'bob', role: 'admin', passwordHash: 'h3' }), (e) => isStoreError(e, 'store.conflict'));
    assert.equal((await store.getUser('bob'))?.role, 'viewer');
    await store.saveUser({ name: 'bob', role: 'operator', passwordHash: 'h4', replace: true });
    const bob = await store.getUser('bob');
    assert.equal(bob?.role, 'operator');
    assert.equal(bob?.passwordHash, 'h4');
    assert.deepEqual((await store.listUsers()).map((u) => u.name), ['alice', 'bob']);
  });

  test('sessions: live until expiry, carry the user current role, gone with the user', async (t) => {
    const { store } = await tempStore(t);
    await store.saveUser({ name: 'bob', role: 'viewer', passwordHash: 'h' });
    await store.createSession({ idHash: 's1', user: 'bob', createdAt: at(0), expiresAt: at(60) });
    assert.deepEqual((await store.getSession('s1', at(59)))?.user, { name: 'bob', role: 'viewer' });
    assert.equal(await store.getSession('s1', at(60)), undefined, 'expired at expiresAt');
    assert.equal(await store.getSession('nope', at(1)), undefined);

    // A role change applies to live sessions at once.
    await store.saveUser({ name: 'bob', role: 'operator', passwordHash: 'h', replace: true });
    assert.equal((await store.getSession('s1', at(1)))?.user.role, 'operator');

    await store.createSession({ idHash: 's2', user: 'bob', createdAt: at(0), expiresAt: at(10) });
    assert.equal(await store.deleteExpiredSessions(at(30)), 1);
    assert.equal(await store.getSession('s2', at(5)), undefined, 'swept');

    await store.deleteUser('bob');
    assert.equal(await store.getSession('s1', at(1)), undefined, 'deleted with the user');
    await assert.rejects(store.deleteUser('bob'), (e) => isStoreError(e, 'store.not-found'));
    await assert.rejects(
      store.createSession({ idHash: 's3', user: 'ghost', createdAt: at(0), expiresAt: at(10) }),
      (e) => isStoreError(e, 'store.not-found') || isStoreError(e, 'store.conflict'),
    );
  });

  test('API tokens: found by hash while neither revoked nor expired', async (t) => {
    const { store } = await tempStore(t);
    await store.createApiToken({ id: 'a', name: 'ci', role: 'viewer', tokenHash: 'ha', createdAt: at(0) });
    await store.createApiToken({ id: 'b', name: 'bot', role: 'operator', tokenHash: 'hb', createdAt: at(1), expiresAt: at(10) });
    await assert.rejects(
      store.createApiToken({ id: 'c', name: 'dup', role: 'viewer', tokenHash: 'ha', createdAt: at(2) }),
      (e) => isStoreError(e, 'store.conflict'),
    );
    assert.equal((await store.findApiToken('ha', at(100)))?.role, 'viewer');
    assert.equal((await store.findApiToken('hb', at(9)))?.role, 'operator');
    assert.equal(await store.findApiToken('hb', at(10)), undefined, 'expired');
    await store.revokeApiToken('a', at(5));
    await store.revokeApiToken('a', at(6));
    assert.equal(await store.findApiToken('ha', at(7)), undefined, 'revoked');
    const listed = await store.listApiTokens();
    assert.deepEqual(listed.map((x) => x.id), ['b', 'a']);
    assert.equal(listed[1]?.revokedAt, at(5), 'first revocation kept');
  });
});
