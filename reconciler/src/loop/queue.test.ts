import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchQueue, WorkQueue } from './queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('WorkQueue: a key added while waiting runs once; added while running, runs once more after', async () => {
  const runs: string[] = [];
  let release: () => void = () => {};
  const queue = new WorkQueue(
    async (key) => {
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
    },
    { concurrency: 2, onError: () => assert.fail('no error expected') },
  );
  queue.add('a');
  queue.add('a'); // running now: marks it dirty
  queue.add('a'); // still dirty, not a third run
  queue.add('b');
  queue.add('b'); // b runs at once (concurrency 2), so this is a re-run too
  await tick();
  release();
  await queue.idle();
  assert.deepEqual(runs.sort(), ['a', 'a', 'b', 'b']);
});

test('WorkQueue: an error goes to onError and the queue keeps working', async () => {
  const errors: string[] = [];
  const queue = new WorkQueue(
    async (key) => {
      if (key === 'bad') throw new Error('boom');
    },
    { concurrency: 1, onError: (key) => errors.push(key) },
  );
  queue.add('bad');
  queue.add('good');
  await queue.idle();
  assert.deepEqual(errors, ['bad']);
});

test('BatchQueue: a burst becomes batches of at most maxBatch, keys de-duplicated, re-adds during a run go to the next batch', async () => {
  const batches: string[][] = [];
  const queue = new BatchQueue(
    async (keys) => {
      batches.push(keys);
      if (batches.length === 1) queue.add('k0'); // arrives while its batch runs
      await tick(1);
    },
    { maxBatch: 3, onError: () => assert.fail('no error expected') },
  );
  for (const k of ['k0', 'k1', 'k2', 'k3', 'k1', 'k4']) queue.add(k);
  await tick(1);
  await queue.idle();
  assert.deepEqual(batches, [['k0', 'k1', 'k2'], ['k3', 'k4', 'k0']]);
});

test('BatchQueue: addAfter delays a key; stop drops what waits', async () => {
  const seen: string[] = [];
  const queue = new BatchQueue(async (keys) => void seen.push(...keys), { maxBatch: 10, onError: () => {} });
  queue.addAfter('later', 20);
  await tick(5);
  assert.deepEqual(seen, []);
  await tick(40);
  assert.deepEqual(seen, ['later']);
  // A key waits for the earliest delay asked for.
  queue.addAfter('soon', 60);
  queue.addAfter('soon', 10);
  queue.addAfter('soon', 500);
  await tick(40);
  assert.deepEqual(seen, ['later', 'soon']);
  queue.addAfter('never', 10);
  queue.stop();
  await tick(30);
  assert.deepEqual(seen, ['later', 'soon']);
});
