import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from './store.ts';
import { at, describeStores, enroll, jobResult, newJob, pkg, report } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('everything written survives close and reopen', async (t) => {
    const { store, open } = await tempStore(t);
    await store.recordRevision({
      revision: 'main@sha1:abc', oid: 'abc', branch: 'main', author: 'a', message: 'm',
      committedAt: at(0), seenAt: at(0), status: 'accepted', errors: [],
    });
    await store.createEnrollmentToken({ id: 't1', name: 'lab', tokenHash: 'th', maxUses: 2 });
    await store.consumeEnrollmentToken('th', at(0));
    await enroll(store, 'a', { credentialHash: 'cred' });
    await store.saveReports([{ deviceId: 'a', receivedAt: at(1), report: report([pkg('nginx', '1')]) }]);
    await store.createJobs([newJob('j1', 'a'), newJob('j2', 'a')]);
    await store.recordJobResult(jobResult('j1'), at(2));
    await store.applyInventory('a', [], []);
    const before = {
      revision: await store.getRevision('abc'),
      tokens: await store.listEnrollmentTokens(),
      device: await store.getDevice('a'),
      observed: await store.getObserved('a'),
      jobs: await store.listJobs({ limit: 10 }),
    };
    // Queued work finishes before close resolves.
    const lastWrite = store.cancelJobs(['j2'], at(3));
    await store.close();
    assert.deepEqual(await lastWrite, ['j2']);
    await assert.rejects(store.getDevice('a'), (err) => isStoreError(err, 'store.closed'));

    const reopened = await open();
    assert.deepEqual(await reopened.getRevision('abc'), before.revision);
    assert.deepEqual(await reopened.listEnrollmentTokens(), before.tokens);
    assert.deepEqual(await reopened.getDevice('a'), before.device);
    assert.equal((await reopened.findDeviceByCredential('a', 'cred'))?.id, 'a');
    assert.deepEqual(await reopened.getObserved('a'), before.observed);
    const jobs = await reopened.listJobs({ limit: 10 });
    assert.deepEqual(jobs.find((j) => j.id === 'j1'), before.jobs.find((j) => j.id === 'j1'));
    assert.equal(jobs.find((j) => j.id === 'j2')?.state, 'cancelled');
    // Idempotency holds across restarts too.
    assert.equal((await reopened.recordJobResult(jobResult('j1'), at(5))).duplicate, true);
    assert.deepEqual((await reopened.createJobs([newJob('j1', 'a')])).created, []);
  });

  test('the store clock fills in times a caller leaves out', async (t) => {
    const { store } = await tempStore(t, { now: () => new Date('2025-03-04T05:06:07Z') });
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    const token = await store.createEnrollmentToken({ id: 't', name: 'n', tokenHash: 'h' });
    assert.equal(token.createdAt, '2025-03-04T05:06:07.000Z');
    assert.equal((await store.revokeEnrollmentToken('t')).revokedAt, '2025-03-04T05:06:07.000Z');
    await store.cancelJobs(['j1']);
    assert.equal((await store.getJob('j1'))?.finishedAt, '2025-03-04T05:06:07.000Z');
    await store.deleteDevice('a');
    assert.equal((await store.getDevice('a'))?.deletedAt, '2025-03-04T05:06:07.000Z');
  });
});
