import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceInput, FleetModel } from '../model.ts';
import { compileFleet, createCompileContext, findConflicts } from './compile.ts';
import { groupsByDevice, resolveGroupMembers } from './groups.ts';
import { analyseFleetChange, compileFleetSince, diffRevisions, equalData, findConflictsSince } from './incremental.ts';
import { buildModel, device, factsFor, type ModelParts } from './test-builders.ts';

const REV0 = 'main@sha1:1111111111111111111111111111111111111111';
const REV1 = 'main@sha1:2222222222222222222222222222222222222222';

/** A fleet where every kind of dependency is present: label, fact and explicit groups; repo, inline and url files; scripts. */
const BASE: ModelParts = {
  revision: REV0,
  fleet: { drift: 'enforce', rollout: { maxParallel: 5 } },
  groups: {
    web: { selector: { matchLabels: { role: 'web' } } },
    db: { selector: { matchLabels: { role: 'db' } } },
    debian: { selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] } },
    pinned: { devices: ['db-1', 'ghost'] },
    ams: { selector: { matchLabels: { site: 'ams' } } },
  },
  software: {
    nginx: { packages: { apt: 'nginx', dnf: 'nginx' }, version: '1.24.*' },
    postgres: { packages: { apt: 'postgresql', dnf: 'postgresql-server' } },
    htop: { packages: { apt: 'htop' } },
  },
  files: {
    motd: { path: '/etc/motd', source: 'files/motd' },
    nginxConf: { path: '/etc/nginx/nginx.conf', content: 'worker_processes 4;\n', mode: '0644' },
    agentBin: { path: '/usr/local/bin/agent', url: 'https://example.invalid/agent', sha256: 'a'.repeat(64) },
    motdAlt: { path: '/etc/motd', content: 'other\n' },
  },
  scripts: {
    harden: { interpreter: 'sh', content: 'echo harden\n' },
    backup: { interpreter: 'sh', source: 'scripts/backup.sh', run: 'always' },
  },
  profiles: {
    base: { targets: ['web', 'db', 'pinned'], software: ['htop'], files: ['motd'], scripts: ['harden'] },
    web: { targets: ['web'], software: ['nginx'], files: ['nginxConf', 'agentBin'], drift: 'report' },
    db: { targets: ['db', 'pinned'], software: ['postgres'], scripts: ['backup'], rollout: { maxParallel: 1 } },
    debianTools: { targets: ['debian'], software: ['htop'] },
  },
  devices: { 'web-1': {}, 'web-2': {}, 'db-1': {}, 'db-2': {}, 'lab-1': {} },
  deviceLabels: {
    'web-1': { role: 'web', site: 'ams' },
    'web-2': { role: 'web', site: 'fra' },
    'db-1': { role: 'db', site: 'ams' },
    'db-2': { role: 'db', site: 'fra' },
  },
  repoFiles: { 'files/motd': 'Welcome\n', 'scripts/backup.sh': '#!/bin/sh\nbackup\n' },
};

const BASE_DEVICES: DeviceInput[] = [
  device('web-1', { labels: { role: 'web', site: 'ams' }, facts: factsFor('debian', 'apt') }),
  device('web-2', { labels: { role: 'web', site: 'fra' }, facts: factsFor('rhel', 'dnf') }),
  device('db-1', { labels: { role: 'db', site: 'ams' }, facts: factsFor('debian', 'apt') }),
  device('db-2', { labels: { role: 'db', site: 'fra' } }),
  device('lab-1', { labels: { role: 'lab' }, facts: factsFor('debian', 'apt') }),
  device('enrolled-1', { labels: { role: 'web' }, facts: factsFor('debian', 'apt'), declared: false }),
];

/**
 * `model` with the documents of `parts` replaced (null: removed) and every other document the very
 * same object, as the loader's ParseCache gives them for unchanged files.
 */
function edit(model: FleetModel, parts: Partial<Record<keyof ModelParts, unknown>>, revision = REV1): FleetModel {
  const built = buildModel({ ...(parts as ModelParts), revision });
  const next = { ...model, revision } as Record<string, unknown>;
  for (const kind of ['groups', 'devices', 'software', 'files', 'scripts', 'profiles', 'images'] as const) {
    const changes = (parts as Record<string, Record<string, unknown> | undefined>)[kind];
    if (changes === undefined) continue;
    const map = new Map(model[kind] as Map<string, unknown>);
    for (const [name, spec] of Object.entries(changes)) {
      if (spec === null) map.delete(name);
      else map.set(name, (built[kind] as Map<string, unknown>).get(name));
    }
    next[kind] = map;
  }
  if (parts.fleet !== undefined) next.fleet = built.fleet;
  if (parts.repoFiles !== undefined) next.repoFiles = new Map([...model.repoFiles, ...built.repoFiles]);
  return next as unknown as FleetModel;
}

function withLabels(d: DeviceInput, labels: Record<string, string>): DeviceInput {
  return { ...d, labels };
}

interface Row {
  name: string;
  model?: (m: FleetModel) => FleetModel;
  devices?: (d: DeviceInput[]) => DeviceInput[];
  /** At most these devices are checked again (the point of checking incrementally). */
  recompiledAtMost: string[];
}

const ROWS: Row[] = [
  { name: 'nothing but the revision changes', model: (m) => edit(m, {}), recompiledAtMost: [] },
  { name: 'a Device document changes (not its labels)', model: (m) => edit(m, { devices: { 'db-2': { macAddresses: ['52:54:00:00:00:02'] } } }), recompiledAtMost: [] },
  {
    name: 'a profile gains a file',
    model: (m) => edit(m, { profiles: { web: { ...BASE.profiles!.web!, files: ['nginxConf', 'agentBin', 'motd'] } } }),
    recompiledAtMost: ['enrolled-1', 'web-1', 'web-2'],
  },
  {
    name: 'a profile changes drift and rollout',
    model: (m) => edit(m, { profiles: { db: { ...BASE.profiles!.db!, drift: 'report', rollout: { maxParallel: 3 } } } }),
    recompiledAtMost: ['db-1', 'db-2'],
  },
  {
    name: 'a profile is retargeted',
    model: (m) => edit(m, { profiles: { debianTools: { targets: ['ams'], software: ['htop'] } } }),
    recompiledAtMost: ['db-1', 'enrolled-1', 'lab-1', 'web-1'],
  },
  {
    name: 'a profile is added, another removed',
    model: (m) => edit(m, { profiles: { amsOnly: { targets: ['ams'], files: ['motd'] }, debianTools: null } }),
    recompiledAtMost: ['db-1', 'enrolled-1', 'lab-1', 'web-1'],
  },
  {
    name: 'a software version changes',
    model: (m) => edit(m, { software: { postgres: { packages: { apt: 'postgresql', dnf: 'postgresql-server' }, version: '16.*' } } }),
    recompiledAtMost: ['db-1', 'db-2'],
  },
  {
    name: 'the bytes of a repository file change (same FileDeployment document)',
    model: (m) => edit(m, { repoFiles: { 'files/motd': 'Welcome back\n' } }),
    recompiledAtMost: ['db-1', 'db-2', 'enrolled-1', 'web-1', 'web-2'],
  },
  {
    name: 'the bytes of a script source change',
    model: (m) => edit(m, { repoFiles: { 'scripts/backup.sh': '#!/bin/sh\nbackup --all\n' } }),
    recompiledAtMost: ['db-1', 'db-2'],
  },
  {
    name: 'an inline script changes',
    model: (m) => edit(m, { scripts: { harden: { interpreter: 'sh', content: 'echo harder\n' } } }),
    recompiledAtMost: ['db-1', 'db-2', 'enrolled-1', 'web-1', 'web-2'],
  },
  {
    name: 'a profile takes a conflicting file (conflict resolved the same way)',
    model: (m) => edit(m, { profiles: { debianTools: { targets: ['debian'], software: ['htop'], files: ['motdAlt'] } } }),
    recompiledAtMost: ['db-1', 'enrolled-1', 'lab-1', 'web-1'],
  },
  {
    name: 'a group selector changes',
    model: (m) => edit(m, { groups: { web: { selector: { matchLabels: { role: 'web', site: 'ams' } } } } }),
    recompiledAtMost: ['enrolled-1', 'web-2'],
  },
  { name: 'a group gains an explicit device', model: (m) => edit(m, { groups: { pinned: { devices: ['db-1', 'ghost', 'lab-1'] } } }), recompiledAtMost: ['lab-1'] },
  { name: 'a group nobody targets is added', model: (m) => edit(m, { groups: { fra: { selector: { matchLabels: { site: 'fra' } } } } }), recompiledAtMost: ['db-2', 'web-2'] },
  {
    name: 'a group is removed with the profile targeting it',
    model: (m) => edit(m, { groups: { debian: null }, profiles: { debianTools: null } }),
    recompiledAtMost: ['db-1', 'enrolled-1', 'lab-1', 'web-1'],
  },
  {
    name: 'a device moves to another group (labels)',
    devices: (ds) => ds.map((d) => (d.name === 'web-2' ? withLabels(d, { role: 'db', site: 'fra' }) : d)),
    recompiledAtMost: ['web-2'],
  },
  {
    name: 'a device reports another package manager (facts)',
    devices: (ds) => ds.map((d) => (d.name === 'db-2' ? { ...d, facts: factsFor('debian', 'apt') } : d)),
    recompiledAtMost: ['db-2'],
  },
  {
    name: 'a device reports a fact a selector reads (it joins a group)',
    devices: (ds) => ds.map((d) => (d.name === 'web-2' ? { ...d, facts: factsFor('debian', 'dnf') } : d)),
    recompiledAtMost: ['web-2'],
  },
  {
    name: 'a device reports facts compile never reads',
    devices: (ds) => ds.map((d) => (d.facts ? { ...d, facts: { ...d.facts, hostname: 'renamed', memory: { totalBytes: 1 } } } : d)),
    recompiledAtMost: [],
  },
  {
    name: 'equal inputs in new objects are not changes',
    devices: (ds) => ds.map((d) => ({ ...d, labels: { ...d.labels }, facts: d.facts && structuredClone(d.facts) })),
    recompiledAtMost: [],
  },
  {
    name: 'a device enrolls, another one goes',
    devices: (ds) => [...ds.filter((d) => d.name !== 'web-1'), device('web-3', { labels: { role: 'web' }, facts: factsFor('debian', 'apt') })],
    recompiledAtMost: ['web-3'],
  },
  {
    name: 'the pinned device goes, the ghost it named enrolls',
    devices: (ds) => [...ds.filter((d) => d.name !== 'db-1'), device('ghost', { facts: factsFor('rhel', 'dnf') })],
    recompiledAtMost: ['ghost'],
  },
  {
    name: 'the Fleet document changes: everyone',
    model: (m) => edit(m, { fleet: { drift: 'report', rollout: { maxParallel: 5 } } }),
    recompiledAtMost: BASE_DEVICES.map((d) => d.name).sort(),
  },
  {
    name: 'a whole new model with equal documents (a cleared parse cache) recompiles nobody',
    model: () => buildModel({ ...BASE, revision: REV1 }),
    recompiledAtMost: [],
  },
];

for (const row of ROWS) {
  test(`findConflictsSince equals findConflicts: ${row.name}`, () => {
    const model0 = buildModel(BASE);
    const prev = findConflictsSince(undefined, model0, BASE_DEVICES);
    assert.deepStrictEqual(prev.conflicts, findConflicts(model0, BASE_DEVICES));

    const model1 = row.model ? row.model(model0) : edit(model0, {});
    const devices1 = row.devices ? row.devices(BASE_DEVICES) : BASE_DEVICES;
    const change = analyseFleetChange(prev, model1, devices1);
    for (const name of change.affected) assert.ok(row.recompiledAtMost.includes(name), `${name} was checked again`);

    const next = findConflictsSince(prev, model1, devices1);
    assert.deepStrictEqual(next.conflicts, findConflicts(model1, devices1));
    assert.deepStrictEqual(next.membership, resolveGroupMembers(model1, devices1));
    assert.deepStrictEqual(next.groupsOf, groupsByDevice(resolveGroupMembers(model1, devices1)));

    // And once more from there: the result is itself a valid `prev`, and nothing changed.
    assert.deepStrictEqual(analyseFleetChange(next, model1, devices1).affected, new Set());
    assert.deepStrictEqual(findConflictsSince(next, model1, devices1).conflicts, next.conflicts);
  });
}

/** Each device's fingerprint when every device is compiled. */
function allFingerprints(model: FleetModel, devices: readonly DeviceInput[]): Map<string, string> {
  return new Map([...compileFleet(model, devices)].map(([name, desired]) => [name, desired.fingerprint]));
}

for (const row of ROWS) {
  test(`compileFleetSince equals compiling every device: ${row.name}`, () => {
    const model0 = buildModel(BASE);
    const prev = compileFleetSince(undefined, model0, createCompileContext(model0), BASE_DEVICES);
    assert.deepStrictEqual(new Map([...prev.fingerprints].sort()), allFingerprints(model0, BASE_DEVICES));
    assert.equal(prev.compiled.size, BASE_DEVICES.length);

    const model1 = row.model ? row.model(model0) : edit(model0, {});
    const devices1 = row.devices ? row.devices(BASE_DEVICES) : BASE_DEVICES;
    const next = compileFleetSince(prev, model1, createCompileContext(model1), devices1);
    for (const name of next.compiled.keys()) assert.ok(row.recompiledAtMost.includes(name), `${name} was compiled again`);
    assert.deepStrictEqual(new Map([...next.fingerprints].sort()), allFingerprints(model1, devices1));
    for (const [name, desired] of next.compiled) assert.deepStrictEqual(desired, compileFleet(model1, devices1).get(name));

    // From there, nothing changed: nothing compiled, the same fingerprints.
    const again = compileFleetSince(next, model1, createCompileContext(model1), devices1);
    assert.equal(again.compiled.size, 0);
    assert.deepStrictEqual(again.fingerprints, next.fingerprints);
  });
}

test('diffRevisions counts what the revision changed for each device as it is now, not what the device changed', () => {
  const model0 = buildModel(BASE);
  const context0 = createCompileContext(model0);
  // The rollout diff of the revision that served model0 left this compile behind.
  const base = compileFleetSince(undefined, model0, context0, BASE_DEVICES);
  // Since then web-2 was relabelled a db server, and a commit changes nginx (the web profile's).
  const devices = BASE_DEVICES.map((d) => (d.name === 'web-2' ? withLabels(d, { role: 'db', site: 'fra' }) : d));
  const model1 = edit(model0, { software: { nginx: { packages: { apt: 'nginx', dnf: 'nginx' }, version: '1.26.*' } } });
  const diff = diffRevisions(base, { model: model0, context: context0, devices }, { model: model1, context: createCompileContext(model1), devices });
  // web-2 has no nginx at either revision now; comparing its old self (a web server) with its new
  // self would have put it in the nginx rollout.
  assert.deepEqual(diff.changed.sort(), ['enrolled-1', 'web-1']);
  // The same answer as compiling both revisions for every device.
  const before = allFingerprints(model0, devices);
  const after = allFingerprints(model1, devices);
  assert.deepEqual(diff.changed.sort(), [...after.keys()].filter((name) => before.get(name) !== after.get(name)).sort());
  // Only web-2 was compiled again at the previous revision, only the web devices at the new one.
  assert.deepEqual([...diff.before.compiled.keys()], ['web-2']);
  assert.deepEqual([...diff.after.compiled.keys()].sort(), ['enrolled-1', 'web-1']);
  // A base of another model (after a restart) is not used: everything is compiled.
  const cold = diffRevisions(undefined, { model: model0, context: context0, devices }, { model: model1, context: createCompileContext(model1), devices });
  assert.deepEqual(cold.changed.sort(), ['enrolled-1', 'web-1']);
  assert.equal(cold.before.compiled.size, devices.length);
});

test('findConflictsSince equals findConflicts as conflicts appear and go', () => {
  const devices = BASE_DEVICES.map((d) => ({ ...d, facts: undefined }));
  const model0 = buildModel(BASE);
  const first = findConflictsSince(undefined, model0, devices);
  assert.deepStrictEqual(first.conflicts, findConflicts(model0, devices));
  assert.deepStrictEqual(first.conflicts, []);

  // Two profiles put different content at /etc/motd on the debian devices.
  const model1 = edit(model0, { profiles: { debianTools: { targets: ['debian', 'ams'], software: ['htop'], files: ['motdAlt'] } } });
  const second = findConflictsSince(first, model1, devices);
  assert.deepStrictEqual(second.conflicts, findConflicts(model1, devices));
  assert.ok(second.conflicts.length > 0, 'the clash is found');

  // Unrelated change: the conflicts stay.
  const model2 = edit(model1, { software: { nginx: { packages: { apt: 'nginx' } } } }, 'main@sha1:3333333333333333333333333333333333333333');
  const third = findConflictsSince(second, model2, devices);
  assert.deepStrictEqual(third.conflicts, findConflicts(model2, devices));
  assert.deepStrictEqual(third.conflicts, second.conflicts);

  // A package clash: two Software documents giving apt "htop" different versions.
  const model3 = edit(model2, {
    software: { htop2: { packages: { apt: 'htop' }, version: '3.*' } },
    profiles: { web: { ...BASE.profiles!.web!, software: ['nginx', 'htop2'] } },
  });
  const fourth = findConflictsSince(third, model3, devices);
  assert.deepStrictEqual(fourth.conflicts, findConflicts(model3, devices));

  // Back to the start: none.
  const fifth = findConflictsSince(fourth, model0, devices);
  assert.deepStrictEqual(fifth.conflicts, []);
});

test('equalData is strict where deepStrictEqual is: -0, NaN, undefined fields, arrays vs objects', () => {
  const rows: [unknown, unknown, boolean][] = [
    [{ a: 1, b: [1, { c: null }] }, { a: 1, b: [1, { c: null }] }, true],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [{ a: undefined }, {}, false],
    [0, -0, false],
    [Number.NaN, Number.NaN, true],
    [[1], { 0: 1 }, false],
    ['1', 1, false],
    [null, undefined, false],
  ];
  for (const [a, b, equal] of rows) assert.equal(equalData(a, b), equal, JSON.stringify([a, b]));
});

test('findConflictsSince keeps membership exact when hundreds of devices change groups (whole-membership paths)', () => {
  const names = Array.from({ length: 300 }, (_, i) => `host-${String(i).padStart(3, '0')}`);
  const parts: ModelParts = {
    revision: REV0,
    groups: { even: { selector: { matchLabels: { parity: 'even' } } }, all: { selector: { matchLabels: { fleet: 'x' } } } },
    software: { htop: { packages: { apt: 'htop' } } },
    profiles: { tools: { targets: ['even'], software: ['htop'] } },
  };
  const devices = names.map((name, i) => device(name, { labels: { fleet: 'x', parity: i % 2 ? 'odd' : 'even' }, facts: factsFor('debian', 'apt') }));
  const model0 = buildModel(parts);
  const prev = findConflictsSince(undefined, model0, devices);
  // Every device changes parity (300 regrouped), then the selector flips (a changed group).
  const flipped = devices.map((d, i) => ({ ...d, labels: { fleet: 'x', parity: i % 2 ? 'even' : 'odd' } }));
  const model1 = edit(model0, {});
  const next = findConflictsSince(prev, model1, flipped);
  assert.deepStrictEqual(next.conflicts, findConflicts(model1, flipped));
  assert.deepStrictEqual(next.groupsOf, groupsByDevice(resolveGroupMembers(model0, flipped)));
  const model2 = edit(model0, { groups: { even: { selector: { matchLabels: { parity: 'odd' } } } } }, 'main@sha1:3333333333333333333333333333333333333333');
  const change = analyseFleetChange(next, model2, flipped);
  assert.equal(change.affected.size, 300);
  const again = findConflictsSince(next, model2, flipped);
  assert.deepStrictEqual(again.conflicts, findConflicts(model2, flipped));
  assert.deepStrictEqual(again.groupsOf, groupsByDevice(resolveGroupMembers(model2, flipped)));
});
