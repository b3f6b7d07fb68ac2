import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRollout, deviceFinished, scheduleRollout } from '../../core/rollout/schedule.ts';
import { isStoreError, type RolloutRecord } from './store.ts';
import { at, describeStores, enroll, jobResult, newJob } from './test-support.ts';

function rollout(id: string, minute: number, extra: Partial<RolloutRecord> = {}): RolloutRecord {
  const policy = { waves: [{ name: 'canary', size: 1 }, { size: 'rest' }], failureThreshold: 1 };
  const state = createRollout({
    revision: `main@sha1:${minute}`,
    profile: 'web',
    policy,
    devices: ['a', 'b', 'c'].map((name) => ({ name, labels: {}, facts: undefined, groups: [], online: true })),
    now: new Date(at(minute)),
  });
  return { id, revision: state.revision, profile: 'web', status: state.status, policy, state, createdAt: at(minute), updatedAt: at(minute), ...extra };
}

describeStores(({ tempStore }) => {
  test('saveRollouts inserts, then replaces status, state, policy and updatedAt; the rest stays as first written', async (t) => {
    const { store, open } = await tempStore(t);
    const first = rollout('r1', 1);
    await store.saveRollouts([first]);
    assert.deepEqual(await store.getRollout('r1'), first);

    const started = scheduleRollout(first.state, first.policy, new Date(at(2)), 0).state;
    const done = deviceFinished(started, 'a', 'succeeded', new Date(at(3))).state;
    const later: RolloutRecord = { ...first, state: done, updatedAt: at(3), revision: 'main@sha1:other', createdAt: at(9), policy: {} };
    await store.saveRollouts([later]);
    const stored = await store.getRollout('r1');
    assert.deepEqual(stored?.state, done, 'the state is replaced whole');
    assert.equal(stored?.updatedAt, at(3));
    assert.equal(stored?.revision, first.revision, 'revision is fixed at insert');
    assert.equal(stored?.createdAt, first.createdAt);
    assert.deepEqual(stored?.policy, {}, 'the policy is the latest one the rollout took (adoptPolicies)');

    await store.saveRollouts([{ ...later, status: 'superseded', supersededBy: 'r2' }]);
    const reopened = await open();
    const superseded = await reopened.getRollout('r1');
    assert.equal(superseded?.status, 'superseded');
    assert.equal(superseded?.supersededBy, 'r2');
    assert.equal(superseded?.state.status, 'progressing', 'the state keeps the status it had');
    assert.equal(await store.getRollout('nope'), undefined);
  });

  test('listRollouts: newest first, by status, paged; currentRollouts: every one not superseded, oldest first', async (t) => {
    const { store } = await tempStore(t);
    await store.saveRollouts([
      rollout('r1', 1, { status: 'superseded', supersededBy: 'r3' }),
      rollout('r2', 2, { profile: 'db', status: 'halted' }),
      rollout('r3', 3, { status: 'completed' }),
      rollout('r4', 4, { profile: 'ops' }),
    ]);
    const ids = (rs: RolloutRecord[]) => rs.map((r) => r.id);
    assert.deepEqual(ids(await store.listRollouts({ limit: 10 })), ['r4', 'r3', 'r2', 'r1']);
    assert.deepEqual(ids(await store.listRollouts({ limit: 2 })), ['r4', 'r3']);
    assert.deepEqual(ids(await store.listRollouts({ limit: 2, before: 'r3' })), ['r2', 'r1']);
    assert.deepEqual(ids(await store.listRollouts({ limit: 10, status: 'halted' })), ['r2']);
    assert.deepEqual(ids(await store.listRollouts({ limit: 10, status: ['superseded', 'progressing'] })), ['r4', 'r1']);
    assert.deepEqual(ids(await store.currentRollouts()), ['r2', 'r3', 'r4']);

    await assert.rejects(store.listRollouts({ limit: 0 }), (e) => isStoreError(e, 'store.invalid'));
    await assert.rejects(store.listRollouts({ limit: 5, before: 'ghost' }), (e) => isStoreError(e, 'store.invalid'));
    await assert.rejects(store.listRollouts({ limit: 5, status: 'lost' as never }), (e) => isStoreError(e, 'store.invalid'));
  });

  test('a bad record fails the whole saveRollouts and writes nothing', async (t) => {
    const { store } = await tempStore(t);
    await assert.rejects(store.saveRollouts([rollout('ok', 1), rollout('bad', 2, { status: 'lost' as never })]), (e) => isStoreError(e, 'store.invalid'));
    await assert.rejects(store.saveRollouts([rollout('ok', 1), rollout('bad', 2, { updatedAt: 'yesterday' })]), (e) => isStoreError(e, 'store.invalid'));
    assert.deepEqual(await store.listRollouts({ limit: 10 }), []);
  });

  test('rolloutJobsMany: the newest job of each device for the rollout, other rollouts and jobs left out', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'b');
    await store.createJobs([
      newJob('a1', 'a', { rolloutId: 'r1', createdAt: at(1) }),
      newJob('a2', 'a', { rolloutId: 'r1', createdAt: at(2) }),
      newJob('a3', 'a', { rolloutId: 'r2', createdAt: at(3) }),
      newJob('a4', 'a', { createdAt: at(4) }),
      newJob('b1', 'b', { rolloutId: 'r1', createdAt: at(1) }),
    ]);
    await store.recordJobResult(jobResult('a2', { status: 'failed' }), at(5));
    const jobs = await store.rolloutJobsMany('r1', ['a', 'b', 'ghost']);
    assert.deepEqual([...jobs.entries()].map(([device, job]) => [device, job.id]).sort(), [['a', 'a2'], ['b', 'b1']]);
    assert.equal(jobs.get('a')?.result?.status, 'failed');
    assert.equal((await store.rolloutJobsMany('r9', ['a'])).size, 0);
  });
});
