import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Selector } from '../../../../schemas/kinds.ts';
import type { Facts } from '../../../../schemas/facts.ts';
import { lookupFact, matchesSelector } from './selectors.ts';

const debianWeb: Facts = {
  hostname: 'web-01',
  os: { family: 'debian', version: '12', packageManager: 'apt' },
  cpu: { count: 4 },
  network: { macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'], ips: [] },
  disks: [
    { mount: '/', totalBytes: 100, freeBytes: 50 },
    { mount: '/data', totalBytes: 200, freeBytes: 10 },
  ],
  virtual: true,
  rack: null,
};

const cases: Array<{ name: string; selector: Selector; labels?: Record<string, string>; facts: Facts | undefined; want: boolean }> = [
  // matchLabels
  { name: 'labels all equal', selector: { matchLabels: { role: 'web', site: 'fra' } }, labels: { role: 'web', site: 'fra', x: 'y' }, facts: undefined, want: true },
  { name: 'labels one differs', selector: { matchLabels: { role: 'web', site: 'fra' } }, labels: { role: 'web', site: 'ams' }, facts: undefined, want: false },
  { name: 'labels one missing', selector: { matchLabels: { role: 'web', site: 'fra' } }, labels: { role: 'web' }, facts: undefined, want: false },
  { name: 'labels from the prototype are not labels', selector: { matchLabels: { constructor: 'x' } }, labels: {}, facts: undefined, want: false },

  // In
  { name: 'In scalar hit', selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['rhel', 'debian'] }] }, facts: debianWeb, want: true },
  { name: 'In scalar miss', selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['rhel'] }] }, facts: debianWeb, want: false },
  { name: 'In array: any element', selector: { matchFacts: [{ key: 'network.macs', operator: 'In', values: ['52:54:00:00:00:02'] }] }, facts: debianWeb, want: true },
  { name: 'In array: no element', selector: { matchFacts: [{ key: 'network.macs', operator: 'In', values: ['aa:bb:cc:dd:ee:ff'] }] }, facts: debianWeb, want: false },
  { name: 'In empty array', selector: { matchFacts: [{ key: 'network.ips', operator: 'In', values: ['10.0.0.1'] }] }, facts: debianWeb, want: false },
  { name: 'In number via String()', selector: { matchFacts: [{ key: 'cpu.count', operator: 'In', values: ['4'] }] }, facts: debianWeb, want: true },
  { name: 'In number is not numeric compare', selector: { matchFacts: [{ key: 'cpu.count', operator: 'In', values: ['4.0'] }] }, facts: debianWeb, want: false },
  { name: 'In boolean via String()', selector: { matchFacts: [{ key: 'virtual', operator: 'In', values: ['true'] }] }, facts: debianWeb, want: true },
  { name: 'In object never equals', selector: { matchFacts: [{ key: 'os', operator: 'In', values: ['[object Object]'] }] }, facts: debianWeb, want: false },
  { name: 'In missing fact', selector: { matchFacts: [{ key: 'os.arch', operator: 'In', values: ['x86_64'] }] }, facts: debianWeb, want: false },
  { name: 'In through an array of objects', selector: { matchFacts: [{ key: 'disks.mount', operator: 'In', values: ['/data'] }] }, facts: debianWeb, want: true },
  { name: 'In never-reported device', selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] }, facts: undefined, want: false },

  // NotIn
  { name: 'NotIn scalar not listed', selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['windows'] }] }, facts: debianWeb, want: true },
  { name: 'NotIn scalar listed', selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['debian'] }] }, facts: debianWeb, want: false },
  { name: 'NotIn array with one listed element', selector: { matchFacts: [{ key: 'network.macs', operator: 'NotIn', values: ['52:54:00:00:00:01'] }] }, facts: debianWeb, want: false },
  { name: 'NotIn array with none listed', selector: { matchFacts: [{ key: 'network.macs', operator: 'NotIn', values: ['aa:bb:cc:dd:ee:ff'] }] }, facts: debianWeb, want: true },
  { name: 'NotIn missing fact matches', selector: { matchFacts: [{ key: 'os.arch', operator: 'NotIn', values: ['arm64'] }] }, facts: debianWeb, want: true },
  { name: 'NotIn null fact matches', selector: { matchFacts: [{ key: 'rack', operator: 'NotIn', values: ['a1'] }] }, facts: debianWeb, want: true },
  { name: 'NotIn never-reported device matches', selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['windows'] }] }, facts: undefined, want: true },
  { name: 'NotIn number via String()', selector: { matchFacts: [{ key: 'cpu.count', operator: 'NotIn', values: ['4'] }] }, facts: debianWeb, want: false },

  // Exists / DoesNotExist
  { name: 'Exists present', selector: { matchFacts: [{ key: 'os.version', operator: 'Exists' }] }, facts: debianWeb, want: true },
  { name: 'Exists empty array is present', selector: { matchFacts: [{ key: 'network.ips', operator: 'Exists' }] }, facts: debianWeb, want: true },
  { name: 'Exists missing', selector: { matchFacts: [{ key: 'os.kernel', operator: 'Exists' }] }, facts: debianWeb, want: false },
  { name: 'Exists null is missing', selector: { matchFacts: [{ key: 'rack', operator: 'Exists' }] }, facts: debianWeb, want: false },
  { name: 'Exists path through a scalar', selector: { matchFacts: [{ key: 'hostname.length', operator: 'Exists' }] }, facts: debianWeb, want: false },
  { name: 'Exists projection finding nothing', selector: { matchFacts: [{ key: 'disks.label', operator: 'Exists' }] }, facts: debianWeb, want: false },
  { name: 'Exists never-reported device', selector: { matchFacts: [{ key: 'hostname', operator: 'Exists' }] }, facts: undefined, want: false },
  { name: 'DoesNotExist missing', selector: { matchFacts: [{ key: 'os.kernel', operator: 'DoesNotExist' }] }, facts: debianWeb, want: true },
  { name: 'DoesNotExist present', selector: { matchFacts: [{ key: 'os.family', operator: 'DoesNotExist' }] }, facts: debianWeb, want: false },
  { name: 'DoesNotExist never-reported device', selector: { matchFacts: [{ key: 'os.family', operator: 'DoesNotExist' }] }, facts: undefined, want: true },

  // AND
  { name: 'labels and facts both hold', selector: { matchLabels: { role: 'web' }, matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] }, labels: { role: 'web' }, facts: debianWeb, want: true },
  { name: 'labels hold, facts do not', selector: { matchLabels: { role: 'web' }, matchFacts: [{ key: 'os.family', operator: 'In', values: ['rhel'] }] }, labels: { role: 'web' }, facts: debianWeb, want: false },
  { name: 'facts hold, labels do not', selector: { matchLabels: { role: 'db' }, matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] }, labels: { role: 'web' }, facts: debianWeb, want: false },
  {
    name: 'every expression must hold',
    selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }, { key: 'os.kernel', operator: 'Exists' }] },
    facts: debianWeb,
    want: false,
  },

  // empty selector
  { name: 'empty selector matches nothing', selector: {}, labels: { role: 'web' }, facts: debianWeb, want: false },
  { name: 'empty parts match nothing', selector: { matchLabels: {}, matchFacts: [] }, labels: {}, facts: debianWeb, want: false },
];

for (const c of cases) {
  test(`matchesSelector: ${c.name}`, () => {
    assert.equal(matchesSelector(c.selector, c.labels ?? {}, c.facts), c.want);
  });
}

test('lookupFact follows dotted paths and projects over arrays', () => {
  const rows: Array<{ path: string; facts: Facts | undefined; want: unknown }> = [
    { path: 'os.family', facts: debianWeb, want: 'debian' },
    { path: 'cpu.count', facts: debianWeb, want: 4 },
    { path: 'network.macs', facts: debianWeb, want: ['52:54:00:00:00:01', '52:54:00:00:00:02'] },
    { path: 'disks.mount', facts: debianWeb, want: ['/', '/data'] },
    { path: 'os.missing', facts: debianWeb, want: undefined },
    { path: 'missing.deeper', facts: debianWeb, want: undefined },
    { path: 'rack', facts: debianWeb, want: undefined },
    { path: 'os.family', facts: undefined, want: undefined },
    { path: 'toString', facts: debianWeb, want: undefined },
  ];
  for (const row of rows) assert.deepEqual(lookupFact(row.facts, row.path), row.want, row.path);
});
