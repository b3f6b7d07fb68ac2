import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedResource } from '../../../../schemas/protocol.ts';
import type { ReportInput } from './store.ts';
import { at, describeStores, enroll, file, pkg, report } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('10,000 reports in one call are all persisted, and the next burst replaces every set', async (t) => {
    const { store, exec, open } = await tempStore(t);
    const ids = Array.from({ length: 10_000 }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
    // 10,000 enrollments one by one take seconds; the devices are seeded in one statement instead.
    await exec(seedDevices(ids));
    assert.equal(await store.countDevices(), 10_000);

    const burst = (minute: number, observed: (i: number) => ObservedResource[]): ReportInput[] =>
      ids.map((deviceId, i) => ({
        deviceId,
        receivedAt: at(minute),
        report: report(observed(i), { facts: { hostname: `${deviceId}.lab`, cpu: { count: minute } }, revision: `main@sha1:${minute}` }),
      }));
    const first = await store.saveReports(
      burst(1, (i) => [
        ...Array.from({ length: 5 }, (_, k) => pkg(`p${k}`, `1.${i}`)),
        ...Array.from({ length: 5 }, (_, k) => file(`/etc/f${k}`, `${i}`.padStart(64, '0'))),
      ]),
    );
    assert.deepEqual({ ...first, observedChanged: [...first.observedChanged].sort() }, { saved: 10_000, skipped: [], observedChanged: ids, stale: [] });
    const all = await store.getObservedMany(ids);
    assert.equal(all.size, 10_000);
    assert.ok([...all.values()].every((s) => s.resources.length === 10 && s.reportedAt === at(1)));
    const dev42 = all.get('dev-00042')?.resources;
    assert.deepEqual(dev42?.find((r) => r.key === 'package/p0'), pkg('p0', '1.42'));
    assert.deepEqual(dev42?.find((r) => r.key === 'file//etc/f4'), file('/etc/f4', '42'.padStart(64, '0')));

    // Second burst: a smaller set per device. Nothing of the first set may survive.
    const second = await store.saveReports(burst(2, (i) => [pkg('nginx', `2.${i}`)]));
    assert.equal(second.saved, 10_000);
    assert.equal(second.observedChanged.length, 10_000);
    // Heartbeats that observe the same: saved (facts, times), no observed set changed.
    const third = await store.saveReports(burst(3, (i) => [pkg('nginx', `2.${i}`)]));
    assert.deepEqual(third, { saved: 10_000, skipped: [], observedChanged: [], stale: [] });
    await store.close();
    const reopened = await open(); // read back from disk, not from anything cached
    const after = await reopened.getObservedMany(ids);
    assert.ok([...after.values()].every((s) => s.resources.length === 1 && s.resources[0]?.key === 'package/nginx'));
    assert.deepEqual(after.get('dev-09999')?.resources, [pkg('nginx', '2.9999')]);
    const device = await reopened.getDevice('dev-09999');
    assert.equal(device?.lastReportAt, at(3));
    assert.equal(device?.lastSeenAt, at(3));
    assert.equal(device?.reportedRevision, 'main@sha1:3');
    assert.deepEqual(device?.facts, { hostname: 'dev-09999.lab', cpu: { count: 3 } });
  });

  test('within a burst the latest report per device wins; an older report than the stored one is skipped', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    const res = await store.saveReports([
      { deviceId: 'a', receivedAt: at(5), report: report([pkg('new', '1')], { agentVersion: '2.0.0' }) },
      { deviceId: 'a', receivedAt: at(4), report: report([pkg('old', '1')], { agentVersion: '1.0.0' }) },
    ]);
    assert.deepEqual(res, { saved: 1, skipped: [], observedChanged: ['a'], stale: [] });
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('new', '1')]);
    assert.equal((await store.getDevice('a'))?.agentVersion, '2.0.0');

    const late = await store.saveReports([{ deviceId: 'a', receivedAt: at(3), report: report([pkg('older', '1')]) }]);
    assert.deepEqual(late, { saved: 0, skipped: ['a'], observedChanged: [], stale: [] });
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('new', '1')]);

    // The same report again (a retried burst) is harmless, and changes no observed set.
    const again = await store.saveReports([{ deviceId: 'a', receivedAt: at(5), report: report([pkg('new', '1')]) }]);
    assert.deepEqual(again, { saved: 1, skipped: [], observedChanged: [], stale: [] });
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('new', '1')]);
  });

  test('reports for unknown or deleted devices and malformed reports are skipped, the rest saved', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await enroll(store, 'gone');
    await store.deleteDevice('gone');
    await enroll(store, 'bad');
    const malformed = report([{ type: 'package' } as unknown as ObservedResource]);
    const res = await store.saveReports([
      { deviceId: 'a', receivedAt: at(1), report: malformed },
      { deviceId: 'a', receivedAt: at(1), report: report([pkg('x', '1')]) },
      { deviceId: 'ghost', receivedAt: at(1), report: report([pkg('x', '1')]) },
      { deviceId: 'gone', receivedAt: at(1), report: report([pkg('x', '1')]) },
      { deviceId: 'bad', receivedAt: at(1), report: malformed },
    ]);
    assert.equal(res.saved, 1);
    assert.deepEqual([...res.skipped].sort(), ['bad', 'ghost', 'gone']);
    assert.deepEqual(res.observedChanged, ['a']);
    assert.deepEqual((await store.getObserved('gone'))?.resources, []);
    assert.equal((await store.getObserved('bad'))?.reportedAt, undefined);
  });

  test('observed sets come back sorted by key with duplicate keys collapsed (last wins)', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    await store.saveReports([
      { deviceId: 'a', receivedAt: at(1), report: report([pkg('zsh', '5'), file('/etc/a', 'x'), pkg('zsh', '6'), pkg('bash', '5')]) },
    ]);
    const snap = await store.getObserved('a');
    assert.deepEqual(snap, {
      deviceId: 'a',
      reportedAt: at(1),
      resources: [file('/etc/a', 'x'), pkg('bash', '5'), pkg('zsh', '6')],
    });
  });

  test('getObserved: undefined for an unknown device, empty and without reportedAt before any report', async (t) => {
    const { store } = await tempStore(t);
    await enroll(store, 'a');
    assert.equal(await store.getObserved('ghost'), undefined);
    assert.deepEqual(await store.getObserved('a'), { deviceId: 'a', resources: [] });
    const many = await store.getObservedMany(['a', 'ghost']);
    assert.deepEqual([...many.keys()], ['a']);
    assert.deepEqual(await store.getObservedMany([]), new Map());
  });

  function seedDevices(ids: readonly string[]): string {
    const values = ids.map((id) => `('${id}', 'machine-${id}', '${id}', 'hash-${id}')`).join(',');
    return `INSERT INTO devices (id, machine_id, name, credential_hash) VALUES ${values}`;
  }
});
