import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DesiredResource } from '../../core/model.ts';
import { isStoreError, type InventoryUpsert } from './store.ts';
import { at, describeStores, enroll } from './test-support.ts';

function applied(name: string, fingerprint: string, minute = 1): InventoryUpsert {
  const resource = {
    key: `package/${name}`, type: 'package', fingerprint, ensure: 'present', prune: true, drift: 'enforce',
    sources: [{ profile: 'web', groups: ['web'] }], software: name, manager: 'apt', packageName: name, version: 'any',
  } as DesiredResource;
  return { key: resource.key, fingerprint, resource, revision: `main@sha1:${minute}`, appliedAt: at(minute) };
}

describeStores(({ tempStore }) => {
  test('applyInventory upserts and deletes by key in one go; reads come back sorted by key', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.applyInventory('a', [applied('nginx', 'f1'), applied('curl', 'f1')], []);
    assert.deepEqual(await store.getInventory('a'), [
      { deviceId: 'a', ...applied('curl', 'f1') },
      { deviceId: 'a', ...applied('nginx', 'f1') },
    ]);

    await store.applyInventory('a', [applied('nginx', 'f2', 2), applied('zsh', 'f1', 2)], ['package/curl', 'package/never']);
    const entries = await store.getInventory('a');
    assert.deepEqual(entries.map((e) => [e.key, e.fingerprint, e.revision]), [
      ['package/nginx', 'f2', 'main@sha1:2'],
      ['package/zsh', 'f1', 'main@sha1:2'],
    ]);
  });

  test('a failing applyInventory changes nothing', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.applyInventory('a', [applied('nginx', 'f1')], []);
    // The bad row is in the second 500-row statement: the delete and the first statement ran.
    const upserts = Array.from({ length: 600 }, (_, i) => applied(`p${i}`, 'f1'));
    upserts[550] = { ...applied('bad', 'f1'), fingerprint: null as unknown as string };
    await assert.rejects(store.applyInventory('a', upserts, ['package/nginx']), (err) =>
      isStoreError(err, 'store.invalid'),
    );
    await assert.rejects(store.applyInventory('a', [{ ...applied('zsh', 'f1'), appliedAt: 'never' }], []), (err) =>
      isStoreError(err, 'store.invalid'),
    );
    await assert.rejects(store.applyInventory('a', [applied('curl', 'f1')], ['package/curl']), (err) =>
      isStoreError(err, 'store.invalid'),
    );
    await assert.rejects(store.applyInventory('ghost', [applied('curl', 'f1')], []), (err) =>
      isStoreError(err, 'store.not-found'),
    );
    assert.deepEqual((await store.getInventory('a')).map((e) => e.key), ['package/nginx']);
  });

  test('getInventoryMany answers every id, with an empty list for devices without inventory', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.applyInventory('b', [applied('nginx', 'f1')], []);
    const many = await store.getInventoryMany(['a', 'b', 'ghost']);
    assert.deepEqual([...many.keys()], ['a', 'b', 'ghost']);
    assert.deepEqual(many.get('a'), []);
    assert.deepEqual(many.get('b')?.map((e) => e.key), ['package/nginx']);
    assert.deepEqual(await store.getInventory('ghost'), []);
  });

  test('applyInventoryMany changes many devices in one transaction, deletes by (device, key)', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.applyInventoryMany([
      { deviceId: 'a', upserts: [applied('nginx', 'f1'), applied('curl', 'f1')], deletes: [] },
      { deviceId: 'b', upserts: [applied('curl', 'f1')], deletes: [] },
    ]);
    await store.applyInventoryMany([
      { deviceId: 'a', upserts: [], deletes: ['package/curl'] },
      { deviceId: 'b', upserts: [applied('zsh', 'f2', 2)], deletes: [] },
    ]);
    const many = await store.getInventoryMany(['a', 'b']);
    assert.deepEqual(many.get('a')!.map((e) => e.key), ['package/nginx']);
    assert.deepEqual(many.get('b')!.map((e) => e.key), ['package/curl', 'package/zsh'], "a's delete does not touch b");
  });
});
