import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from './store.ts';
import { at, describeStores, enroll, jobResult, newJob, pkg, report } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('createJobs inserts each idempotency key once and says which jobs were new', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    const first = await store.createJobs([newJob('j1', 'a'), newJob('j2', 'a', { rolloutId: 'r1' })]);
    assert.deepEqual(first, { created: ['j1', 'j2'], duplicates: [] });

    // A retry of j1, a new id for j2's key, two new jobs sharing one key, and one truly new job.
    const second = await store.createJobs([
      newJob('j1', 'a'),
      newJob('j2-again', 'a', { idempotencyKey: 'key-j2' }),
      newJob('j3', 'a', { idempotencyKey: 'shared' }),
      newJob('j4', 'a', { idempotencyKey: 'shared' }),
      newJob('j5', 'a'),
    ]);
    assert.deepEqual(second, {
      created: ['j3', 'j5'],
      duplicates: [
        { id: 'j1', idempotencyKey: 'key-j1', existingId: 'j1' },
        { id: 'j2-again', idempotencyKey: 'key-j2', existingId: 'j2' },
        { id: 'j4', idempotencyKey: 'shared', existingId: 'j3' },
      ],
    });
    assert.equal((await store.listJobs({ limit: 100 })).length, 4);
    const j2 = await store.getJob('j2');
    assert.deepEqual(j2, { ...newJob('j2', 'a', { rolloutId: 'r1' }), state: 'pending', attempts: 0 });
    assert.equal(await store.getJob('j2-again'), undefined);

    await assert.rejects(store.createJobs([newJob('j9', 'ghost')]), (err) => isStoreError(err, 'store.not-found'));
    await assert.rejects(store.createJobs([newJob('j1', 'a', { idempotencyKey: 'other' })]), (err) =>
      isStoreError(err, 'store.conflict'),
    );
  });

  test('createJobs handles a batch larger than one statement', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    const jobs = Array.from({ length: 1_200 }, (_, i) => newJob(`j${i}`, 'a'));
    assert.equal((await store.createJobs(jobs)).created.length, 1_200);
    assert.equal((await store.createJobs(jobs)).duplicates.length, 1_200);
    assert.equal((await store.countJobsByState()).pending, 1_200);
  });

  test('a job result is recorded once: the second copy changes nothing and says duplicate', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    await store.markDispatched(['j1'], at(1));
    assert.equal(await store.markRunning('j1', at(2)), true);

    const first = await store.recordJobResult(jobResult('j1'), at(4));
    assert.equal(first.duplicate, false);
    assert.equal(first.job.state, 'succeeded');
    assert.equal(first.job.startedAt, at(2));
    assert.equal(first.job.finishedAt, at(4));
    assert.deepEqual(first.job.result, jobResult('j1'));

    const second = await store.recordJobResult(jobResult('j1', { status: 'failed', finishedAt: at(9) }), at(9));
    assert.equal(second.duplicate, true);
    assert.deepEqual(await store.getJob('j1'), first.job);

    await assert.rejects(store.recordJobResult(jobResult('nope'), at(5)), (err) => isStoreError(err, 'store.not-found'));
    await assert.rejects(store.recordJobResult(jobResult('j1', { status: 'pending' as 'failed' }), at(5)), (err) =>
      isStoreError(err, 'store.invalid'),
    );
    await assert.rejects(store.recordJobResult(jobResult('other', { idempotencyKey: 'key-j1' }), at(5)), (err) =>
      isStoreError(err, 'store.conflict'),
    );
  });

  test('recordJobResults reports every outcome and records each key once, even twice in one batch', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a'), newJob('j2', 'a'), newJob('j3', 'a')]);
    await store.recordJobResult(jobResult('j3'), at(3));
    const outcomes = await store.recordJobResults(
      [
        jobResult('j1', { status: 'failed' }),
        jobResult('j1'),
        jobResult('j2', { status: 'timed_out' }),
        jobResult('j3'),
        jobResult('ghost'),
        jobResult('j2', { idempotencyKey: 'key-j1' }),
        jobResult('j2', { status: 'running' as 'failed' }),
      ],
      at(6),
    );
    assert.deepEqual(
      outcomes.map((o) => [o.jobId, o.outcome]),
      [['j1', 'recorded'], ['j1', 'duplicate'], ['j2', 'recorded'], ['j3', 'duplicate'], ['ghost', 'unknown'], ['j2', 'conflict'], ['j2', 'invalid']],
    );
    assert.equal((await store.getJob('j1'))?.state, 'failed');
    assert.equal((await store.getJob('j2'))?.state, 'timed_out');
    assert.equal((await store.getJob('j3'))?.finishedAt, at(3));
    // The job never marked running takes the agent's start time.
    assert.equal((await store.getJob('j1'))?.startedAt, at(2));
  });

  test("a result's observed resources are merged into the device's observed set", async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.saveReports([{ deviceId: 'a', receivedAt: at(0), report: report([pkg('curl', '7'), pkg('nginx', '1.18')]) }]);
    await store.createJobs([newJob('j1', 'a')]);
    await store.recordJobResult(jobResult('j1', { observed: [pkg('nginx', '1.22.1')] }), at(3));
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('curl', '7'), pkg('nginx', '1.22.1')]);
    // The next report replaces the set as usual.
    await store.saveReports([{ deviceId: 'a', receivedAt: at(4), report: report([pkg('curl', '7')]) }]);
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('curl', '7')]);
  });

  test('dispatch, run and cancel move only the jobs they may', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.createJobs(['j1', 'j2', 'j3', 'j4'].map((id) => newJob(id, 'a')));
    assert.deepEqual(await store.markDispatched(['j2', 'j1', 'ghost'], at(1)), ['j2', 'j1']);
    assert.deepEqual(await store.markDispatched(['j1'], at(2)), ['j1']); // ack timed out: sent again
    const j1 = await store.getJob('j1');
    assert.equal(j1?.attempts, 2);
    assert.equal(j1?.dispatchedAt, at(2));

    assert.equal(await store.markRunning('j1', at(3)), true);
    assert.equal(await store.markRunning('j1', at(4)), false);
    assert.deepEqual(await store.markDispatched(['j1'], at(5)), []);
    await assert.rejects(store.markRunning('ghost', at(3)), (err) => isStoreError(err, 'store.not-found'));

    await store.recordJobResult(jobResult('j2'), at(6));
    assert.deepEqual(await store.cancelJobs(['j1', 'j2', 'j3'], at(7)), ['j1', 'j3']);
    assert.equal((await store.getJob('j3'))?.finishedAt, at(7));
    assert.equal(await store.markRunning('j3', at(8)), false);
    assert.deepEqual(await store.countJobsByState(), {
      pending: 1, dispatched: 0, running: 0, succeeded: 1, failed: 0, timed_out: 0, cancelled: 2,
    });

    // A burst of first progress reports: only a device's own pending or dispatched jobs move.
    await enroll(store, 'b');
    await store.createJobs(['k1', 'k2', 'k3'].map((id) => newJob(id, 'b')));
    await store.markDispatched(['k2'], at(8));
    assert.deepEqual(
      (await store.markRunningMany([{ id: 'k1', deviceId: 'b' }, { id: 'k2', deviceId: 'b' }, { id: 'k3', deviceId: 'a' }, { id: 'j2', deviceId: 'a' }, { id: 'ghost', deviceId: 'b' }], at(9))).sort(),
      ['k1', 'k2'],
    );
    assert.equal((await store.getJob('k1'))?.startedAt, at(9));
    assert.equal((await store.getJob('k3'))?.state, 'pending'); // another device's id: untouched
    assert.equal((await store.getJob('j2'))?.state, 'succeeded'); // final: untouched
    assert.deepEqual(await store.markRunningMany([], at(9)), []);

    // The agent ran j1 after all: its real result replaces the server's cancellation.
    const late = await store.recordJobResult(jobResult('j1', { status: 'failed' }), at(9));
    assert.equal(late.duplicate, false);
    assert.equal(late.job.state, 'failed');
  });

  test('pendingJobs: pending and dispatched jobs of one device, oldest first, batch order kept', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.createJobs([
      newJob('late', 'a', { createdAt: at(9) }),
      newJob('early-1', 'a', { createdAt: at(2) }),
      newJob('early-2', 'a', { createdAt: at(2) }),
      newJob('other-device', 'b', { createdAt: at(1) }),
      newJob('running', 'a', { createdAt: at(1) }),
      newJob('done', 'a', { createdAt: at(1) }),
      newJob('first', 'a', { createdAt: at(0) }),
    ]);
    await store.markDispatched(['early-2'], at(3));
    await store.markRunning('running', at(3));
    await store.recordJobResult(jobResult('done'), at(3));
    assert.deepEqual((await store.pendingJobs('a')).map((j) => [j.id, j.state]), [
      ['first', 'pending'],
      ['early-1', 'pending'],
      ['early-2', 'dispatched'],
      ['late', 'pending'],
    ]);
    assert.deepEqual(await store.pendingJobs('ghost'), []);
  });

  test('listJobs filters by device and state and pages newest first with a job-id cursor', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.createJobs([
      newJob('a1', 'a', { createdAt: at(1) }),
      newJob('b1', 'b', { createdAt: at(2) }),
      newJob('a2', 'a', { createdAt: at(3) }),
      newJob('a3', 'a', { createdAt: at(3) }),
      newJob('a4', 'a', { createdAt: at(4) }),
    ]);
    await store.cancelJobs(['a2'], at(5));
    const ids = async (q: Parameters<typeof store.listJobs>[0]) => (await store.listJobs(q)).map((j) => j.id);
    assert.deepEqual(await ids({ limit: 10 }), ['a4', 'a3', 'a2', 'b1', 'a1']);
    assert.deepEqual(await ids({ limit: 10, deviceId: 'a' }), ['a4', 'a3', 'a2', 'a1']);
    assert.deepEqual(await ids({ limit: 10, deviceId: 'a', state: 'pending' }), ['a4', 'a3', 'a1']);
    assert.deepEqual(await ids({ limit: 10, state: ['cancelled', 'succeeded'] }), ['a2']);
    assert.deepEqual(await ids({ limit: 2, deviceId: 'a' }), ['a4', 'a3']);
    assert.deepEqual(await ids({ limit: 2, deviceId: 'a', before: 'a3' }), ['a2', 'a1']);
    assert.deepEqual(await ids({ limit: 2, before: 'a1' }), []);
    await assert.rejects(store.listJobs({ limit: 2, before: 'ghost' }), (err) => isStoreError(err, 'store.invalid'));
  });

  test('getJobsMany and openJobsMany read many jobs and devices at once', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.createJobs([newJob('j1', 'a'), newJob('j2', 'a'), newJob('j3', 'b')]);
    await store.recordJobResult(jobResult('j2', { idempotencyKey: 'key-j2' }), at(5));
    const jobs = await store.getJobsMany(['j1', 'j3', 'missing']);
    assert.deepEqual([...jobs.keys()].sort(), ['j1', 'j3']);
    const open = await store.openJobsMany(['a', 'b', 'c']);
    assert.deepEqual(open.get('a')!.map((j) => j.id), ['j1']);
    assert.deepEqual(open.get('b')!.map((j) => j.id), ['j3']);
    assert.deepEqual(open.get('c'), []);
  });

  test('markJobsLost fails only the device\'s open jobs sent before its new connection, and a later result still wins', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.createJobs([newJob('sent-before', 'a'), newJob('running', 'a'), newJob('sent-after', 'a'), newJob('pending', 'a'), newJob('other', 'b')]);
    await store.markDispatched(['sent-before', 'running', 'other'], at(1));
    await store.markRunning('running', at(2));
    await store.markDispatched(['sent-after'], at(6));
    const moved = await store.markJobsLost(
      ['sent-before', 'running', 'sent-after', 'pending'].map((id) => ({ id, deviceId: 'a', before: at(5) })).concat({ id: 'other', deviceId: 'a', before: at(5) }),
      'lost: not held',
      at(7),
    );
    assert.deepEqual(moved.sort(), ['running', 'sent-before']);
    const lost = await store.getJob('running');
    assert.equal(lost?.state, 'failed');
    assert.equal(lost?.reason, 'lost: not held');
    assert.equal(lost?.finishedAt, at(7));
    assert.equal((await store.getJob('sent-after'))?.state, 'dispatched', 'sent on the connection that answered: held');
    assert.equal((await store.getJob('pending'))?.state, 'pending');
    assert.equal((await store.getJob('other'))?.state, 'dispatched', 'another device\'s job is untouched');

    // The agent had it after all: its result is the truth and the reason goes.
    const late = await store.recordJobResult(jobResult('running'), at(8));
    assert.equal(late.job.state, 'succeeded');
    assert.equal(late.job.reason, undefined);
  });
});
