// The agent's observation counter in a real temp state dir: monotonic across restarts (and across
// a crash that loses the unwritten part of a block), a new epoch when the state dir is new.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MemoryObservationSequence, ObservationSequence, observationSequencePath } from './observation-sequence.ts';

async function stateDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-seq-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('seq only grows within an epoch, across reopenings, and past a reserved block', async (t) => {
  const dir = await stateDir(t);
  const first = await ObservationSequence.open(dir, { block: 3 });
  const a = [await first.next(), await first.next(), await first.next(), await first.next(), await first.next()];
  assert.ok(a.every((o) => o.epoch === a[0]!.epoch && o.epoch.length >= 16));
  assert.deepEqual(a.map((o) => o.seq), [0, 1, 2, 3, 4]);
  // A restart (or a crash: nothing is written per call) never hands out a seq seen before.
  const second = await ObservationSequence.open(dir, { block: 3 });
  const b = await second.next();
  assert.equal(b.epoch, a[0]!.epoch);
  assert.ok(b.seq > 4, `seq after restart: ${b.seq}`);
  assert.ok(JSON.parse(await readFile(observationSequencePath(dir), 'utf8')).reserved > b.seq);
});

test('a new or unreadable state file starts a new epoch', async (t) => {
  const dir = await stateDir(t);
  const before = await (await ObservationSequence.open(dir)).next();
  await rm(observationSequencePath(dir));
  const wiped = await (await ObservationSequence.open(dir)).next();
  assert.notEqual(wiped.epoch, before.epoch);
  await writeFile(observationSequencePath(dir), '{not json');
  const corrupt = await (await ObservationSequence.open(dir)).next();
  assert.notEqual(corrupt.epoch, wiped.epoch);
  assert.equal(corrupt.seq, 0);
});

test('calls at the same moment get distinct, increasing seqs', async (t) => {
  const dir = await stateDir(t);
  const seq = await ObservationSequence.open(dir, { block: 2 });
  const many = await Promise.all(Array.from({ length: 9 }, () => seq.next()));
  assert.deepEqual(many.map((o) => o.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const memory = new MemoryObservationSequence();
  assert.deepEqual([(await memory.next()).seq, (await memory.next()).seq], [0, 1]);
});
