// Ordered observed state: reports and job results carry the agent's (epoch, seq) stamp, and an
// older observation never replaces a newer one, whichever arrives last (real SQLite and PostgreSQL).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at, describeStores, enroll, jobResult, newJob, pkg, report } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('a stale report stored after a newer job result keeps the result’s observed state; facts and times are refreshed', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    const first = await store.saveReports([
      { deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '1.0')], { epoch: 'e1', seq: 1, revision: 'main@sha1:old' }) },
    ]);
    assert.deepEqual(first.observedChanged, ['a']);
    // The job's result (observed at seq 3) is stored before the report observed at seq 2.
    await store.recordJobResults([jobResult('j1', { observed: [pkg('nginx', '2.0')], epoch: 'e1', seq: 3 })], at(3));
    const stale = await store.saveReports([
      {
        deviceId: 'a',
        receivedAt: at(4),
        report: report([pkg('nginx', '1.0')], { epoch: 'e1', seq: 2, revision: 'main@sha1:old', facts: { hostname: 'a2' } }),
      },
    ]);
    assert.deepEqual(stale, { saved: 1, skipped: [], observedChanged: [], stale: ['a'] });
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '2.0')]);
    const device = await store.getDevice('a');
    assert.deepEqual(device?.facts, { hostname: 'a2' });
    assert.equal(device?.lastReportAt, at(4));
    assert.equal(device?.lastSeenAt, at(4));

    // A newer report (seq 4) replaces the set again.
    const fresh = await store.saveReports([{ deviceId: 'a', receivedAt: at(5), report: report([pkg('nginx', '2.0'), pkg('curl', '8')], { epoch: 'e1', seq: 4, revision: 'main@sha1:new' }) }]);
    assert.deepEqual(fresh, { saved: 1, skipped: [], observedChanged: ['a'], stale: [] });
    assert.equal((await store.getDevice('a'))?.reportedRevision, 'main@sha1:new');
  });

  test('a stale report does not replace the reported revision of a newer one', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.saveReports([{ deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '2.0')], { epoch: 'e1', seq: 9, revision: 'main@sha1:new' }) }]);
    await store.saveReports([{ deviceId: 'a', receivedAt: at(2), report: report([pkg('nginx', '1.0')], { epoch: 'e1', seq: 8, revision: 'main@sha1:old' }) }]);
    assert.equal((await store.getDevice('a'))?.reportedRevision, 'main@sha1:new');
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '2.0')]);
  });

  test('a job result observed before the stored report does not merge its older resources', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    await store.saveReports([{ deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '3.0')], { epoch: 'e1', seq: 7 }) }]);
    const [outcome] = await store.recordJobResults([jobResult('j1', { observed: [pkg('nginx', '2.0')], epoch: 'e1', seq: 6 })], at(2));
    assert.equal(outcome?.outcome, 'recorded');
    assert.equal((await store.getJob('j1'))?.state, 'succeeded');
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '3.0')]);
  });

  test('another epoch (a wiped state dir) is taken as newer; unstamped messages (older agents) are taken as newest', async (t) => {
    const { store } = await tempStore(t);
    for (const id of ['wiped', 'legacy']) await enroll(store, id);
    await store.saveReports([
      { deviceId: 'wiped', receivedAt: at(1), report: report([pkg('nginx', '1')], { epoch: 'old', seq: 500 }) },
      { deviceId: 'legacy', receivedAt: at(1), report: report([pkg('nginx', '1')], { epoch: 'e', seq: 500 }) },
    ]);
    const next = await store.saveReports([
      { deviceId: 'wiped', receivedAt: at(2), report: report([pkg('nginx', '2')], { epoch: 'new', seq: 1 }) },
      { deviceId: 'legacy', receivedAt: at(2), report: report([pkg('nginx', '2')]) },
    ]);
    assert.deepEqual([...next.observedChanged].sort(), ['legacy', 'wiped']);
    assert.deepEqual((await store.getObserved('wiped'))?.resources, [pkg('nginx', '2')]);
    assert.deepEqual((await store.getObserved('legacy'))?.resources, [pkg('nginx', '2')]);
    // The new epoch's counter goes on from 1: its seq 2 is newer than its seq 1.
    await store.saveReports([{ deviceId: 'wiped', receivedAt: at(3), report: report([pkg('nginx', '3')], { epoch: 'new', seq: 2 }) }]);
    assert.deepEqual((await store.getObserved('wiped'))?.resources, [pkg('nginx', '3')]);
  });

  test('a first report stored after a newer job result still counts as changed: the device’s snapshot gains its report time', async (t) => {
    // Seen at 10,000 devices: the job result's pass ran before any report was stored ("never
    // reported"), the stale first report then triggered no pass, and the device stayed unknown.
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    await store.recordJobResults([jobResult('j1', { observed: [pkg('nginx', '2.0')], epoch: 'e1', seq: 3 })], at(3));
    assert.equal((await store.getObserved('a'))?.reportedAt, undefined);
    const first = await store.saveReports([{ deviceId: 'a', receivedAt: at(4), report: report([], { epoch: 'e1', seq: 2 }) }]);
    assert.deepEqual(first, { saved: 1, skipped: [], observedChanged: ['a'], stale: ['a'] });
    const snapshot = await store.getObserved('a');
    assert.equal(snapshot?.reportedAt, at(4));
    assert.deepEqual(snapshot?.resources, [pkg('nginx', '2.0')]);
  });
});
