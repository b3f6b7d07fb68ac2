import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, JobProgress, Step } from '../../../schemas/protocol.ts';
import { createExecContext, executors, type ExecContext, type Executors } from '../executors/index.ts';
import { exec } from '../system/exec.ts';
import { runJob, runJobDetailed } from './run-job.ts';

let root: string;
let blobs: Map<string, Uint8Array>;

function context(signal?: AbortSignal): ExecContext {
  return createExecContext({
    exec,
    root,
    stateDir: path.join(root, '.deployx'),
    signal,
    now: () => new Date('2025-03-01T12:00:00Z'),
    fetchBlob: async (hash) => {
      const blob = blobs.get(hash);
      if (!blob) throw new Error(`404 ${hash}`);
      return blob;
    },
  });
}

function put(content: string): { sha256: string; size: number } {
  const bytes = Buffer.from(content);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return { sha256, size: bytes.length };
}

const write = (p: string, content: string): Step => ({ action: 'file.write', key: `file/${p}`, path: p, mode: '0644', ...put(content) });
const sh = (key: string, body: string, timeoutSeconds = 30): Step => ({
  action: 'script.run',
  key,
  interpreter: 'sh',
  run: 'always',
  timeoutSeconds,
  successExitCodes: [0],
  sha256: put(body).sha256,
});
const job = (steps: Step[]): Job => ({
  id: 'job-1',
  deviceId: 'dev-1',
  revision: 'main@sha1:abc',
  idempotencyKey: 'idem-1',
  steps,
  createdAt: '2025-03-01T11:59:00Z',
});

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-runjob-')));
  blobs = new Map();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('runJob', () => {
  it('runs every step in order and reports what it observed', async () => {
    const progress: JobProgress[] = [];
    const result = await runJob(
      job([write('/etc/app/app.conf', 'port=8080\n'), sh('script/reload', 'cat "$DEPLOYX_ROOT/etc/app/app.conf"\n')]),
      executors,
      context(),
      (p) => progress.push(p),
    );
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.steps.map((s) => [s.key, s.status]), [
      ['file//etc/app/app.conf', 'succeeded'],
      ['script/reload', 'succeeded'],
    ]);
    assert.equal(result.steps[1]?.output, 'port=8080', 'the script saw the file the step before wrote');
    assert.deepEqual(result.observed.map((o) => o.key), ['file//etc/app/app.conf', 'script/reload']);
    assert.equal(result.jobId, 'job-1');
    assert.equal(result.idempotencyKey, 'idem-1');
    assert.equal(result.startedAt, '2025-03-01T12:00:00.000Z');
    assert.deepEqual(progress.map((p) => `${p.stepIndex}:${p.status}`), ['0:running', '0:succeeded', '1:running', '1:succeeded']);
  });

  it('stops at the first failed step; the rest are skipped and never run', async () => {
    const bad = write('/etc/app/bad.conf', 'good\n') as Extract<Step, { action: 'file.write' }>;
    blobs.set(bad.sha256, Buffer.from('tampered\n'));
    const { result, ran } = await runJobDetailed(
      job([write('/etc/app/a.conf', 'a\n'), bad, sh('script/after', 'touch "$DEPLOYX_ROOT/after-ran"\n')]),
      executors,
      context(),
    );
    assert.equal(result.status, 'failed');
    assert.equal(ran, 2);
    assert.deepEqual(result.steps.map((s) => s.status), ['succeeded', 'failed', 'skipped']);
    assert.match(result.steps[1]?.error ?? '', /^blob\.hash-mismatch/);
    assert.match(result.steps[2]?.output ?? '', /^not run: step 2/);
    await assert.rejects(stat(path.join(root, 'after-ran')), { code: 'ENOENT' });
    assert.equal(await readFile(path.join(root, 'etc/app/a.conf'), 'utf8'), 'a\n');
  });

  it('turns an executor exception into a failed step and never throws', async () => {
    const throwing: Executors = {
      ...executors,
      'package.install': async () => {
        throw new TypeError('adapter exploded');
      },
    };
    const result = await runJob(
      job([
        { action: 'file.write', key: 'file//etc/../root/x', path: '/etc/../root/x', sha256: 'a'.repeat(64), size: 1 },
      ]),
      throwing,
      context(),
      () => {
        throw new Error('a broken progress listener changes nothing');
      },
    );
    assert.equal(result.status, 'failed');
    assert.match(result.steps[0]?.error ?? '', /^path\.outside-allowed/);

    const second = await runJob(
      job([{ action: 'package.install', key: 'package/x', manager: 'apt', name: 'x', version: 'any' }]),
      throwing,
      context(),
    );
    assert.equal(second.steps[0]?.status, 'failed');
    assert.equal(second.steps[0]?.error, 'adapter exploded');
  });

  it('fails a step whose action has no executor (a newer server)', async () => {
    const result = await runJob(job([{ action: 'service.restart', key: 'svc/x' } as unknown as Step]), executors, context());
    assert.equal(result.status, 'failed');
    assert.match(result.steps[0]?.error ?? '', /no executor/);
  });

  it('is cancelled by the signal: the running script is killed, the rest not run', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled by operator')), 300);
    const started = Date.now();
    const result = await runJob(
      job([sh('script/long', 'sleep 30\n'), write('/etc/app/after.conf', 'x\n')]),
      executors,
      context(controller.signal),
    );
    assert.equal(result.status, 'cancelled');
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(result.steps.map((s) => s.status), ['failed', 'skipped']);
    await assert.rejects(stat(path.join(root, 'etc/app/after.conf')), { code: 'ENOENT' });
  });

  it('ends timed_out when the signal is a timeout', async () => {
    const result = await runJob(job([sh('script/long', 'sleep 30\n')]), executors, context(AbortSignal.timeout(300)));
    assert.equal(result.status, 'timed_out');
  });

  it('a job whose signal is already aborted runs nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await runJob(job([write('/etc/app/x.conf', 'x\n')]), executors, context(controller.signal));
    assert.equal(result.status, 'cancelled');
    assert.deepEqual(result.steps.map((s) => s.status), ['skipped']);
    await assert.rejects(stat(path.join(root, 'etc/app/x.conf')), { code: 'ENOENT' });
  });
});

describe('runJob: an interrupted step', () => {
  it('stops the job like a failure: later steps not run, the job failed', async () => {
    const interrupted: Executors = {
      ...executors,
      'script.run': async (step) => ({ status: 'interrupted', error: `script.interrupted: ${step.key}` }),
    };
    const result = await runJob(job([sh('script/a', 'true'), write('after.txt', 'x')]), interrupted, context());
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.steps.map((s) => s.status), ['interrupted', 'skipped']);
    await assert.rejects(stat(path.join(root, 'after.txt')), 'the step after it never ran');
  });
});
