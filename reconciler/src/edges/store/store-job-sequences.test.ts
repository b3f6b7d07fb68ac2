import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeStores } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('job sequences grow per device, in call order, duplicates included', async (t) => {
    const { store } = await tempStore(t);
    assert.deepEqual(await store.nextJobSequences(['a', 'b', 'a']), [1, 1, 2]);
    assert.deepEqual(await store.nextJobSequences(['b', 'c', 'a', 'a']), [2, 1, 3, 4]);
    await store.raiseJobSequence('c', 10);
    await store.raiseJobSequence('c', 5);
    assert.deepEqual(await store.nextJobSequences(['c']), [11]);
    assert.deepEqual(await store.nextJobSequences([]), []);
  });

  test('10,000 devices take their next sequence in one call', async (t) => {
    const { store } = await tempStore(t);
    const ids = Array.from({ length: 10_000 }, (_, i) => `d${i}`);
    assert.deepEqual(await store.nextJobSequences(ids), ids.map(() => 1));
    assert.deepEqual(await store.nextJobSequences(ids), ids.map(() => 2));
  });
});
