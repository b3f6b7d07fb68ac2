import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { device } from './builders.ts';
import { applyDeviceDelta, EMPTY_FILTER, filterChoices, filterDevices, filterFromQuery, filterToQuery, parseLabelFilter, sortDevices, summarizeDevices, toggleSort, type DeviceFilter, type DeviceSort } from './devices.ts';

const fleet = [
  device({ id: 'web-1', state: 'in_sync', groups: ['web'], profiles: ['web'], labels: { role: 'web', site: 'par' }, os: { name: 'Debian GNU/Linux', version: '12' }, lastSeenAt: '2024-05-01T10:00:00Z' }),
  device({ id: 'web-2', state: 'drifted', groups: ['web'], labels: { role: 'web', site: 'lon' }, online: false, lastSeenAt: '2024-05-01T09:00:00Z' }),
  device({ id: 'db-1', state: 'failed', groups: ['db'], labels: { role: 'db', site: 'par' }, os: { name: 'Ubuntu', version: '24.04' }, revision: 'main@sha1:abc1234' }),
  device({ id: 'kiosk-10', state: 'unknown', groups: [], labels: {}, online: false }),
  device({ id: 'kiosk-9', state: 'converging', groups: ['kiosk'], labels: { role: 'kiosk' }, lastSeenAt: '2024-05-01T11:00:00Z' }),
];

describe('summarizeDevices', () => {
  test('counts by state and online, with the converged share', () => {
    const s = summarizeDevices(fleet);
    assert.deepEqual(s.byState, { in_sync: 1, drifted: 1, converging: 1, failed: 1, unknown: 1, awaiting_enrollment: 0 });
    assert.equal(s.total, 5);
    assert.equal(s.online, 3);
    assert.equal(s.offline, 2);
    assert.equal(s.convergedPercent, 20);
  });
  test('an empty fleet is 0 %, not NaN', () => {
    assert.equal(summarizeDevices([]).convergedPercent, 0);
  });
});

describe('filterDevices', () => {
  const cases: Array<[string, Partial<DeviceFilter>, string[]]> = [
    ['no filter keeps all', {}, ['web-1', 'web-2', 'db-1', 'kiosk-10', 'kiosk-9']],
    ['by state', { state: 'drifted' }, ['web-2']],
    ['by group', { group: 'web' }, ['web-1', 'web-2']],
    ['by label key=value', { label: 'site=par' }, ['web-1', 'db-1']],
    ['by label key only', { label: 'role' }, ['web-1', 'web-2', 'db-1', 'kiosk-9']],
    ['label value must match exactly', { label: 'role=we' }, []],
    ['free text, case-insensitive', { text: 'UBUNTU' }, ['db-1']],
    ['every word must match', { text: 'web lon' }, ['web-2']],
    ['free text matches revisions', { text: 'abc1234' }, ['db-1']],
    ['offline only', { connection: 'offline' }, ['web-2', 'kiosk-10']],
    ['filters combine', { group: 'web', state: 'in_sync', text: 'debian' }, ['web-1']],
  ];
  for (const [name, filter, ids] of cases) {
    test(name, () => assert.deepEqual(filterDevices(fleet, { ...EMPTY_FILTER, ...filter }).map((d) => d.id), ids));
  }
  test('parseLabelFilter', () => {
    assert.deepEqual(parseLabelFilter(' site = par '), { key: 'site', value: 'par' });
    assert.deepEqual(parseLabelFilter('role'), { key: 'role' });
    assert.equal(parseLabelFilter('  '), undefined);
  });
});

describe('sortDevices', () => {
  const cases: Array<[DeviceSort, string[]]> = [
    [{ key: 'name', direction: 'asc' }, ['db-1', 'kiosk-9', 'kiosk-10', 'web-1', 'web-2']],
    [{ key: 'name', direction: 'desc' }, ['web-2', 'web-1', 'kiosk-10', 'kiosk-9', 'db-1']],
    [{ key: 'state', direction: 'asc' }, ['db-1', 'web-2', 'kiosk-9', 'kiosk-10', 'web-1']],
    [{ key: 'lastSeen', direction: 'asc' }, ['kiosk-9', 'web-1', 'web-2', 'db-1', 'kiosk-10']],
    [{ key: 'os', direction: 'asc' }, ['kiosk-9', 'kiosk-10', 'web-2', 'web-1', 'db-1']],
  ];
  for (const [sort, ids] of cases) {
    test(`${sort.key} ${sort.direction}`, () => assert.deepEqual(sortDevices(fleet, sort).map((d) => d.id), ids));
  }
  test('does not mutate its input', () => {
    const copy = fleet.slice();
    sortDevices(fleet, { key: 'name', direction: 'desc' });
    assert.deepEqual(fleet, copy);
  });
  test('toggleSort flips the same key and starts a new key ascending', () => {
    assert.deepEqual(toggleSort({ key: 'name', direction: 'asc' }, 'name'), { key: 'name', direction: 'desc' });
    assert.deepEqual(toggleSort({ key: 'name', direction: 'desc' }, 'state'), { key: 'state', direction: 'asc' });
  });
});

test('filterChoices lists groups and label pairs with counts', () => {
  const c = filterChoices(fleet);
  assert.deepEqual(c.groups, [['db', 1], ['kiosk', 1], ['web', 2]]);
  assert.deepEqual(c.labels.slice(0, 3), [['role=db', 1], ['role=kiosk', 1], ['role=web', 2]]);
});

test('applyDeviceDelta upserts and removes', () => {
  const rows = new Map(fleet.map((d) => [d.id, d]));
  assert.equal(applyDeviceDelta(rows, [device({ id: 'web-1', state: 'drifted' }), device({ id: 'new' })], ['db-1']), true);
  assert.equal(rows.get('web-1')!.state, 'drifted');
  assert.ok(rows.has('new'));
  assert.ok(!rows.has('db-1'));
  assert.equal(applyDeviceDelta(rows, [], ['missing']), false);
});

test('filters round-trip through the query string; junk is ignored', () => {
  const f: DeviceFilter = { state: 'drifted', connection: 'offline', group: 'web', label: 'site=par', text: 'nginx 12' };
  assert.deepEqual(filterFromQuery(filterToQuery(f)), f);
  assert.equal(filterToQuery(EMPTY_FILTER), '');
  assert.deepEqual(filterFromQuery('?state=bogus&connection=maybe'), EMPTY_FILTER);
});
