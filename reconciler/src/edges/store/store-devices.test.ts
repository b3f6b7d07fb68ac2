import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from './store.ts';
import { at, describeStores, enroll } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('an enrolled device is found by its credential hash and by nothing else', async (t) => {
    const { store } = await tempStore(t);
    const device = await store.enrollDevice({
      id: 'web-01', machineId: 'm-1', labels: { role: 'web' },
      facts: { hostname: 'web-01.lab', os: { family: 'debian' } }, credentialHash: 'c'.repeat(64), now: at(0),
    });
    assert.deepEqual(device, {
      id: 'web-01', machineId: 'm-1', name: 'web-01.lab', labels: { role: 'web' },
      facts: { hostname: 'web-01.lab', os: { family: 'debian' } }, hasCredential: true, enrolledAt: at(0),
    });
    assert.equal((await store.findDeviceByCredential('web-01', 'c'.repeat(64)))?.id, 'web-01');
    assert.equal(await store.findDeviceByCredential('web-01', 'd'.repeat(64)), undefined);
    assert.equal(await store.findDeviceByCredential('web-01', 'c'.repeat(63)), undefined);
    assert.equal(await store.findDeviceByCredential('web-02', 'c'.repeat(64)), undefined);
    // The record never carries the hash.
    assert.equal(JSON.stringify(await store.getDevice('web-01')).includes('c'.repeat(64)), false);

    await store.setCredential('web-01', 'e'.repeat(64));
    assert.equal(await store.findDeviceByCredential('web-01', 'c'.repeat(64)), undefined);
    assert.equal((await store.findDeviceByCredential('web-01', 'e'.repeat(64)))?.id, 'web-01');
    await assert.rejects(store.setCredential('nope', 'x'), (err) => isStoreError(err, 'store.not-found'));
  });

  test('the same machine enrolling again re-binds its device: same id, new credential, new labels', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a', { machineId: 'm-1', credentialHash: 'old' });
    const again = await store.enrollDevice({
      id: 'a-second-id', machineId: 'm-1', labels: { role: 'db' }, facts: { hostname: 'renamed' },
      credentialHash: 'new', now: at(5),
    });
    assert.equal(again.id, 'a');
    assert.deepEqual(again.labels, { role: 'db' });
    assert.equal(again.enrolledAt, at(5));
    assert.equal(await store.findDeviceByCredential('a', 'old'), undefined);
    assert.equal((await store.findDeviceByCredential('a', 'new'))?.name, 'renamed');
    assert.equal(await store.countDevices(), 1);
    assert.equal(await store.getDevice('a-second-id'), undefined);
  });

  test('an id taken by another machine is store.conflict', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a', { machineId: 'm-1' });
    await enroll(store, 'b', { machineId: 'm-2' });
    await assert.rejects(enroll(store, 'a', { machineId: 'm-3' }), (err) => isStoreError(err, 'store.conflict'));
    // Machine m-2 asking to become device a: a belongs to m-1.
    await assert.rejects(enroll(store, 'a', { machineId: 'm-2' }), (err) => isStoreError(err, 'store.conflict'));
    assert.equal(await store.countDevices(), 2);
  });

  test('a deleted device keeps its history, loses its credential, and comes back by re-enrolling', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a', { credentialHash: 'cred-a' });
    await enroll(store, 'b');
    await store.deleteDevice('a', at(3));

    assert.equal(await store.findDeviceByCredential('a', 'cred-a'), undefined);
    const deleted = await store.getDevice('a');
    assert.equal(deleted?.deletedAt, at(3));
    assert.equal(deleted?.hasCredential, false);
    assert.deepEqual((await store.listDevices({ limit: 10 })).map((d) => d.id), ['b']);
    assert.equal(await store.countDevices(), 1);
    await assert.rejects(store.setCredential('a', 'x'), (err) => isStoreError(err, 'store.not-found'));
    await store.deleteDevice('a', at(9)); // idempotent: keeps the first deletion time
    assert.equal((await store.getDevice('a'))?.deletedAt, at(3));
    await assert.rejects(store.deleteDevice('nope'), (err) => isStoreError(err, 'store.not-found'));

    const back = await enroll(store, 'a', { credentialHash: 'cred-a2' });
    assert.equal(back.deletedAt, undefined);
    assert.equal((await store.findDeviceByCredential('a', 'cred-a2'))?.id, 'a');
  });

  test('listDevices pages by id; touchDevices only moves lastSeenAt forward', async (t) => {
    const { store } = await tempStore(t);
    for (const id of ['c', 'a', 'e', 'b', 'd']) await enroll(store, id);
    assert.deepEqual((await store.listDevices({ limit: 2 })).map((d) => d.id), ['a', 'b']);
    assert.deepEqual((await store.listDevices({ limit: 2, offset: 2 })).map((d) => d.id), ['c', 'd']);
    assert.deepEqual((await store.listDevices({ limit: 2, offset: 4 })).map((d) => d.id), ['e']);
    await assert.rejects(store.listDevices({ limit: 2, offset: -1 }), (err) => isStoreError(err, 'store.invalid'));

    await store.touchDevices(['a', 'b', 'ghost'], at(10));
    await store.touchDevices(['a'], at(5));
    await store.touchDevices([], at(20));
    assert.equal((await store.getDevice('a'))?.lastSeenAt, at(10));
    assert.equal((await store.getDevice('b'))?.lastSeenAt, at(10));
    assert.equal((await store.getDevice('c'))?.lastSeenAt, undefined);
  });

  test('listDeviceSummaries: the devices listDevices gives, with only the os of their facts', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'b');
    await enroll(store, 'a');
    await store.enrollDevice({ id: 'c', machineId: 'm-c', labels: {}, facts: { hostname: 'c' }, credentialHash: 'h-c', now: at(0) });
    await enroll(store, 'gone');
    await store.deleteDevice('gone', at(1));
    const full = await store.listDevices({ limit: 10 });
    const slim = await store.listDeviceSummaries({ limit: 10 });
    assert.deepEqual(slim.map((d) => d.id), ['a', 'b', 'c']);
    for (const [i, d] of slim.entries()) {
      const { facts, ...rest } = full[i]!;
      assert.deepEqual(d, { ...rest, facts: facts.os === undefined ? {} : { os: facts.os } });
    }
    assert.deepEqual((await store.listDeviceSummaries({ limit: 1, offset: 1 })).map((d) => d.id), ['b']);
  });

  test('listDeviceInputs: every live device in id order, with only the facts asked for', async (t) => {
    const { store } = await tempStore(t);
    await store.enrollDevice({
      id: 'web-02', machineId: 'm-2', labels: { role: 'web' }, credentialHash: 'h2', now: at(0),
      facts: { hostname: 'web-02', os: { family: 'debian', packageManager: 'apt' }, disks: [{ mount: '/', totalBytes: 1, freeBytes: 1 }], 'rack-id': 'r7' },
    });
    await store.enrollDevice({ id: 'web-01', machineId: 'm-1', labels: {}, facts: {}, credentialHash: 'h1', now: at(0) });
    await enroll(store, 'gone');
    await store.deleteDevice('gone');

    assert.deepEqual(await store.listDeviceInputs(['os', 'rack-id', 'network', 'os']), [
      { id: 'web-01', labels: {}, facts: {} },
      { id: 'web-02', labels: { role: 'web' }, facts: { os: { family: 'debian', packageManager: 'apt' }, 'rack-id': 'r7' } },
    ]);
    assert.deepEqual((await store.listDeviceInputs([])).map((d) => [d.id, d.facts]), [['web-01', {}], ['web-02', {}]]);
    // Keys are names, never paths or SQL.
    await assert.rejects(store.listDeviceInputs(['os.family']), (err) => isStoreError(err, 'store.invalid'));
    await assert.rejects(store.listDeviceInputs(['os"); DROP TABLE devices; --']), (err) => isStoreError(err, 'store.invalid'));
  });

  test('a device enrolled with a key is found with its key; deleting it clears the key', async (t) => {
    const { store } = await tempStore(t);
    const device = await store.enrollDevice({ id: 'k1', machineId: 'm-k1', labels: {}, facts: {}, publicKey: 'PEM-k1', now: at(0) });
    assert.equal(device.hasCredential, true);
    assert.equal(JSON.stringify(device).includes('PEM-k1'), false, 'the record does not carry the key');
    assert.deepEqual(await store.findDeviceKey('k1'), { device, publicKey: 'PEM-k1' });
    assert.equal(await store.findDeviceKey('nope'), undefined);
    // Many at once (a reconnect storm's handshakes): unknown ids are left out.
    await store.enrollDevice({ id: 'k2', machineId: 'm-k2', labels: {}, facts: {}, publicKey: 'PEM-k2', now: at(0) });
    const many = await store.findDeviceKeys(['k1', 'nope', 'k2']);
    assert.deepEqual([...many.keys()].sort(), ['k1', 'k2']);
    assert.equal(many.get('k2')?.publicKey, 'PEM-k2');
    assert.equal((await store.findDeviceKeys([])).size, 0);
    // Re-binding the machine replaces the key.
    await store.enrollDevice({ id: 'k1', machineId: 'm-k1', labels: {}, facts: {}, publicKey: 'PEM-k1b', now: at(1) });
    assert.equal((await store.findDeviceKey('k1'))?.publicKey, 'PEM-k1b');
    await store.deleteDevice('k1', at(2));
    assert.equal(await store.findDeviceKey('k1'), undefined);
  });

  test('a device enrolled before keys registers its key once, with its credential, which then opens nothing', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'old', { credentialHash: 'h-old' });
    assert.equal(await store.registerDeviceKey('old', 'h-wrong', 'PEM-x'), undefined);
    assert.equal((await store.registerDeviceKey('old', 'h-old', 'PEM-old'))?.id, 'old');
    assert.equal((await store.findDeviceKey('old'))?.publicKey, 'PEM-old');
    assert.equal(await store.findDeviceByCredential('old', 'h-old'), undefined, 'the credential was cleared');
    assert.equal(await store.registerDeviceKey('old', 'h-old', 'PEM-attacker'), undefined, 'a second registration is refused');
    assert.equal((await store.getDevice('old'))?.hasCredential, true);
  });
});
