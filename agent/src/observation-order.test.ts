// The real agent stamps what it observes (ObservationOrder), and a result refused for its size or
// depth does not hold back the rest of the spool: a real Agent in a temp state dir against the
// recording protocol server on 127.0.0.1:0.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import type { AgentReport, Job, Step } from '../../schemas/protocol.ts';
import { Agent } from './agent.ts';
import { exec } from './system/exec.ts';
import { startProtocolServer, type ProtocolServer } from './test-support/protocol-server.ts';
import { pinnedToken } from './test-support/server-key.ts';
import type { LinkEvent } from './transport/device-link.ts';
import { silentLogger } from '../../schemas/log.ts';
import { startSimulation } from './simulator/simulation.ts';

const TOKEN = pinnedToken('enroll-token-order-0123');
let dir: string;
const cleanups: Array<() => Promise<unknown>> = [];
beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-agent-order-')));
  await mkdir(path.join(dir, 'root'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function startAgent(s: ProtocolServer, events: LinkEvent[] = [], options: { resultBackoffMs?: number } = {}): Promise<Agent> {
  const agent = new Agent({
    server: s.url,
    stateDir: path.join(dir, 'state'),
    root: path.join(dir, 'root'),
    exec,
    token: TOKEN,
    logger: silentLogger,
    heartbeatMs: 60_000,
    ackTimeoutMs: 2_000,
    backoff: { baseMs: 20, capMs: 200 },
    ...(options.resultBackoffMs === undefined ? {} : { resultBackoff: { baseMs: options.resultBackoffMs, capMs: options.resultBackoffMs, minMs: options.resultBackoffMs } }),
    onEvent: (e) => events.push(e),
  });
  cleanups.push(() => agent.stop({ graceMs: 100, flushMs: 100 }));
  await agent.start();
  return agent;
}

function stampOf(message: { epoch?: string; seq?: number }): { epoch: string; seq: number } {
  assert.equal(typeof message.epoch, 'string', 'stamped with an epoch');
  assert.equal(typeof message.seq, 'number', 'stamped with a seq');
  return { epoch: message.epoch!, seq: message.seq! };
}

it('reports and results carry a stamp that grows in observation order and across a restart', async () => {
  const s = await startProtocolServer({ tokens: [TOKEN] });
  cleanups.push(() => s.close());
  const events: LinkEvent[] = [];
  const agent = await startAgent(s, events);
  await s.waitFor(() => s.reports.length > 0, 30_000, 'the first report');
  const body = Buffer.from('hello\n');
  const sha256 = createHash('sha256').update(body).digest('hex');
  s.blobs.set(sha256, body);
  const step: Step = { action: 'file.write', key: 'file//etc/order.conf', path: '/etc/order.conf', sha256, size: body.length };
  const job: Job = { id: 'job-1', deviceId: agent.deviceId!, revision: 'main@sha1:1', idempotencyKey: 'key-job-1', steps: [step], createdAt: '2025-01-01T00:00:00Z' };
  const before = s.reports.length;
  assert.deepEqual(await s.dispatch(job), { ok: true });
  await s.waitFor(() => events.some((e) => e.type === 'result-acked') && s.reports.length > before, 30_000, 'the result and the report after it');

  const first = stampOf(s.reports[0]!.report);
  const result = stampOf(s.results.get('key-job-1')!);
  const after = stampOf(s.reports.at(-1)!.report);
  assert.equal(result.epoch, first.epoch);
  assert.equal(after.epoch, first.epoch);
  assert.ok(first.seq < result.seq && result.seq < after.seq, `report ${first.seq} < result ${result.seq} < report ${after.seq}`);

  // A restart of the agent on the same state dir: the same epoch, a larger seq.
  await agent.stop({ graceMs: 100, flushMs: 100 });
  const reports = s.reports.length;
  await startAgent(s);
  await s.waitFor(() => s.reports.length > reports, 30_000, 'the report after the restart');
  const restarted = stampOf(s.reports.at(-1)!.report as AgentReport);
  assert.equal(restarted.epoch, first.epoch);
  assert.ok(restarted.seq > after.seq, `after the restart ${restarted.seq} > ${after.seq}`);
});

it('simulated devices stamp their reports the same way, each with its own epoch', async () => {
  const s = await startProtocolServer({ tokens: [TOKEN] });
  cleanups.push(() => s.close());
  const sim = await startSimulation({ server: s.url, agents: 2, token: TOKEN, stateDir: path.join(dir, 'sim'), heartbeatMs: 200, batchSize: 2 });
  cleanups.push(() => sim.stop());
  await sim.ready;
  await s.waitFor(() => [...new Set(s.reports.map((r) => r.deviceId))].every((id) => s.reports.filter((r) => r.deviceId === id).length >= 2) && s.reports.length >= 4, 30_000, 'two reports from each device');
  const byDevice = new Map<string, Array<{ epoch: string; seq: number }>>();
  for (const { deviceId, report } of s.reports) byDevice.set(deviceId, [...(byDevice.get(deviceId) ?? []), stampOf(report)]);
  assert.equal(byDevice.size, 2);
  const epochs = [...byDevice.values()].map((stamps) => stamps[0]!.epoch);
  assert.notEqual(epochs[0], epochs[1]);
  for (const stamps of byDevice.values()) {
    assert.ok(stamps.every((o, i) => o.epoch === stamps[0]!.epoch && (i === 0 || o.seq > stamps[i - 1]!.seq)));
  }
});

it('a result refused with payload.too-large is not re-sent and does not hold back the next result', async () => {
  const s = await startProtocolServer({
    tokens: [TOKEN],
    ackResult: (result) => (result.jobId === 'job-big' ? { ok: false, error: 'too large', code: 'payload.too-large' } : true),
  });
  cleanups.push(() => s.close());
  const events: LinkEvent[] = [];
  // Retries an hour apart: a refusal taken as retryable would leave job-small undelivered.
  const agent = await startAgent(s, events, { resultBackoffMs: 3_600_000 });
  await s.waitFor(() => s.reports.length > 0, 30_000, 'the first report');
  const job = (id: string): Job => ({ id, deviceId: agent.deviceId!, revision: 'main@sha1:1', idempotencyKey: `key-${id}`, steps: [], createdAt: '2025-01-01T00:00:00Z' });
  assert.deepEqual(await s.dispatch(job('job-big')), { ok: true });
  await s.waitFor(() => events.some((e) => e.type === 'result-rejected' || e.type === 'job-finished'), 20_000, 'job-big finished');
  assert.deepEqual(await s.dispatch(job('job-small')), { ok: true });
  await s.waitFor(() => s.results.has('key-job-small'), 20_000, 'job-small delivered');
  assert.ok(events.some((e) => e.type === 'result-rejected' && e.jobId === 'job-big'));
  assert.equal(s.resultEvents.filter((e) => e.result.jobId === 'job-big').length, 1, 'job-big sent once');
});
