import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Step, StepResult } from '../../../schemas/protocol.ts';
import { createExecContext, executors, type ExecContext } from '../executors/index.ts';
import { exec } from '../system/exec.ts';
import { runJobDetailed } from '../core/run-job.ts';
import { Inventory, observeAll } from './inventory.ts';

let root: string;
let ctx: ExecContext;
const blobs = new Map<string, Uint8Array>();

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-inv-')));
  ctx = createExecContext({
    exec,
    root,
    stateDir: path.join(root, '.deployx'),
    fetchBlob: async (h) => blobs.get(h)!,
  });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function fileStep(p: string, content: string): Step {
  const bytes = Buffer.from(content);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return { action: 'file.write', key: `file/${p}`, path: p, sha256, size: bytes.length };
}
const del = (p: string): Step => ({ action: 'file.delete', key: `file/${p}`, path: p });
const res = (step: Step, status: StepResult['status']): StepResult => ({ key: step.key, action: step.action, status, durationMs: 0 });

describe('Inventory', () => {
  it('owns what a job applied, forgets what it deleted, and survives a restart', async () => {
    const inventory = await Inventory.open(ctx.stateDir);
    const a = fileStep('/etc/a.conf', 'a');
    const b = fileStep('/etc/b.conf', 'b');
    const job = { id: 'j', deviceId: 'd', revision: 'r1', idempotencyKey: 'k', steps: [a, b], createdAt: '' };
    const { result, ran } = await runJobDetailed(job, executors, ctx);
    await inventory.record(job.steps, result.steps, ran, 'r1');
    assert.deepEqual(inventory.list().map((e) => e.key), ['file//etc/a.conf', 'file//etc/b.conf']);

    const second = { ...job, steps: [del('/etc/a.conf')] };
    const run2 = await runJobDetailed(second, executors, ctx);
    await inventory.record(second.steps, run2.result.steps, run2.ran);

    const restarted = await Inventory.open(ctx.stateDir);
    assert.deepEqual(restarted.list().map((e) => e.key), ['file//etc/b.conf']);
    assert.equal(restarted.get('file//etc/b.conf')?.revision, 'r1');
  });

  it('changes nothing for failed steps and steps that never ran', async () => {
    const inventory = await Inventory.open(ctx.stateDir);
    const a = fileStep('/etc/a.conf', 'a');
    const b = fileStep('/etc/b.conf', 'b');
    const c = fileStep('/etc/c.conf', 'c');
    await inventory.record([a], [res(a, 'succeeded')], 1);
    await inventory.record([del('/etc/a.conf'), b, c], [res(del('/etc/a.conf'), 'failed'), res(b, 'skipped'), res(c, 'skipped')], 1);
    assert.deepEqual(inventory.list().map((e) => e.key), ['file//etc/a.conf'], 'a failed delete stays owned');
  });

  it('observeAll observes every owned resource now, and leaves out what it cannot observe', async () => {
    const inventory = await Inventory.open(ctx.stateDir);
    const a = fileStep('/etc/a.conf', 'a');
    const job = { id: 'j', deviceId: 'd', revision: 'r', idempotencyKey: 'k', steps: [a], createdAt: '' };
    const { result, ran } = await runJobDetailed(job, executors, ctx);
    await inventory.record(job.steps, result.steps, ran);
    await writeFile(path.join(root, 'etc/a.conf'), 'drifted');
    const bad: Step = { action: 'file.write', key: 'file/relative', path: 'relative', sha256: 'x', size: 0 };
    await inventory.record([bad], [res(bad, 'succeeded')], 1);

    const errors: string[] = [];
    const observed = await observeAll(inventory, ctx, { onError: (key) => errors.push(key) });
    assert.equal(observed.length, 1);
    const file = observed[0]!;
    assert.equal(file.type, 'file');
    assert.equal(file.type === 'file' && file.sha256, createHash('sha256').update('drifted').digest('hex'));
    assert.deepEqual(errors, ['file/relative']);
  });
});
