import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriftMode, FileDeploymentSpec, RolloutPolicy } from '../../../../schemas/kinds.ts';
import type { DesiredState, DeviceInput, FileResource, PackageResource, ScriptResource } from '../model.ts';
import { sha256Hex } from '../sha256.ts';
import { compileDevice, compileFleet, createCompileContext, findConflicts, membershipOf } from './compile.ts';
import { desiredStateFingerprint, fileFingerprint, packageFingerprint, scriptFingerprint } from './fingerprint.ts';
import { resolveDeviceGroups, resolveGroupMembers } from './groups.ts';
import { buildModel, device, factsFor, repoFile, type ModelParts } from './test-builders.ts';
import { planDevice } from '../plan/plan-device.ts';

const apt = factsFor('debian', 'apt');

/** Compiles one device against a model whose devices are just `devices`. */
function compileOne(parts: ModelParts, subject: DeviceInput, others: DeviceInput[] = []): DesiredState {
  const model = buildModel(parts);
  return compileFleet(model, [subject, ...others]).get(subject.name)!;
}

function resource<T extends { key: string }>(state: DesiredState, key: string): T {
  const found = state.resources.find((r) => r.key === key);
  assert.ok(found, `no resource ${key} in ${state.resources.map((r) => r.key).join(', ')}`);
  return found as unknown as T;
}

test('compile applies every default and produces the whole desired state', () => {
  const motd = 'Welcome\n';
  const body = '#!/bin/sh\necho hardened\n';
  const state = compileOne(
    {
      groups: { web: { devices: ['web-01'] } },
      software: { nginx: { packages: { apt: 'nginx', dnf: 'nginx' } } },
      files: { motd: { path: '/etc/motd', source: 'files/motd' } },
      scripts: { harden: { interpreter: 'sh', content: body } },
      profiles: { base: { targets: ['web'], software: ['nginx'], files: ['motd'], scripts: ['harden'] } },
      repoFiles: { 'files/motd': motd },
    },
    device('web-01', { facts: apt }),
  );

  const source = [{ profile: 'base', groups: ['web'] }];
  const expected: DesiredState = {
    device: 'web-01',
    revision: 'main@sha1:0000000000000000000000000000000000000000',
    groups: ['web'],
    profiles: [{ name: 'base', drift: 'enforce', rollout: {} }],
    resources: [
      {
        type: 'file',
        key: 'file//etc/motd',
        fingerprint: fileFingerprint({ path: '/etc/motd', sha256: sha256Hex(motd), mode: undefined, owner: undefined, group: undefined, ensure: 'present' }),
        ensure: 'present',
        prune: true,
        drift: 'enforce',
        sources: source,
        name: 'motd',
        path: '/etc/motd',
        sha256: sha256Hex(motd),
        size: 8,
        origin: { kind: 'repo', path: 'files/motd' },
        mode: undefined,
        owner: undefined,
        group: undefined,
      },
      {
        type: 'package',
        key: 'package/nginx',
        fingerprint: packageFingerprint({ manager: 'apt', packageName: 'nginx', version: 'any', ensure: 'present' }),
        ensure: 'present',
        prune: false,
        drift: 'enforce',
        sources: source,
        software: 'nginx',
        manager: 'apt',
        packageName: 'nginx',
        version: 'any',
      },
      {
        type: 'script',
        key: 'script/harden',
        fingerprint: scriptFingerprint({
          sha256: sha256Hex(body),
          interpreter: 'sh',
          run: 'onChange',
          check: undefined,
          timeoutSeconds: 300,
          successExitCodes: [0],
          env: {},
        }),
        ensure: 'present',
        prune: false,
        drift: 'enforce',
        sources: source,
        name: 'harden',
        interpreter: 'sh',
        sha256: sha256Hex(body),
        origin: { kind: 'inline' },
        run: 'onChange',
        check: undefined,
        timeoutSeconds: 300,
        successExitCodes: [0],
        env: {},
        order: 0,
      },
    ],
    issues: [],
    fingerprint: '',
  };
  expected.fingerprint = desiredStateFingerprint(expected.resources);
  assert.deepEqual(state, expected);
});

test('compile resolves each file source and ensure', () => {
  const rows: Array<{ name: string; spec: FileDeploymentSpec; sha256: string | undefined; size: number | undefined; origin: FileResource['origin'] }> = [
    { name: 'repo file', spec: { path: '/a', source: 'files/a' }, sha256: sha256Hex('from repo'), size: 9, origin: { kind: 'repo', path: 'files/a' } },
    { name: 'inline content, hashed as UTF-8', spec: { path: '/a', content: 'héllo' }, sha256: sha256Hex('héllo'), size: 6, origin: { kind: 'inline' } },
    { name: 'url with its sha256', spec: { path: '/a', url: 'https://x/a', sha256: 'ab'.repeat(32) }, sha256: 'ab'.repeat(32), size: undefined, origin: { kind: 'url', url: 'https://x/a' } },
    { name: 'absent with a source', spec: { path: '/a', source: 'files/a', ensure: 'absent' }, sha256: undefined, size: undefined, origin: { kind: 'repo', path: 'files/a' } },
    { name: 'absent without a source', spec: { path: '/a', ensure: 'absent' }, sha256: undefined, size: undefined, origin: { kind: 'inline' } },
  ];
  for (const row of rows) {
    const state = compileOne(
      {
        groups: { all: { devices: ['d'] } },
        files: { a: row.spec },
        profiles: { p: { targets: ['all'], files: ['a'] } },
        repoFiles: { 'files/a': 'from repo' },
      },
      device('d', { facts: apt }),
    );
    const file = resource<FileResource>(state, 'file//a');
    assert.deepEqual({ sha256: file.sha256, size: file.size, origin: file.origin, ensure: file.ensure }, {
      sha256: row.sha256,
      size: row.size,
      origin: row.origin,
      ensure: row.spec.ensure ?? 'present',
    }, row.name);
    assert.deepEqual(state.issues, [], row.name);
  }
});

test('compile leaves out a file or script whose repository file is missing, with an issue', () => {
  const state = compileOne(
    {
      groups: { all: { devices: ['d'] } },
      files: { a: { path: '/a', source: 'files/gone' } },
      scripts: { s: { interpreter: 'sh', source: 'scripts/gone.sh' } },
      profiles: { p: { targets: ['all'], files: ['a'], scripts: ['s'] } },
    },
    device('d', { facts: apt }),
  );
  assert.deepEqual(state.resources, []);
  assert.deepEqual(state.issues.map((i) => [i.code, i.subject]), [
    ['source.missing', 'file//a'],
    ['source.missing', 'script/s'],
  ]);
});

test('compile merges rollout policies shallowly, profile over fleet', () => {
  const rows: Array<{ name: string; fleet: RolloutPolicy | undefined; profile: RolloutPolicy | undefined; want: RolloutPolicy }> = [
    { name: 'neither', fleet: undefined, profile: undefined, want: {} },
    { name: 'fleet only', fleet: { maxParallel: 5, retries: 2 }, profile: undefined, want: { maxParallel: 5, retries: 2 } },
    { name: 'profile only', fleet: undefined, profile: { maxParallel: '10%' }, want: { maxParallel: '10%' } },
    {
      name: 'profile fields replace fleet fields, others kept',
      fleet: { maxParallel: 5, retries: 2, waves: [{ size: 1 }, { size: 'rest' }] },
      profile: { maxParallel: '10%', waves: [{ size: '50%' }] },
      want: { maxParallel: '10%', retries: 2, waves: [{ size: '50%' }] },
    },
  ];
  for (const row of rows) {
    const state = compileOne(
      {
        fleet: row.fleet === undefined ? {} : { rollout: row.fleet },
        groups: { all: { devices: ['d'] } },
        profiles: { p: row.profile === undefined ? { targets: ['all'] } : { targets: ['all'], rollout: row.profile } },
      },
      device('d'),
    );
    assert.deepEqual(state.profiles, [{ name: 'p', drift: 'enforce', rollout: row.want }], row.name);
  }
});

test('compile takes drift from the profile, then the fleet, then enforce', () => {
  const rows: Array<{ fleet: DriftMode | undefined; profile: DriftMode | undefined; want: DriftMode }> = [
    { fleet: undefined, profile: undefined, want: 'enforce' },
    { fleet: 'report', profile: undefined, want: 'report' },
    { fleet: 'report', profile: 'enforce', want: 'enforce' },
    { fleet: undefined, profile: 'report', want: 'report' },
  ];
  for (const row of rows) {
    const state = compileOne(
      {
        fleet: row.fleet === undefined ? undefined : { drift: row.fleet },
        groups: { all: { devices: ['d'] } },
        files: { a: { path: '/a', content: 'x' } },
        profiles: { p: row.profile === undefined ? { targets: ['all'], files: ['a'] } : { targets: ['all'], files: ['a'], drift: row.profile } },
      },
      device('d'),
    );
    const label = `fleet ${row.fleet}, profile ${row.profile}`;
    assert.equal(state.profiles[0]!.drift, row.want, label);
    assert.equal(state.resources[0]!.drift, row.want, label);
  }
});

const softwareParts: ModelParts = {
  groups: { all: { selector: { matchFacts: [{ key: 'os.family', operator: 'NotIn', values: ['none'] }] } } },
  software: {
    nginx: { packages: { apt: 'nginx', dnf: 'nginx' }, version: '1.24.*' },
    curl: { packages: { apt: 'curl', dnf: 'curl', choco: 'curl' }, ensure: 'absent', prune: true },
  },
  profiles: { p: { targets: ['all'], software: ['nginx', 'curl'] } },
};

test('compile names packages for the device manager', () => {
  const state = compileOne(softwareParts, device('d', { facts: factsFor('rhel', 'dnf') }));
  assert.deepEqual(
    state.resources.map((r) => {
      const p = r as PackageResource;
      return [p.key, p.manager, p.packageName, p.version, p.ensure, p.prune];
    }),
    [
      ['package/curl', 'dnf', 'curl', 'any', 'absent', true],
      ['package/nginx', 'dnf', 'nginx', '1.24.*', 'present', false],
    ],
  );
  assert.deepEqual(state.issues, []);
});

test('compile keeps packages without a manager and reports the unknown manager once', () => {
  const state = compileOne(softwareParts, device('never-reported'));
  assert.deepEqual(
    state.resources.map((r) => [r.key, (r as PackageResource).manager, (r as PackageResource).packageName]),
    [
      ['package/curl', undefined, undefined],
      ['package/nginx', undefined, undefined],
    ],
  );
  assert.deepEqual(state.issues.map((i) => [i.code, i.subject]), [['package.manager-unknown', 'os.packageManager']]);
});

test('compile leaves out software the device manager has no package for', () => {
  const state = compileOne(softwareParts, device('win', { facts: factsFor('windows', 'choco') }));
  assert.deepEqual(state.resources.map((r) => r.key), ['package/curl']);
  assert.equal(state.issues.length, 1);
  const issue = state.issues[0]!;
  assert.equal(issue.code, 'package.unavailable');
  assert.equal(issue.subject, 'package/nginx');
  assert.match(issue.message, /nginx/);
  assert.match(issue.message, /choco/);
});

test('compile reports an unavailable package once when two profiles list it', () => {
  const state = compileOne(
    { ...softwareParts, profiles: { p: { targets: ['all'], software: ['nginx'] }, q: { targets: ['all'], software: ['nginx'] } } },
    device('win', { facts: factsFor('windows', 'choco') }),
  );
  assert.deepEqual(state.issues.map((i) => [i.code, i.subject]), [['package.unavailable', 'package/nginx']]);
});

test('compile orders scripts by profile name, then as listed, first occurrence winning', () => {
  const scripts = Object.fromEntries(['s1', 's2', 's3', 's4'].map((name) => [name, { interpreter: 'sh' as const, content: `echo ${name}` }]));
  const state = compileOne(
    {
      groups: { all: { devices: ['d'] } },
      scripts,
      profiles: {
        // Declared out of name order on purpose: order follows names, not declaration.
        zeta: { targets: ['all'], scripts: ['s4', 's1'] },
        alpha: { targets: ['all'], scripts: ['s2', 's1'] },
        mid: { targets: ['all'], scripts: ['s3', 's2'] },
      },
    },
    device('d'),
  );
  const orders = Object.fromEntries(state.resources.map((r) => [(r as ScriptResource).name, (r as ScriptResource).order]));
  assert.deepEqual(orders, { s2: 0, s1: 1, s3: 2, s4: 3 });
  assert.deepEqual(resource<ScriptResource>(state, 'script/s1').sources.map((s) => s.profile), ['alpha', 'zeta']);
});

test('compile resolves script settings', () => {
  const state = compileOne(
    {
      groups: { all: { devices: ['d'] } },
      scripts: {
        s: {
          interpreter: 'bash',
          source: 'scripts/s.sh',
          run: { every: '1h' },
          check: 'test -f /done',
          timeoutSeconds: 60,
          successExitCodes: [3, 0, 3],
          env: { B: '2', A: '1' },
        },
      },
      profiles: { p: { targets: ['all'], scripts: ['s'] } },
      repoFiles: { 'scripts/s.sh': 'echo from repo\n' },
    },
    device('d'),
  );
  const s = resource<ScriptResource>(state, 'script/s');
  assert.deepEqual(
    { sha256: s.sha256, origin: s.origin, run: s.run, check: s.check, timeoutSeconds: s.timeoutSeconds, successExitCodes: s.successExitCodes, env: s.env },
    {
      sha256: repoFile('scripts/s.sh', 'echo from repo\n').sha256,
      origin: { kind: 'repo', path: 'scripts/s.sh' },
      run: { every: '1h' },
      check: 'test -f /done',
      timeoutSeconds: 60,
      successExitCodes: [0, 3],
      env: { A: '1', B: '2' },
    },
  );
});

test('compile carries a declared onInterrupt onto the resource and its script.run step', () => {
  const state = compileOne(
    {
      groups: { all: { devices: ['d'] } },
      scripts: {
        migrate: { interpreter: 'sh', content: 'echo migrate', run: 'once', onInterrupt: 'rerun' },
        plain: { interpreter: 'sh', content: 'echo plain', run: 'once' },
      },
      profiles: { p: { targets: ['all'], scripts: ['migrate', 'plain'] } },
    },
    device('d'),
  );
  const migrate = resource<ScriptResource>(state, 'script/migrate');
  assert.equal(migrate.onInterrupt, 'rerun');
  assert.equal(resource<ScriptResource>(state, 'script/plain').onInterrupt, undefined, 'the default is not spelled out');
  const plan = planDevice(state, [], [], { now: new Date('2025-01-01T00:00:00Z') });
  const step = plan.steps.find((s) => s.key === 'script/migrate');
  assert.equal(step?.action === 'script.run' ? step.onInterrupt : 'missing', 'rerun');
  const plain = plan.steps.find((s) => s.key === 'script/plain');
  assert.ok(plain?.action === 'script.run' && !('onInterrupt' in plain));
});

test('compile merges one resource reached through two profiles, keeping the first profile drift', () => {
  const state = compileOne(
    {
      groups: {
        web: { selector: { matchLabels: { role: 'web' } } },
        fra: { selector: { matchLabels: { site: 'fra' } } },
        pinned: { devices: ['d'] },
        other: { devices: ['someone-else'] },
      },
      files: {
        motd: { path: '/etc/motd', content: 'hi\n', mode: '0644' },
        // Another document, same path, same everything: the same desired file.
        'motd-copy': { path: '/etc/motd', content: 'hi\n', mode: '0644' },
      },
      profiles: {
        a: { targets: ['web', 'other'], files: ['motd'], drift: 'report' },
        b: { targets: ['fra', 'pinned'], files: ['motd-copy', 'motd'] },
      },
    },
    device('d', { labels: { role: 'web', site: 'fra' } }),
    [device('someone-else')],
  );
  assert.deepEqual(state.groups, ['fra', 'pinned', 'web']);
  assert.equal(state.resources.length, 1);
  const file = resource<FileResource>(state, 'file//etc/motd');
  assert.equal(file.name, 'motd');
  assert.equal(file.drift, 'report');
  assert.deepEqual(file.sources, [
    { profile: 'a', groups: ['web'] },
    { profile: 'b', groups: ['fra', 'pinned'] },
  ]);
  assert.deepEqual(state.issues, []);
});

const conflictParts: ModelParts = {
  groups: {
    web: { selector: { matchLabels: { role: 'web' } } },
    edge: { selector: { matchLabels: { tier: 'edge' } } },
  },
  software: {
    nginx: { packages: { apt: 'nginx', dnf: 'nginx' }, version: '1.24.*' },
    'nginx-mainline': { packages: { apt: 'nginx', dnf: 'nginx-mainline' }, version: 'latest' },
    'nginx-same': { packages: { apt: 'nginx' }, version: '1.24.*' },
  },
  files: {
    conf: { path: '/etc/nginx/nginx.conf', content: 'worker_processes 1;' },
    'conf-edge': { path: '/etc/nginx/nginx.conf', content: 'worker_processes 8;' },
    'conf-mode': { path: '/etc/nginx/nginx.conf', content: 'worker_processes 1;', mode: '0600' },
  },
};

test('compile resolves conflicts by keeping the profile that sorts first', () => {
  const rows: Array<{
    name: string;
    profiles: ModelParts['profiles'];
    facts: DeviceInput['facts'];
    keys: string[];
    issues: Array<[string, string]>;
    kept?: [string, string];
  }> = [
    {
      name: 'same path, different content',
      profiles: { web: { targets: ['web'], files: ['conf'] }, edge: { targets: ['edge'], files: ['conf-edge'] } },
      facts: apt,
      keys: ['file//etc/nginx/nginx.conf'],
      issues: [['conflict.file', 'file//etc/nginx/nginx.conf']],
      kept: ['file//etc/nginx/nginx.conf', 'conf-edge'],
    },
    {
      name: 'same path, different mode',
      profiles: { a: { targets: ['web'], files: ['conf'] }, b: { targets: ['edge'], files: ['conf-mode'] } },
      facts: apt,
      keys: ['file//etc/nginx/nginx.conf'],
      issues: [['conflict.file', 'file//etc/nginx/nginx.conf']],
      kept: ['file//etc/nginx/nginx.conf', 'conf'],
    },
    {
      name: 'one profile listing two files for one path',
      profiles: { a: { targets: ['web'], files: ['conf-edge', 'conf'] } },
      facts: apt,
      keys: ['file//etc/nginx/nginx.conf'],
      issues: [['conflict.file', 'file//etc/nginx/nginx.conf']],
      kept: ['file//etc/nginx/nginx.conf', 'conf-edge'],
    },
    {
      name: 'same apt package from two Software documents, different versions',
      profiles: { web: { targets: ['web'], software: ['nginx'] }, edge: { targets: ['edge'], software: ['nginx-mainline'] } },
      facts: apt,
      keys: ['package/nginx-mainline'],
      issues: [['conflict.package', 'package/nginx']],
      kept: ['package/nginx-mainline', 'nginx-mainline'],
    },
    {
      name: 'the same documents on a dnf device name different packages: no conflict',
      profiles: { web: { targets: ['web'], software: ['nginx'] }, edge: { targets: ['edge'], software: ['nginx-mainline'] } },
      facts: factsFor('rhel', 'dnf'),
      keys: ['package/nginx', 'package/nginx-mainline'],
      issues: [],
    },
    {
      name: 'same apt package, same version and ensure: both kept',
      profiles: { web: { targets: ['web'], software: ['nginx'] }, edge: { targets: ['edge'], software: ['nginx-same'] } },
      facts: apt,
      keys: ['package/nginx', 'package/nginx-same'],
      issues: [],
    },
    {
      name: 'same Software from two profiles: merged',
      profiles: { web: { targets: ['web'], software: ['nginx'] }, edge: { targets: ['edge'], software: ['nginx'] } },
      facts: apt,
      keys: ['package/nginx'],
      issues: [],
    },
  ];
  for (const row of rows) {
    const state = compileOne(
      { ...conflictParts, profiles: row.profiles },
      device('d', { labels: { role: 'web', tier: 'edge' }, facts: row.facts }),
    );
    assert.deepEqual(state.resources.map((r) => r.key), row.keys, row.name);
    assert.deepEqual(state.issues.map((i) => [i.code, i.subject]), row.issues, row.name);
    if (row.kept) {
      const kept = resource<FileResource | PackageResource>(state, row.kept[0]);
      assert.equal(kept.type === 'file' ? kept.name : kept.software, row.kept[1], row.name);
    }
  }
});

test('findConflicts names both profiles, the left-out document and the device', () => {
  const model = buildModel({
    ...conflictParts,
    profiles: {
      web: { targets: ['web'], files: ['conf'], software: ['nginx'] },
      edge: { targets: ['edge'], files: ['conf-edge'], software: ['nginx-mainline'] },
    },
  });
  const devices = [
    device('web-only', { labels: { role: 'web' }, facts: apt }),
    device('both-apt', { labels: { role: 'web', tier: 'edge' }, facts: apt }),
    device('both-dnf', { labels: { role: 'web', tier: 'edge' }, facts: factsFor('rhel', 'dnf') }),
  ];
  const conflicts = findConflicts(model, devices);
  assert.deepEqual(
    conflicts.map(({ message: _message, ...rest }) => rest),
    [
      {
        code: 'conflict.file',
        device: 'both-apt',
        profiles: ['edge', 'web'],
        documents: ['conf-edge', 'conf'],
        item: 'conf',
        key: 'file//etc/nginx/nginx.conf',
        subject: '/etc/nginx/nginx.conf',
      },
      {
        code: 'conflict.package',
        device: 'both-apt',
        profiles: ['edge', 'web'],
        documents: ['nginx-mainline', 'nginx'],
        item: 'nginx',
        key: 'package/nginx',
        subject: 'apt/nginx',
      },
      {
        code: 'conflict.file',
        device: 'both-dnf',
        profiles: ['edge', 'web'],
        documents: ['conf-edge', 'conf'],
        item: 'conf',
        key: 'file//etc/nginx/nginx.conf',
        subject: '/etc/nginx/nginx.conf',
      },
    ],
  );
  const state = compileFleet(model, devices).get('both-apt')!;
  assert.deepEqual(
    state.issues.map((i) => i.message),
    conflicts.filter((c) => c.device === 'both-apt').map((c) => c.message),
  );
});

test('findConflicts checks a device without a manager against every manager', () => {
  const model = buildModel({
    ...conflictParts,
    profiles: {
      web: { targets: ['web'], software: ['nginx'] },
      edge: { targets: ['edge'], software: ['nginx-mainline'] },
    },
  });
  const undeclaredManager = device('declared-only', { labels: { role: 'web', tier: 'edge' } });
  assert.deepEqual(
    findConflicts(model, [undeclaredManager]).map((c) => [c.code, c.subject, c.item]),
    [['conflict.package', 'apt/nginx', 'nginx']],
  );
  // Compiling it reports only the unknown manager: it cannot name packages yet.
  const state = compileFleet(model, [undeclaredManager]).get('declared-only')!;
  assert.deepEqual(state.issues.map((i) => i.code), ['package.manager-unknown']);
});

test('compileDevice agrees with compileFleet, with or without a shared context', () => {
  const model = buildModel({
    ...conflictParts,
    profiles: {
      web: { targets: ['web'], files: ['conf'], software: ['nginx'] },
      edge: { targets: ['edge'], files: ['conf-edge'], software: ['nginx-mainline'] },
    },
  });
  const devices = [
    device('a', { labels: { role: 'web' }, facts: apt }),
    device('b', { labels: { role: 'web', tier: 'edge' }, facts: apt }),
    device('c', { labels: {}, facts: apt }),
  ];
  const fleet = compileFleet(model, devices);
  const membership = resolveGroupMembers(model, devices);
  const context = createCompileContext(model);
  for (const d of devices) {
    assert.deepEqual(compileDevice(model, d, membership), fleet.get(d.name), d.name);
    assert.deepEqual(compileDevice(model, d, membership, context), fleet.get(d.name), `${d.name} with context`);
  }
  assert.deepEqual(fleet.get('c'), {
    device: 'c',
    revision: model.revision,
    groups: [],
    profiles: [],
    resources: [],
    issues: [],
    fingerprint: desiredStateFingerprint([]),
  });
  assert.throws(() => compileDevice(buildModel(), devices[0]!, membership, context));
  // One device alone, without the fleet's membership.
  for (const d of devices) {
    const alone = compileDevice(model, d, membershipOf(d.name, resolveDeviceGroups(model, d)), context);
    assert.deepEqual(alone, fleet.get(d.name), `${d.name} alone`);
  }
});

test('the state fingerprint changes with desired state, not with provenance', () => {
  const parts: ModelParts = {
    groups: { g1: { devices: ['d'] }, g2: { devices: ['d'] } },
    files: { a: { path: '/a', content: 'x' }, b: { path: '/a', content: 'y' } },
    profiles: { p: { targets: ['g1'], files: ['a'] } },
  };
  const base = compileOne(parts, device('d')).fingerprint;
  const viaOtherGroup = compileOne({ ...parts, profiles: { p: { targets: ['g2'], files: ['a'] } } }, device('d')).fingerprint;
  const viaOtherProfile = compileOne({ ...parts, profiles: { q: { targets: ['g1'], files: ['a'] } } }, device('d')).fingerprint;
  const otherContent = compileOne({ ...parts, profiles: { p: { targets: ['g1'], files: ['b'] } } }, device('d')).fingerprint;
  const otherDrift = compileOne({ ...parts, profiles: { p: { targets: ['g1'], files: ['a'], drift: 'report' } } }, device('d')).fingerprint;
  assert.equal(viaOtherGroup, base);
  assert.equal(viaOtherProfile, base);
  assert.notEqual(otherContent, base);
  assert.notEqual(otherDrift, base);
});

test('compileFleet output does not depend on the order of devices or documents', () => {
  const parts: ModelParts = {
    fleet: { drift: 'report', rollout: { maxParallel: 2 } },
    groups: {
      web: { selector: { matchLabels: { role: 'web' } } },
      debian: { selector: { matchFacts: [{ key: 'os.family', operator: 'In', values: ['debian'] }] } },
      edge: { selector: { matchLabels: { tier: 'edge' } }, devices: ['db-1'] },
      pinned: { devices: ['db-1', 'web-2'] },
    },
    software: conflictParts.software,
    files: { ...conflictParts.files, motd: { path: '/etc/motd', content: 'hi' } },
    scripts: {
      s1: { interpreter: 'sh', content: '1' },
      s2: { interpreter: 'sh', content: '2' },
    },
    profiles: {
      web: { targets: ['web', 'debian'], files: ['conf', 'motd'], software: ['nginx'], scripts: ['s2', 's1'], drift: 'enforce' },
      edge: { targets: ['edge'], files: ['conf-edge'], software: ['nginx-mainline'], scripts: ['s1'], rollout: { retries: 3 } },
      base: { targets: ['pinned', 'debian'], files: ['motd'], software: ['nginx-same'] },
    },
  };
  const devices = [
    device('web-1', { labels: { role: 'web' }, facts: apt }),
    device('web-2', { labels: { role: 'web', tier: 'edge' }, facts: apt }),
    device('db-1', { labels: { role: 'db' }, facts: factsFor('rhel', 'dnf') }),
    device('new-1', { labels: { tier: 'edge' }, declared: false, facts: apt }),
    device('bare-1', { labels: { role: 'web' } }),
  ];
  const reverse = <T>(record: Record<string, T> | undefined) => Object.fromEntries(Object.entries(record ?? {}).reverse());
  const shuffledParts: ModelParts = {
    ...parts,
    groups: reverse(parts.groups),
    software: reverse(parts.software),
    files: reverse(parts.files),
    scripts: reverse(parts.scripts),
    profiles: reverse(parts.profiles),
  };
  const shuffledDevices = [devices[3]!, devices[0]!, devices[4]!, devices[2]!, devices[1]!];

  const one = compileFleet(buildModel(parts), devices);
  const two = compileFleet(buildModel(shuffledParts), shuffledDevices);
  assert.deepEqual([...two.entries()], [...one.entries()]);
  assert.deepEqual([...one.keys()], ['bare-1', 'db-1', 'new-1', 'web-1', 'web-2']);
  assert.deepEqual(
    findConflicts(buildModel(shuffledParts), shuffledDevices),
    findConflicts(buildModel(parts), devices),
  );

  // Spot-check the shape so the comparison above is about something.
  const web2 = one.get('web-2')!;
  assert.deepEqual(web2.groups, ['debian', 'edge', 'pinned', 'web']);
  assert.deepEqual(web2.profiles.map((p) => [p.name, p.drift, p.rollout]), [
    ['base', 'report', { maxParallel: 2 }],
    ['edge', 'report', { maxParallel: 2, retries: 3 }],
    ['web', 'enforce', { maxParallel: 2 }],
  ]);
  const keys = web2.resources.map((r) => r.key);
  assert.deepEqual(keys, [...keys].sort());
  const codes = web2.issues.map((i) => `${i.code} ${i.subject}`);
  assert.deepEqual(codes, [...codes].sort());
  assert.ok(codes.length > 0);
});

test('devices with the same profiles through different groups keep their own sources', () => {
  const model = buildModel({
    groups: {
      fra: { selector: { matchLabels: { site: 'fra' } } },
      ams: { selector: { matchLabels: { site: 'ams' } } },
    },
    files: { motd: { path: '/etc/motd', content: 'hi' } },
    profiles: { base: { targets: ['fra', 'ams'], files: ['motd'] } },
  });
  const devices = [
    device('a-1', { labels: { site: 'ams' } }),
    device('f-1', { labels: { site: 'fra' } }),
    device('f-2', { labels: { site: 'fra' } }),
  ];
  const states = compileFleet(model, devices);
  const sourcesOf = (name: string) => states.get(name)!.resources[0]!.sources;
  assert.deepEqual(sourcesOf('a-1'), [{ profile: 'base', groups: ['ams'] }]);
  assert.deepEqual(sourcesOf('f-1'), [{ profile: 'base', groups: ['fra'] }]);
  assert.deepEqual(sourcesOf('f-2'), [{ profile: 'base', groups: ['fra'] }]);
  assert.equal(states.get('a-1')!.fingerprint, states.get('f-1')!.fingerprint);
});

test('compiled resources are read-only; each device has its own lists', () => {
  const model = buildModel({
    groups: { all: { selector: { matchLabels: { site: 'fra' } } } },
    files: { motd: { path: '/etc/motd', content: 'hi' } },
    scripts: { s: { interpreter: 'sh', content: 'true', env: { A: '1' } } },
    profiles: { base: { targets: ['all'], files: ['motd'], scripts: ['s'] } },
  });
  const states = compileFleet(model, [device('f-1', { labels: { site: 'fra' } }), device('f-2', { labels: { site: 'fra' } })]);
  const one = states.get('f-1')!;
  const two = states.get('f-2')!;
  const file = one.resources[0] as FileResource;
  assert.throws(() => {
    file.mode = '0777';
  }, TypeError);
  assert.throws(() => {
    file.sources.push({ profile: 'x', groups: [] });
  }, TypeError);
  assert.throws(() => {
    ((one.resources[1] as ScriptResource).env as Record<string, string>).A = '2';
  }, TypeError);
  // The lists themselves are the device's own: sorting or filtering one touches no other device.
  one.resources.reverse();
  one.groups.push('extra');
  assert.deepEqual(two.resources.map((r) => r.key), ['file//etc/motd', 'script/s']);
  assert.deepEqual(two.groups, ['all']);
  // Freezing copies never freezes the model's own documents.
  assert.equal(Object.isFrozen(model.scripts.get('s')!.doc.spec.env), false);
});
