import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedLookup } from './batched-lookup.ts';

test('lookups made in one turn are read together; a key asked twice is read once', async () => {
  const reads: string[][] = [];
  const lookup = new BatchedLookup<number>(async (keys) => {
    reads.push(keys);
    return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
  });
  const answers = await Promise.all([lookup.get('a'), lookup.get('bb'), lookup.get('a'), lookup.get('missing')]);
  assert.deepEqual(answers, [1, 2, 1, undefined]);
  assert.deepEqual(reads, [['a', 'bb', 'missing']]);
  assert.equal(await lookup.get('ccc'), 3);
  assert.equal(reads.length, 2, 'a later turn reads again');
});

test('a full batch is read at once, and a failed read fails its callers only', async () => {
  const reads: string[][] = [];
  const lookup = new BatchedLookup<string>(async (keys) => {
    reads.push(keys);
    if (keys.includes('bad')) throw new Error('store down');
    return new Map(keys.map((k) => [k, k]));
  }, 2);
  const first = Promise.allSettled([lookup.get('bad'), lookup.get('x')]);
  const second = Promise.all([lookup.get('y')]);
  assert.deepEqual((await first).map((r) => r.status), ['rejected', 'rejected']);
  assert.deepEqual(await second, ['y']);
  assert.deepEqual(reads, [['bad', 'x'], ['y']]);
});
