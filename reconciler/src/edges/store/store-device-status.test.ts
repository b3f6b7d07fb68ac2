import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError, type DeviceStatusInput } from './store.ts';
import { at, describeStores, enroll } from './test-support.ts';

const status = (deviceId: string, extra: Partial<DeviceStatusInput> = {}): DeviceStatusInput => ({
  deviceId, state: 'converging', reason: '2 steps', revision: 'main@sha1:a', pendingSteps: 2, reportedDrift: 0, updatedAt: at(1), ...extra,
});

describeStores(({ tempStore }) => {
  test('device statuses and retry histories survive reopening the store, and a deleted device is not listed', async (t) => {
    const { store, open } = await tempStore(t);
    for (const id of ['a', 'b', 'c']) await enroll(store, id);
    await store.saveDeviceStatuses([status('a'), status('b'), status('c')]);
    await store.recordDeviceOutcomes([
      { deviceId: 'a', revision: 'main@sha1:a', succeeded: false, failure: { stepsHash: 'h1', count: 1, at: at(2) } },
      { deviceId: 'a', revision: 'main@sha1:a', succeeded: false, failure: { stepsHash: 'h1', count: 2, at: at(3) } },
      { deviceId: 'b', revision: 'main@sha1:a', succeeded: true, failure: null },
      { deviceId: 'c', revision: 'main@sha1:r', succeeded: false },
    ], at(3));
    // A later pass decides again: the conditions and history stay.
    await store.saveDeviceStatuses([status('a', { state: 'failed', reason: 'retry 2 in 20 s', updatedAt: at(4) })]);
    await store.deleteDevice('c', at(5));

    const reopened = await open();
    const rows = await reopened.listDeviceStatuses();
    assert.deepEqual(rows, [
      { ...status('a', { state: 'failed', reason: 'retry 2 in 20 s', updatedAt: at(4) }), lastAttemptedRevision: 'main@sha1:a', failure: { stepsHash: 'h1', count: 2, at: at(3) } },
      { ...status('b'), lastAppliedRevision: 'main@sha1:a' },
    ]);
    await assert.rejects(store.saveDeviceStatuses([status('a', { state: 'bogus' as never })]), (e) => isStoreError(e, 'store.invalid'));
  });

  test('saveDeviceStatuses writes a 10,000-device pass in one call', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'd0');
    const many = Array.from({ length: 10_000 }, (_, i) => status(`d${i}`));
    await store.saveDeviceStatuses(many);
    assert.equal((await store.listDeviceStatuses()).length, 1, 'only live enrolled devices are listed');
  });
});
