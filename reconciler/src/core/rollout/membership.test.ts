// The worked examples of membership.ts, one row each, plus changedProfiles on real resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DesiredResource } from '../model.ts';
import { assignRollouts, changedProfiles, holders, owes, type CurrentRollout } from './membership.ts';
import type { RolloutDeviceStatus, RolloutStatus } from './schedule.ts';

// ---- builders ----

function file(path: string, fingerprint: string, ...profiles: string[]): DesiredResource {
  return {
    key: `file/${path}`,
    type: 'file',
    fingerprint,
    ensure: 'present',
    prune: true,
    drift: 'enforce',
    sources: profiles.map((profile) => ({ profile, groups: [] })),
    name: path,
    path,
    sha256: fingerprint,
    size: 1,
    origin: { kind: 'inline' },
    mode: undefined,
    owner: undefined,
    group: undefined,
  };
}

function rollout(id: string, profile: string, status: RolloutStatus, devices: Record<string, RolloutDeviceStatus>): CurrentRollout {
  return { id, profile, status, devices: Object.fromEntries(Object.entries(devices).map(([name, s]) => [name, { status: s }])) };
}

// ---- rule 1 ----

test('changedProfiles: added and updated resources count for their new sources, removed ones for their old', () => {
  const before = { resources: [file('/a', 'a1', 'web'), file('/b', 'b1', 'db'), file('/c', 'c1', 'ops'), file('/shared', 's1', 'web', 'db')] };
  assert.deepEqual(changedProfiles(before, before), []);
  assert.deepEqual(changedProfiles(before, { resources: [file('/a', 'a2', 'web'), file('/b', 'b1', 'db'), file('/c', 'c1', 'ops'), file('/shared', 's1', 'web', 'db')] }), ['web']);
  assert.deepEqual(changedProfiles(before, { resources: [file('/a', 'a1', 'web'), file('/b', 'b1', 'db'), file('/shared', 's1', 'web', 'db')] }), ['ops'], 'removed');
  assert.deepEqual(changedProfiles(before, { resources: [...before.resources, file('/z', 'z1', 'zz')] }), ['zz'], 'added');
  assert.deepEqual(
    changedProfiles(before, { resources: [file('/a', 'a1', 'web'), file('/b', 'b1', 'db'), file('/c', 'c1', 'ops'), file('/shared', 's2', 'web', 'db')] }),
    ['db', 'web'],
    'a resource two profiles share counts for both, sorted by name',
  );
  assert.deepEqual(changedProfiles({ resources: [] }, { resources: [file('/a', 'a1', 'web')] }), ['web'], 'a device joining a profile');
});

// ---- rule 2 ----

test('owes: a deciding rollout owes every device not succeeded; a finished one only its failed devices', () => {
  const statuses: RolloutDeviceStatus[] = ['waiting', 'running', 'succeeded', 'failed', 'retrying', 'offline'];
  const devices = Object.fromEntries(statuses.map((s) => [s, s]));
  const owed = (status: RolloutStatus) => statuses.filter((s) => owes(rollout('x', 'web', status, devices), s));
  for (const status of ['progressing', 'paused', 'halted'] as const) {
    assert.deepEqual(owed(status), ['waiting', 'running', 'failed', 'retrying', 'offline'], status);
  }
  for (const status of ['completed', 'partial', 'failed'] as const) assert.deepEqual(owed(status), ['failed'], status);
  assert.equal(owes(rollout('x', 'web', 'halted', {}), 'ghost'), false);
});

test('holders: the newest rollout listing a device holds it', () => {
  const old = rollout('old', 'web', 'completed', { a: 'failed', b: 'succeeded' });
  const young = rollout('young', 'db', 'progressing', { a: 'succeeded' });
  const map = holders([old, young]);
  assert.equal(map.get('a')?.id, 'young');
  assert.equal(map.get('b')?.id, 'old');
});

// ---- rules 3–5: the worked examples ----

interface Row {
  name: string;
  changed: Record<string, string[]>;
  current?: CurrentRollout[];
  live?: string[];
  want: Record<string, string[]>;
  superseded?: string[];
}

const rows: Row[] = [
  { name: 'a: changed [web], in no rollout → web', changed: { a: ['web'] }, want: { web: ['a'] } },
  { name: 'b: changed [db, web], in no rollout → db (first by name)', changed: { b: ['db', 'web'] }, want: { db: ['b'] } },
  {
    name: 'c: changed [web], waiting in halted X(web) → web; X superseded',
    changed: { c: ['web'] },
    current: [rollout('X', 'web', 'halted', { c: 'waiting', other: 'failed' })],
    live: ['c', 'other'],
    want: { web: ['c', 'other'] },
    superseded: ['X'],
  },
  {
    name: 'd: changed [db], waiting in halted X(web), no web change → stays in X',
    changed: { d: ['db'], n: ['db'] },
    current: [rollout('X', 'web', 'halted', { d: 'waiting' })],
    want: { db: ['n'] },
  },
  {
    name: 'e: as d, but another device changed web → carried into web; X superseded',
    changed: { e: ['db'], w: ['web'] },
    current: [rollout('X', 'web', 'halted', { e: 'waiting' })],
    want: { web: ['e', 'w'] },
    superseded: ['X'],
  },
  {
    name: 'f: unchanged, waiting in halted X(web), web changed → carried into web',
    changed: { w: ['web'] },
    current: [rollout('X', 'web', 'halted', { f: 'waiting', g: 'offline', h: 'running' })],
    want: { web: ['f', 'g', 'h', 'w'] },
    superseded: ['X'],
  },
  {
    name: 'g: changed [db], failed in completed X(web) → db; X stays current',
    changed: { g: ['db'] },
    current: [rollout('X', 'web', 'partial', { g: 'failed' })],
    want: { db: ['g'] },
  },
  {
    name: 'h: unchanged, failed in completed X(web), web changed → carried into web',
    changed: { w: ['web'] },
    current: [rollout('X', 'web', 'partial', { h: 'failed', s: 'succeeded', o: 'offline' })],
    want: { web: ['h', 'w'] },
    superseded: ['X'],
  },
  {
    name: 'i: unchanged, succeeded in X(web), web changed → in no new rollout',
    changed: { w: ['web'] },
    current: [rollout('X', 'web', 'progressing', { i: 'succeeded', r: 'retrying' })],
    want: { web: ['r', 'w'] },
    superseded: ['X'],
  },
  {
    name: 'j: waiting in X(web), deleted, web changed → in no new rollout (not live)',
    changed: { w: ['web'], gone: ['web'] },
    current: [rollout('X', 'web', 'halted', { j: 'waiting' })],
    live: ['w'],
    want: { web: ['w'] },
    superseded: ['X'],
  },
  {
    name: 'a device a newer rollout holds is not carried over from an older one',
    changed: { w: ['web'] },
    current: [rollout('X', 'web', 'partial', { k: 'failed' }), rollout('Y', 'db', 'completed', { k: 'succeeded' })],
    want: { web: ['w'] },
    superseded: ['X'],
  },
  {
    name: 'changed [db, web] and waiting in progressing X(web) → web (its holder profile), not db',
    changed: { m: ['db', 'web'] },
    current: [rollout('X', 'web', 'progressing', { m: 'waiting' })],
    want: { web: ['m'] },
    superseded: ['X'],
  },
  { name: 'nothing changed → no rollout, nothing superseded', changed: {}, current: [rollout('X', 'web', 'halted', { a: 'waiting' })], want: {} },
];

for (const row of rows) {
  test(`assignRollouts: ${row.name}`, () => {
    const current = row.current ?? [];
    const live = new Set(row.live ?? [...Object.keys(row.changed), ...current.flatMap((r) => Object.keys(r.devices))]);
    const result = assignRollouts(new Map(Object.entries(row.changed)), current, live);
    assert.deepEqual(Object.fromEntries(result.rollouts.map((r) => [r.profile, r.devices])), row.want);
    assert.deepEqual(result.superseded, row.superseded ?? []);
    // Every device lands in one new rollout at most.
    const all = result.rollouts.flatMap((r) => r.devices);
    assert.equal(new Set(all).size, all.length);
  });
}
