import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptStep } from '../../core/pxe/task-progress.ts';
import type { RunnerTask } from '../../core/pxe/task-sequence.ts';
import type { NewProvisioningRun } from './store.ts';
import { at, describeStores, enroll } from './test-support.ts';

const TASKS: RunnerTask[] = [
  { index: 0, type: 'partition', name: 'disk', continueOnError: false, layout: 'lvm' },
  { index: 1, type: 'run-script', name: 'optional', continueOnError: true },
  { index: 2, type: 'install-agent', name: 'agent', continueOnError: false },
];

function run(id: string, deviceId = 'web-1', minutes = 0): NewProvisioningRun {
  return {
    id,
    deviceId,
    tokenHash: `hash-${id}`,
    revision: 'main@sha1:abc',
    profile: 'web',
    image: 'debian-12',
    hostname: 'web-01',
    mac: '52:54:00:00:00:01',
    tasks: TASKS,
    createdAt: at(minutes),
    expiresAt: at(minutes + 60),
    enrollmentToken: { id: `enr-${id}`, name: `provisioning ${deviceId}`, tokenHash: `enr-hash-${id}`, maxUses: 1, boundDevice: deviceId, expiresAt: at(minutes + 120) },
  };
}

describeStores(({ tempStore }) => {
  test('machine boots upsert by MAC: first seen kept, boots counted, identity filled in', async (t) => {
    const { store } = await tempStore(t);
    await store.recordMachineBoot({ mac: '52:54:00:00:00:09', platform: 'pcbios', at: at(0), deviceId: null, decision: 'wait:unknown-machine' });
    const second = await store.recordMachineBoot({ mac: '52:54:00:00:00:09', serial: 'SN1', at: at(5), deviceId: null, decision: 'wait:unknown-machine' });
    assert.equal(second.boots, 2);
    assert.equal(second.firstSeenAt, at(0));
    assert.equal(second.lastSeenAt, at(5));
    assert.equal(second.platform, 'pcbios');
    assert.equal(second.serial, 'SN1');
    await store.recordMachineBoot({ mac: '52:54:00:00:00:0a', at: at(6), deviceId: 'db-1', decision: 'install' });
    assert.deepEqual((await store.listPxeMachines({ limit: 10, unknownOnly: true })).map((m) => m.mac), ['52:54:00:00:00:09']);
    assert.equal((await store.listPxeMachines({ limit: 10 })).length, 2);
  });

  test('hostname sequences: a device keeps its number, numbers are never reused, concurrent allocations are distinct', async (t) => {
    const { store } = await tempStore(t);
    assert.equal(await store.allocateHostnameSeq('web-eu-{seq}', 'a', at(0)), 1);
    assert.equal(await store.allocateHostnameSeq('web-eu-{seq}', 'b', at(0)), 2);
    assert.equal(await store.allocateHostnameSeq('web-eu-{seq}', 'a', at(1)), 1);
    assert.equal(await store.allocateHostnameSeq('web-us-{seq}', 'c', at(1)), 1);
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => store.allocateHostnameSeq('web-eu-{seq}', `d${i}`, at(2))));
    assert.deepEqual([...many].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 3));
  });

  test('a new run supersedes the active one and revokes its enrollment token; state is provisioning', async (t) => {
    const { store } = await tempStore(t);
    await store.startProvisioningRun(run('r1'));
    await store.startProvisioningRun(run('r2', 'web-1', 1));
    assert.equal(await store.findActiveRun('hash-r1', at(2)), undefined);
    assert.equal((await store.findActiveRun('hash-r2', at(2)))?.id, 'r2');
    assert.equal(await store.findActiveRun('hash-r2', at(61)), undefined, 'expired');
    assert.deepEqual(await store.consumeEnrollmentToken('enr-hash-r1', at(2)), { ok: false, reason: 'revoked' });
    const consumed = await store.consumeEnrollmentToken('enr-hash-r2', at(2));
    assert.equal(consumed.ok && consumed.token.boundDevice, 'web-1');
    assert.deepEqual(await store.consumeEnrollmentToken('enr-hash-r2', at(3)), { ok: false, reason: 'exhausted' });
    assert.equal((await store.getProvisioning('web-1'))?.state, 'provisioning');
    assert.deepEqual((await store.listProvisioningRuns('web-1', 10)).map((r) => [r.id, r.status]), [['r2', 'active'], ['r1', 'superseded']]);
  });

  test('steps: in order, a tolerated failure goes on, the last task provisions the device, then the run is closed', async (t) => {
    const { store } = await tempStore(t);
    await store.startProvisioningRun(run('r1'));
    const step = (index: number, status: 'started' | 'succeeded' | 'failed', minute = 1) =>
      store.recordProvisioningStep({ runId: 'r1', index, status, at: at(minute), log: `log ${index}` }, acceptStep);
    assert.equal((await step(1, 'started')).outcome, 'refused');
    assert.equal((await step(0, 'started')).outcome, 'recorded');
    assert.equal((await step(0, 'started')).outcome, 'duplicate');
    assert.equal((await step(0, 'succeeded')).outcome, 'recorded');
    assert.equal((await step(1, 'failed')).outcome, 'recorded');
    assert.equal((await store.getProvisioning('web-1'))?.state, 'provisioning');
    const last = await step(2, 'succeeded', 2);
    assert.equal(last.outcome === 'recorded' && last.run.status, 'succeeded');
    assert.equal((await store.getProvisioning('web-1'))?.state, 'provisioned');
    assert.equal((await step(2, 'succeeded')).outcome, 'inactive');
    assert.equal(await store.findActiveRun('hash-r1', at(3)), undefined);
    const timeline = await store.listProvisioningSteps('web-1', 100);
    assert.deepEqual(timeline.map((s) => `${s.index}:${s.status}`), ['0:started', '0:succeeded', '1:failed', '2:succeeded']);
    assert.equal(timeline[2]?.log, 'log 1');
    await enroll(store, 'web-1');
    assert.equal(await store.markEnrolled('web-1', at(4)), true);
    assert.equal((await store.getProvisioning('web-1'))?.state, 'enrolled');
    assert.equal(await store.markEnrolled('web-1', at(5)), false);
    assert.equal(await store.markEnrolled('never-provisioned', at(5)), false);
  });

  test('a failing task without continueOnError ends the run as failed; the device is not provisioned', async (t) => {
    const { store } = await tempStore(t);
    await store.startProvisioningRun(run('r1'));
    // A Windows exit code (STATUS_ACCESS_VIOLATION) does not fit in 32 signed bits: kept whole.
    // Its log held binary output: a NUL is shown as U+FFFD, the report is not refused.
    await store.recordProvisioningStep({ runId: 'r1', index: 0, status: 'failed', exitCode: 0xc0000005, log: 'MZ\u0000\u0000boom', at: at(1) }, acceptStep);
    assert.deepEqual(
      (await store.listProvisioningSteps('web-1', 1)).map((s) => [s.exitCode, s.log]),
      [[3221225477, 'MZ\ufffd\ufffdboom']],
    );
    assert.equal((await store.listProvisioningRuns('web-1', 1))[0]?.status, 'failed');
    assert.equal((await store.getProvisioning('web-1'))?.state, 'provisioning');
    assert.equal((await store.recordProvisioningStep({ runId: 'r1', index: 1, status: 'started', at: at(2) }, acceptStep)).outcome, 'inactive');
  });
});
