import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, JobResult } from '../../../schemas/protocol.ts';
import { Spool } from './spool.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const job = (n: number): Job => ({
  id: `job-${n}`,
  deviceId: 'dev',
  revision: 'main@sha1:abc',
  idempotencyKey: `key-${n}`,
  steps: [],
  createdAt: '2025-01-01T00:00:00Z',
});
const result = (n: number, finishedAt: string): JobResult => ({
  jobId: `job-${n}`,
  idempotencyKey: `key-${n}`,
  status: 'succeeded',
  steps: [],
  observed: [],
  startedAt: finishedAt,
  finishedAt,
});

describe('Spool', () => {
  it('keeps results until acked, oldest first, across restarts', async () => {
    const spool = await Spool.open(dir);
    await spool.put(result(2, '2025-01-01T00:02:00Z'));
    await spool.put(result(1, '2025-01-01T00:01:00Z'));
    await spool.put(result(3, '2025-01-01T00:03:00Z'));

    const restarted = await Spool.open(dir);
    assert.deepEqual((await restarted.pending()).map((r) => r.jobId), ['job-1', 'job-2', 'job-3']);
    assert.equal(await restarted.ack('job-2'), true);
    assert.equal(await restarted.ack('job-2'), false, 'a second ack is a no-op');
    assert.equal(await restarted.ack('job-unknown'), false);

    const again = await Spool.open(dir);
    assert.deepEqual((await again.pending()).map((r) => r.jobId), ['job-1', 'job-3']);
  });

  it('answers a completed idempotency key with the stored result, even after ack and restart', async () => {
    const spool = await Spool.open(dir);
    assert.deepEqual(await spool.begin(job(1)), { state: 'new' });
    await spool.put(result(1, '2025-01-01T00:01:00Z'));
    await spool.ack('job-1');
    const restarted = await Spool.open(dir);
    const begun = await restarted.begin({ ...job(1), id: 'job-1-redelivered' });
    assert.equal(begun.state, 'completed');
    assert.equal(begun.state === 'completed' && begun.result.jobId, 'job-1');
    assert.deepEqual(await restarted.pending(), []);
  });

  it('finds jobs that started and never finished (the agent died mid-job)', async () => {
    let now = new Date('2025-01-01T00:00:00Z');
    const spool = await Spool.open(dir, { now: () => now });
    await spool.begin(job(2));
    now = new Date('2025-01-01T00:05:00Z');
    await spool.begin(job(1));
    await spool.begin(job(3));
    await spool.put(result(3, '2025-01-01T00:06:00Z'));

    const restarted = await Spool.open(dir);
    assert.deepEqual((await restarted.inFlight()).map((j) => j.id), ['job-2', 'job-1']);
    const begun = await restarted.begin(job(2));
    assert.equal(begun.state, 'interrupted');
    await restarted.put(result(2, '2025-01-01T00:07:00Z'));
    assert.deepEqual((await restarted.inFlight()).map((j) => j.id), ['job-1']);
  });

  it('moves a corrupt record aside instead of blocking the spool', async () => {
    const spool = await Spool.open(dir);
    await spool.put(result(1, '2025-01-01T00:01:00Z'));
    await writeFile(path.join(dir, 'spool', 'jobs', 'garbage.json'), '{"version":1,');
    assert.deepEqual((await spool.pending()).map((r) => r.jobId), ['job-1']);
    assert.ok((await readdir(path.join(dir, 'spool', 'jobs'))).includes('garbage.json.corrupt'));
  });

  it('prunes acknowledged records beyond the retention, newest kept', async () => {
    let t = 0;
    const spool = await Spool.open(dir, { retain: 2, now: () => new Date(Date.UTC(2025, 0, 1, 0, t++)) });
    for (const n of [1, 2, 3, 4]) {
      await spool.put(result(n, `2025-01-01T00:0${n}:00Z`));
      await spool.ack(`job-${n}`);
    }
    assert.equal((await readdir(path.join(dir, 'spool', 'jobs'))).length, 2);
    assert.equal(await spool.seen('key-4').then((r) => r?.jobId), 'job-4');
    assert.equal(await spool.seen('key-1'), undefined);
  });
});
