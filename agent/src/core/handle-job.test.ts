import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, Step } from '../../../schemas/protocol.ts';
import { createExecContext, executors } from '../executors/index.ts';
import { Inventory } from '../state/inventory.ts';
import { Spool } from '../state/spool.ts';
import { exec } from '../system/exec.ts';
import { createJobHandler, type JobHandler } from './handle-job.ts';

let root: string;
let stateDir: string;
const blobs = new Map<string, Uint8Array>();

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-handle-')));
  stateDir = path.join(root, '.deployx');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh agent process on the same state directory. */
async function startAgent(): Promise<{ handler: JobHandler; spool: Spool; inventory: Inventory }> {
  const spool = await Spool.open(stateDir);
  const inventory = await Inventory.open(stateDir);
  const handler = createJobHandler({
    journal: spool,
    inventory,
    executors,
    context: (signal) =>
      createExecContext({ exec, root, stateDir, signal, fetchBlob: async (h) => blobs.get(h)! }),
  });
  return { handler, spool, inventory };
}

function sh(key: string, body: string): Step {
  const bytes = Buffer.from(body);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return { action: 'script.run', key, interpreter: 'sh', sha256, run: 'always', timeoutSeconds: 30, successExitCodes: [0] };
}

const APPEND = 'echo run >> "$DEPLOYX_ROOT/runs.log"\n';
const runs = async (): Promise<number> =>
  (await readFile(path.join(root, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l === 'run').length;

const job = (id: string, steps: Step[], idempotencyKey = `key-${id}`): Job => ({
  id,
  deviceId: 'dev',
  revision: 'main@sha1:abc',
  idempotencyKey,
  steps,
  createdAt: '2025-01-01T00:00:00Z',
});

describe('createJobHandler', () => {
  it('runs a job once per idempotency key: a redelivery gets the stored result, even after a restart', async () => {
    const first = await startAgent();
    const j = job('job-1', [sh('script/append', APPEND)]);
    const a = await first.handler.handle(j);
    assert.equal(a.replayed, false);
    assert.equal(a.result.status, 'succeeded');
    assert.deepEqual((await first.spool.pending()).map((r) => r.jobId), ['job-1']);
    assert.deepEqual(first.inventory.list().map((e) => e.key), ['script/append']);

    const b = await first.handler.handle({ ...j, id: 'job-1-again' });
    assert.equal(b.replayed, true);
    assert.deepEqual(b.result, a.result);

    await first.spool.ack('job-1');
    const second = await startAgent();
    const c = await second.handler.handle(j);
    assert.equal(c.replayed, true);
    assert.equal(await runs(), 1, 'the script ran exactly once');
  });

  it('a redelivery while the job is running joins it instead of running it again', async () => {
    const { handler } = await startAgent();
    const j = job('job-2', [sh('script/slow', `sleep 0.3\n${APPEND}`)]);
    const [a, b] = await Promise.all([handler.handle(j), handler.handle(j)]);
    assert.deepEqual(a, b);
    assert.equal(await runs(), 1);
  });

  it('re-runs a job interrupted by a crash (started, never finished)', async () => {
    const crashed = await startAgent();
    const j = job('job-3', [sh('script/append', APPEND)]);
    await crashed.spool.begin(j); // the agent died right after starting the job

    const restarted = await startAgent();
    const inFlight = await restarted.spool.inFlight();
    assert.deepEqual(inFlight.map((x) => x.id), ['job-3']);
    const handled = await restarted.handler.handle(inFlight[0]!);
    assert.equal(handled.replayed, false);
    assert.equal(handled.result.status, 'succeeded');
    assert.deepEqual(await restarted.spool.inFlight(), []);
    assert.deepEqual((await restarted.spool.pending()).map((r) => r.jobId), ['job-3']);
    assert.equal(await runs(), 1);
  });

  it('runs jobs one at a time and cancels by job id', async () => {
    const { handler } = await startAgent();
    const long = handler.handle(job('job-4', [sh('script/long', 'sleep 30\n')]));
    const next = handler.handle(job('job-5', [sh('script/append', APPEND)]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await runs(), 0, 'job-5 waits for job-4');
    assert.equal(handler.cancel('job-4'), true);
    assert.equal((await long).result.status, 'cancelled');
    assert.equal((await next).result.status, 'succeeded');
    assert.equal(await runs(), 1);
    assert.equal(handler.cancel('job-4'), false);
  });
});
