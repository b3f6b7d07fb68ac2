// Bounded input from agents: the pure check as a table, and the real gateway (SQLite in a temp
// dir, socket.io on port 0, real socket.io clients) refusing a bad payload to its device alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Ack, AgentReport, JobResult } from '../../../../schemas/protocol.ts';
import { jobResult, newJob, pkg, report } from '../store/test-support.ts';
import { AGENT_PAYLOAD_LIMITS, checkPayload } from './payload-bounds.ts';
import { emitRaw, nestedJson, startTestGateway } from './test-gateway.ts';

test('checkPayload: depth and size limits, checked without recursion', () => {
  const limits = { maxDepth: 3, maxChars: 100 };
  const rows: Array<[string, unknown, string | undefined]> = [
    ['flat object', { a: 1, b: 'x' }, undefined],
    ['three levels', { a: [{ b: 1 }] }, undefined],
    ['four levels', { a: [{ b: [] }] }, 'payload.too-deep'],
    ['a long string', { a: 'x'.repeat(200) }, 'payload.too-large'],
    ['many keys', Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 1])), 'payload.too-large'],
    ['scalars', 42, undefined],
  ];
  for (const [name, value, code] of rows) assert.equal(checkPayload(value, limits)?.code, code, name);
  assert.equal(checkPayload(JSON.parse(nestedJson(20_000)))?.code, 'payload.too-deep');
  assert.equal(checkPayload(JSON.parse(nestedJson(AGENT_PAYLOAD_LIMITS.maxDepth))), undefined);
});

test('a payload nested 20,000 deep is refused to its device alone; the other device’s report and result in the same batch are stored', async (t) => {
  const gw = await startTestGateway(t);
  const good = await gw.connectDevice('good');
  const bad = await gw.connectDevice('bad');
  await gw.store.createJobs([newJob('j-good', 'good'), newJob('j-bad', 'bad')]);

  const deepReport = `{"agentVersion":"1.0.0","sentAt":"2025-01-01T00:00:00.000Z","observed":[],"facts":{"x":${nestedJson(20_000)}}}`;
  const deepResult = JSON.stringify(jobResult('j-bad')).replace('"observed":[', `"extra":${nestedJson(20_000)},"observed":[`);
  // All four in flight at once: they land in the same report batch and the same result batch.
  const [goodReport, badReport, goodResult, badResult] = await Promise.all([
    good.timeout(5_000).emitWithAck('report', report([pkg('curl', '8')]) satisfies AgentReport) as Promise<Ack>,
    emitRaw(bad, 'report', deepReport),
    good.timeout(5_000).emitWithAck('job:result', jobResult('j-good') satisfies JobResult) as Promise<Ack>,
    emitRaw(bad, 'job:result', deepResult),
  ]);
  assert.deepEqual(goodReport, { ok: true });
  assert.deepEqual(goodResult, { ok: true });
  assert.equal(badReport.ok, false);
  assert.equal(badReport.ok === false && badReport.code, 'payload.too-deep');
  assert.equal(badResult.ok === false && badResult.code, 'payload.too-deep');

  assert.ok((await gw.store.getObserved('good'))?.resources.some((r) => r.key === 'package/curl'));
  assert.equal((await gw.store.getJob('j-good'))?.state, 'succeeded');
  assert.equal((await gw.store.getDevice('bad'))?.lastReportAt, undefined);
  assert.equal((await gw.store.getJob('j-bad'))?.state, 'pending');
  assert.ok(bad.connected, 'the refused device stays connected');
});

test('an oversized report is refused with payload.too-large; the device stays connected and can report again', async (t) => {
  const gw = await startTestGateway(t);
  const device = await gw.connectDevice('big');
  const huge = report([], { facts: { hostname: 'big', blob: 'x'.repeat(AGENT_PAYLOAD_LIMITS.maxChars + 1) } as never });
  const refused = (await device.timeout(10_000).emitWithAck('report', huge)) as Ack;
  assert.equal(refused.ok === false && refused.code, 'payload.too-large');
  assert.equal((await gw.store.getDevice('big'))?.lastReportAt, undefined);
  const accepted = (await device.timeout(5_000).emitWithAck('report', report([pkg('nginx', '1')]))) as Ack;
  assert.deepEqual(accepted, { ok: true });
});
