// A batched write isolates a bad row: a payload that cannot be serialised (nested 20,000 deep)
// is refused for its device alone, and every other device's row of the same batch is stored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobResult } from '../../../../schemas/protocol.ts';
import { at, describeStores, enroll, jobResult, newJob, pkg, report } from './test-support.ts';

/** `[[[…]]]` `depth` levels deep, built without recursion (~40 KB at 20,000). */
function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describeStores(({ tempStore }) => {
  test('saveReports: a report nested 20,000 deep is skipped alone; the other reports of the batch are stored', async (t) => {
    const { store } = await tempStore(t);
    for (const id of ['a', 'bad', 'c']) await enroll(store, id);
    const res = await store.saveReports([
      { deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '1')]) },
      { deviceId: 'bad', receivedAt: at(1), report: report([pkg('nginx', '1')], { facts: { hostname: 'bad', deep: nested(20_000) } as never }) },
      { deviceId: 'c', receivedAt: at(1), report: report([pkg('curl', '2')]) },
    ]);
    assert.equal(res.saved, 2);
    assert.deepEqual(res.skipped, ['bad']);
    assert.deepEqual([...res.observedChanged].sort(), ['a', 'c']);
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '1')]);
    assert.deepEqual((await store.getObserved('c'))?.resources, [pkg('curl', '2')]);
    assert.deepEqual((await store.getObserved('bad'))?.resources, []);
    assert.equal((await store.getDevice('bad'))?.lastReportAt, undefined);
  });

  test('recordJobResults: a result nested 20,000 deep is refused alone; the other results of the batch are stored', async (t) => {
    const { store } = await tempStore(t);
    for (const id of ['a', 'bad']) await enroll(store, id);
    await store.createJobs([newJob('j-a', 'a'), newJob('j-bad', 'bad')]);
    const bad: JobResult = jobResult('j-bad', {
      steps: [{ key: 'package/nginx', action: 'package.install', status: 'succeeded', durationMs: 1, output: nested(20_000) as never }],
    });
    const outcomes = await store.recordJobResults([bad, jobResult('j-a')], at(4));
    assert.deepEqual(
      outcomes.map((o) => [o.jobId, o.outcome]),
      [
        ['j-bad', 'invalid'],
        ['j-a', 'recorded'],
      ],
    );
    assert.equal((await store.getJob('j-a'))?.state, 'succeeded');
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '1.22.1')]);
    const refused = await store.getJob('j-bad');
    assert.equal(refused?.state, 'pending');
    assert.equal(refused?.result, undefined);
  });

  // PostgreSQL text cannot hold NUL: a string with one from an agent must cost its own row only.
  test('a NUL in an agent’s text refuses its own report, result or lookup, never the batch', async (t) => {
    const { store } = await tempStore(t);
    for (const id of ['a', 'b']) await enroll(store, id);
    const saved = await store.saveReports([
      { deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '1')], { agentVersion: '1.0\u0000evil' }) },
      { deviceId: 'b', receivedAt: at(1), report: report([pkg('nginx', '1')], { facts: { hostname: 'b\u0000' } }) },
    ]);
    assert.deepEqual(saved.skipped, ['a']);
    assert.equal(saved.saved, 1);
    assert.deepEqual((await store.getDevice('b'))?.facts, { hostname: 'b\u0000' });

    await store.createJobs([newJob('j-a', 'a'), newJob('j-b', 'b')]);
    assert.deepEqual(await store.markRunningMany([{ id: 'j-a\u0000', deviceId: 'a' }, { id: 'j-b', deviceId: 'b' }], at(2)), ['j-b']);
    const outcomes = await store.recordJobResults([jobResult('j-a', { idempotencyKey: 'key-j-a\u0000' }), jobResult('j-b')], at(3));
    assert.deepEqual(outcomes.map((o) => o.outcome), ['unknown', 'recorded']);
    assert.deepEqual([...(await store.getDevicesMany(['a\u0000', 'b'])).keys()], ['b']);
    assert.deepEqual([...(await store.getJobsMany(['j-a\u0000', 'j-a'])).keys()], ['j-a']);
    assert.equal((await store.findDeviceKeys(['a\u0000'])).size, 0);
  });
});
