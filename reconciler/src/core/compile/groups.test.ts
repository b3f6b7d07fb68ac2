import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GroupSpec } from '../../../../schemas/kinds.ts';
import type { DeviceInput } from '../model.ts';
import { groupsByDevice, groupsOfDevice, resolveDeviceGroups, resolveGroupMembers } from './groups.ts';
import { matchesSelector } from './selectors.ts';
import { buildModel, device, factsFor } from './test-builders.ts';

const devices: DeviceInput[] = [
  device('web-01', { labels: { role: 'web', site: 'fra' }, facts: factsFor('debian', 'apt') }),
  device('web-02', { labels: { role: 'web', site: 'ams' }, facts: factsFor('rhel', 'dnf') }),
  device('db-01', { labels: { role: 'db', site: 'fra' } }),
  // Enrolled but not declared in Git: selectors see it like any other device.
  device('enrolled-7', { labels: { role: 'web', site: 'fra' }, facts: factsFor('debian', 'apt'), declared: false }),
  device('win-01', { labels: { role: 'desktop' }, facts: factsFor('windows', 'choco') }),
];

const cases: Array<{ name: string; group: GroupSpec; want: string[] }> = [
  { name: 'explicit devices only', group: { devices: ['db-01', 'web-02'] }, want: ['db-01', 'web-02'] },
  { name: 'explicit names not among the devices are absent', group: { devices: ['db-01', 'ghost'] }, want: ['db-01'] },
  { name: 'label selector matches declared and enrolled devices', group: { selector: { matchLabels: { role: 'web', site: 'fra' } } }, want: ['enrolled-7', 'web-01'] },
  { name: 'fact selector', group: { selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian', 'rhel'] }] } }, want: ['enrolled-7', 'web-01', 'web-02'] },
  {
    name: 'NotIn includes the device that never reported',
    group: { selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['windows'] }] } },
    want: ['db-01', 'enrolled-7', 'web-01', 'web-02'],
  },
  {
    name: 'explicit ∪ selector, a device in both counted once',
    group: { devices: ['win-01', 'web-01'], selector: { matchLabels: { role: 'web' } } },
    want: ['enrolled-7', 'web-01', 'web-02', 'win-01'],
  },
  { name: 'selector matching nobody', group: { selector: { matchLabels: { role: 'mail' } } }, want: [] },
];

for (const c of cases) {
  test(`resolveGroupMembers: ${c.name}`, () => {
    const model = buildModel({ groups: { g: c.group } });
    const membership = resolveGroupMembers(model, devices);
    assert.deepEqual([...membership.get('g')!], c.want);
  });
}

test('resolveGroupMembers lists every group, sorted, whatever the input order', () => {
  const groups: Record<string, GroupSpec> = {
    zeta: { selector: { matchLabels: { site: 'fra' } } },
    alpha: { devices: ['web-02'] },
    mid: { selector: { matchFacts: [{ key: 'os.packageManager', operator: 'Exists' }] } },
    empty: { devices: ['ghost'] },
  };
  const forward = resolveGroupMembers(buildModel({ groups }), devices);
  const backward = resolveGroupMembers(
    buildModel({ groups: Object.fromEntries(Object.entries(groups).reverse()) }),
    [...devices].reverse(),
  );
  const asArrays = (m: Map<string, Set<string>>) => [...m].map(([g, s]) => [g, [...s]]);
  assert.deepEqual(asArrays(forward), [
    ['alpha', ['web-02']],
    ['empty', []],
    ['mid', ['enrolled-7', 'web-01', 'web-02', 'win-01']],
    ['zeta', ['db-01', 'enrolled-7', 'web-01']],
  ]);
  assert.deepEqual(asArrays(backward), asArrays(forward));
});

test('groupsByDevice and groupsOfDevice invert membership, sorted', () => {
  const model = buildModel({
    groups: {
      web: { selector: { matchLabels: { role: 'web' } } },
      fra: { selector: { matchLabels: { site: 'fra' } } },
      pinned: { devices: ['web-01'] },
    },
  });
  const membership = resolveGroupMembers(model, devices);
  const inverted = groupsByDevice(membership);
  assert.deepEqual(inverted.get('web-01'), ['fra', 'pinned', 'web']);
  assert.deepEqual(inverted.get('db-01'), ['fra']);
  assert.equal(inverted.get('win-01'), undefined);
  for (const d of devices) assert.deepEqual(groupsOfDevice(membership, d.name), inverted.get(d.name) ?? []);
});

test('resolveGroupMembers: indexed selectors decide exactly as matchesSelector does', () => {
  const fleet: DeviceInput[] = [
    device('a', { labels: { role: 'web', site: 'fra', rare: 'yes' }, facts: { network: { macs: ['m1', 'm2'] }, cpu: { count: 4 } } }),
    device('b', { labels: { role: 'web', site: 'fra' }, facts: { network: { macs: ['m3'] }, cpu: { count: 8 } } }),
    device('c', { labels: { role: 'db', site: 'fra' }, facts: { disks: [{ mount: '/data', totalBytes: 1, freeBytes: 1 }] } }),
    device('d', { labels: { role: 'web', site: 'ams' } }),
  ];
  const groups: Record<string, GroupSpec> = {
    // An array fact hitting two listed values: a member once.
    macs: { selector: { matchFacts: [{ key: 'network.macs', operator: 'In', values: ['m1', 'm2', 'm3'] }] } },
    // Numbers are indexed by String(), like In compares them.
    fourCpus: { selector: { matchFacts: [{ key: 'cpu.count', operator: 'In', values: ['4'] }] } },
    // The index narrows, the whole selector decides.
    macsAndFourCpus: {
      selector: {
        matchFacts: [
          { key: 'network.macs', operator: 'In', values: ['m1', 'm3'] },
          { key: 'cpu.count', operator: 'In', values: ['4'] },
        ],
      },
    },
    // Projection through an array of objects.
    dataDisk: { selector: { matchFacts: [{ key: 'disks.mount', operator: 'In', values: ['/data'] }] } },
    // Indexed by its rarest label, but every label must match.
    rareWebAms: { selector: { matchLabels: { role: 'web', site: 'ams', rare: 'yes' } } },
    rareWebFra: { selector: { matchLabels: { role: 'web', site: 'fra', rare: 'yes' } } },
    // Nothing to index by: tested against every device.
    noCpuFact: { selector: { matchFacts: [{ key: 'cpu.count', operator: 'DoesNotExist' }] } },
  };
  const membership = resolveGroupMembers(buildModel({ groups }), fleet);
  const asArrays: Record<string, string[]> = Object.fromEntries([...membership].map(([g, s]) => [g, [...s]]));
  assert.deepEqual(asArrays, {
    dataDisk: ['c'],
    fourCpus: ['a'],
    macs: ['a', 'b'],
    macsAndFourCpus: ['a'],
    noCpuFact: ['c', 'd'],
    rareWebAms: [],
    rareWebFra: ['a'],
  });
  for (const [name, spec] of Object.entries(groups)) {
    const expected = fleet.filter((d) => matchesSelector(spec.selector!, d.labels, d.facts)).map((d) => d.name);
    assert.deepEqual([...membership.get(name)!], expected, name);
  }
});

test('resolveDeviceGroups gives one device the groups resolveGroupMembers gives it', () => {
  const model = buildModel({
    groups: {
      web: { selector: { matchLabels: { role: 'web' } } },
      debian: { selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] } },
      pinned: { devices: ['db-01', 'win-01'] },
      notWindows: { selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['windows'] }] } },
    },
  });
  const inverted = groupsByDevice(resolveGroupMembers(model, devices));
  for (const d of devices) assert.deepEqual(resolveDeviceGroups(model, d), inverted.get(d.name) ?? [], d.name);
});
