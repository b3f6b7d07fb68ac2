import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedResource } from '../../../schemas/protocol.ts';
import { differingFields, flattenFacts, pairResources } from './resources.ts';
import type { ChangeView, DesiredResourceView } from './wire.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const desired: DesiredResourceView[] = [
  { key: 'file//etc/app.conf', type: 'file', fingerprint: 'f1', ensure: 'present', path: '/etc/app.conf', sha256: A, mode: '0640' },
  { key: 'file//etc/motd', type: 'file', fingerprint: 'f2', ensure: 'present', path: '/etc/motd', sha256: B, mode: '0644' },
  { key: 'package/nginx', type: 'package', fingerprint: 'p', ensure: 'present', software: 'nginx', manager: 'apt', packageName: 'nginx', version: 'latest' },
];
const observed: ObservedResource[] = [
  { key: 'file//etc/app.conf', type: 'file', path: '/etc/app.conf', exists: true, sha256: B, mode: '0640' },
  { key: 'file//etc/motd', type: 'file', path: '/etc/motd', exists: true, sha256: B, mode: '0644' },
  { key: 'package/nginx', type: 'package', manager: 'apt', name: 'nginx', installed: true, version: '1.22.1' },
  { key: 'file//etc/old', type: 'file', path: '/etc/old', exists: true, sha256: A },
];
const changes: ChangeView[] = [
  { key: 'file//etc/app.conf', action: 'update', reason: 'content changed on the device', drift: true, reportOnly: true },
  { key: 'file//etc/motd', action: 'unchanged', reason: '', drift: false, reportOnly: false },
  { key: 'file//etc/old', action: 'delete', reason: 'no longer desired', drift: false, reportOnly: false },
];

test('pairResources: drift first, then pending changes, then the rest by key', () => {
  const rows = pairResources(desired, observed, changes);
  assert.deepEqual(rows.map((r) => [r.key, r.action, r.drift, r.reportOnly]), [
    ['file//etc/app.conf', 'update', true, true],
    ['file//etc/old', 'delete', false, false],
    ['file//etc/motd', 'unchanged', false, false],
    ['package/nginx', 'unchanged', false, false],
  ]);
  assert.deepEqual(rows[0]!.differs, ['sha256'], 'the drifted file shows which field differs');
  assert.equal(rows[1]!.desired, null, 'a resource only in inventory has no desired side');
  assert.deepEqual(rows[3]!.differs, [], 'unchanged rows are never marked');
});

test('differingFields', () => {
  const f = (pairs: Record<string, string>) => Object.entries(pairs).map(([name, value]) => ({ name, value }));
  const cases: Array<[Record<string, string>, Record<string, string> | null, string[]]> = [
    [{ sha256: 'a', mode: '0640' }, { sha256: 'b', mode: '0644' }, ['sha256', 'mode']],
    [{ ensure: 'present', sha256: 'a' }, { ensure: 'absent' }, ['ensure', 'sha256']],
    [{ version: 'latest' }, { version: '1.2' }, []],
    [{ version: '1.2.*' }, { version: '1.2.9' }, []],
    [{ version: '1.3.*' }, { version: '1.2.9' }, ['version']],
    [{ owner: 'root' }, {}, []],
    [{ sha256: 'a' }, null, []],
  ];
  for (const [d, o, out] of cases) assert.deepEqual(differingFields(f(d), o && f(o)), out, JSON.stringify([d, o]));
});

test('flattenFacts', () => {
  assert.deepEqual(flattenFacts({ os: { family: 'debian', version: '12' }, network: { ips: ['10.0.0.2', '::1'] }, arch: 'x64', none: null }), [
    { name: 'arch', value: 'x64' },
    { name: 'network.ips', value: '10.0.0.2, ::1' },
    { name: 'os.family', value: 'debian' },
    { name: 'os.version', value: '12' },
  ]);
});
