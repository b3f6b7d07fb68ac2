// Two stores on one database racing, as two replicas (PostgreSQL) or the server and the CLI
// (SQLite) do: what SQLite's single writer gives for free, PostgreSQL's locks and serializable
// transactions must give too. Every check is on what is stored afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at, describeStores, enroll, jobResult, newJob, pkg, report } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('hostname sequences: racing allocations give each device one number, never one number twice', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    const devices = Array.from({ length: 12 }, (_, i) => `d${i}`);
    // Every device asks twice, once through each store.
    const got = await Promise.all(
      devices.flatMap((d, i) => [store, other].map((s, k) => s.allocateHostnameSeq('web-{seq}', d, at(i + k)).then((n) => [d, n] as const))),
    );
    const byDevice = new Map<string, Set<number>>();
    for (const [d, n] of got) byDevice.set(d, (byDevice.get(d) ?? new Set()).add(n));
    assert.ok([...byDevice.values()].every((numbers) => numbers.size === 1), 'a device got two numbers');
    const numbers = [...byDevice.values()].map((s) => [...s][0]).sort((a, b) => (a ?? 0) - (b ?? 0));
    assert.deepEqual(numbers, devices.map((_, i) => i + 1));
  });

  test('job sequences: racing batches never hand out one number twice', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    const batches = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).nextJobSequences(['a', 'b', 'a'])));
    const forA = batches.flatMap((b) => [b[0], b[2]]).sort((x, y) => (x ?? 0) - (y ?? 0));
    const forB = batches.map((b) => b[1]).sort((x, y) => (x ?? 0) - (y ?? 0));
    assert.deepEqual(forA, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(forB, Array.from({ length: 10 }, (_, i) => i + 1));
    for (const b of batches) assert.ok((b[0] ?? 0) < (b[2] ?? 0), 'a device named twice gets ascending numbers');
  });

  test('one machine enrolling through two stores at once becomes one device', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? store : other).enrollDevice({
          id: `web-${i}`,
          machineId: 'machine-1',
          labels: {},
          facts: { hostname: 'web' },
          publicKey: `key-${i}`,
          now: at(i),
        }),
      ),
    );
    const ids = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : [])));
    assert.equal(ids.size, 1, `one device for the machine, got ${[...ids].join(', ')}`);
    assert.equal(await store.countDevices(), 1);
  });

  test('one result delivered to two stores at once is recorded once', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    await enroll(store, 'a');
    await store.createJobs([newJob('j1', 'a')]);
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? store : other).recordJobResults([jobResult('j1')], at(4))),
    );
    const recorded = outcomes.flat().filter((o) => o.outcome === 'recorded');
    assert.equal(recorded.length, 1);
    assert.equal(outcomes.flat().filter((o) => o.outcome === 'duplicate').length, 5);
    assert.equal((await other.getJob('j1'))?.state, 'succeeded');
  });

  test('reports of one device saved through two stores at once: the latest received wins', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    await enroll(store, 'a');
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? store : other).saveReports([{ deviceId: 'a', receivedAt: at(i), report: report([pkg('nginx', `1.${i}`)], { epoch: 'e1', seq: i }) }]),
      ),
    );
    assert.deepEqual((await store.getObserved('a'))?.resources, [pkg('nginx', '1.9')]);
    assert.equal((await store.getDevice('a'))?.lastReportAt, at(9));
  });
});
