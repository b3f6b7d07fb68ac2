import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../sha256.ts';
import {
  canonicalJson,
  desiredStateFingerprint,
  fileFingerprint,
  packageFingerprint,
  scriptFingerprint,
  type FileFingerprintInput,
  type ScriptFingerprintInput,
  type StateEntry,
} from './fingerprint.ts';

test('canonicalJson sorts keys at every depth and drops undefined fields', () => {
  const rows: Array<{ value: unknown; want: string }> = [
    { value: { b: 1, a: 2 }, want: '{"a":2,"b":1}' },
    { value: { z: { y: 1, x: [3, { d: 1, c: 2 }] }, a: null }, want: '{"a":null,"z":{"x":[3,{"c":2,"d":1}],"y":1}}' },
    { value: { a: undefined, b: 'x' }, want: '{"b":"x"}' },
    { value: [undefined, 1], want: '[null,1]' },
    { value: 'quote " and \\ and \n', want: '"quote \\" and \\\\ and \\n"' },
    { value: { 'é': 1, e: 2, E: 3 }, want: '{"E":3,"e":2,"é":1}' },
    { value: [Number.NaN, Infinity, -0, 1.5], want: '[null,null,0,1.5]' },
    { value: [true, false], want: '[true,false]' },
    { value: {}, want: '{}' },
  ];
  for (const row of rows) assert.equal(canonicalJson(row.value), row.want, JSON.stringify(row.want));
});

test('canonicalJson is the same for any key order', () => {
  const a = { path: '/etc/motd', mode: '0644', owner: 'root', nested: { one: 1, two: [2, 3] } };
  const b = { nested: { two: [2, 3], one: 1 }, owner: 'root', mode: '0644', path: '/etc/motd' };
  assert.equal(canonicalJson(a), canonicalJson(b));
});

test('canonicalJson refuses values JSON cannot carry', () => {
  for (const value of [1n, Symbol('s'), () => 1]) assert.throws(() => canonicalJson(value), TypeError);
});

const file: FileFingerprintInput = {
  path: '/etc/motd',
  sha256: sha256Hex('hello\n'),
  mode: '0644',
  owner: 'root',
  group: 'root',
  ensure: 'present',
};

test('fileFingerprint is the SHA-256 of the canonical record', () => {
  assert.equal(fileFingerprint(file), sha256Hex(canonicalJson(file)));
  assert.match(fileFingerprint(file), /^[0-9a-f]{64}$/);
});

test('fileFingerprint changes with each field and not with key order', () => {
  const base = fileFingerprint(file);
  const reordered: FileFingerprintInput = {
    ensure: file.ensure,
    group: file.group,
    owner: file.owner,
    mode: file.mode,
    sha256: file.sha256,
    path: file.path,
  };
  assert.equal(fileFingerprint(reordered), base);
  const changes: Array<{ name: string; change: Partial<FileFingerprintInput> }> = [
    { name: 'content', change: { sha256: sha256Hex('bye\n') } },
    { name: 'mode', change: { mode: '0600' } },
    { name: 'owner', change: { owner: 'www-data' } },
    { name: 'group', change: { group: 'adm' } },
    { name: 'unmanaged mode', change: { mode: undefined } },
    { name: 'path', change: { path: '/etc/issue' } },
    { name: 'ensure', change: { ensure: 'absent', sha256: undefined } },
  ];
  const seen = new Set([base]);
  for (const { name, change } of changes) {
    const fingerprint = fileFingerprint({ ...file, ...change });
    assert.ok(!seen.has(fingerprint), `${name} must change the fingerprint`);
    seen.add(fingerprint);
  }
});

test('scriptFingerprint covers onInterrupt only when it differs from the run policy\'s default', () => {
  // Scripts that do not declare it keep their fingerprints: no fleet-wide wave of jobs on upgrade.
  assert.equal(scriptFingerprint({ ...script, onInterrupt: 'fail' }), scriptFingerprint(script), 'onChange defaults to fail');
  assert.notEqual(scriptFingerprint({ ...script, onInterrupt: 'rerun' }), scriptFingerprint(script), 'declaring rerun makes a new job');
  const always = { ...script, run: 'always' as const };
  assert.equal(scriptFingerprint({ ...always, onInterrupt: 'rerun' }), scriptFingerprint(always), 'always defaults to rerun');
  assert.notEqual(scriptFingerprint({ ...always, onInterrupt: 'fail' }), scriptFingerprint(always));
});

test('packageFingerprint changes with manager, name, version and ensure', () => {
  const base = { manager: 'apt', packageName: 'nginx', version: '1.24.*', ensure: 'present' } as const;
  const variants = [
    base,
    { ...base, manager: 'dnf' },
    { ...base, manager: undefined, packageName: undefined },
    { ...base, packageName: 'nginx-full' },
    { ...base, version: 'latest' },
    { ...base, ensure: 'absent' },
  ] as const;
  const fingerprints = variants.map((v) => packageFingerprint(v));
  assert.equal(new Set(fingerprints).size, variants.length);
  assert.equal(packageFingerprint({ ensure: 'present', version: '1.24.*', packageName: 'nginx', manager: 'apt' }), fingerprints[0]);
});

test('packageFingerprint cannot confuse a colon in a name with one in a version', () => {
  const a = packageFingerprint({ manager: 'apt', packageName: 'libc6:amd64', version: '2.36', ensure: 'present' });
  const b = packageFingerprint({ manager: 'apt', packageName: 'libc6', version: 'amd64:2.36', ensure: 'present' });
  assert.notEqual(a, b);
});

const script: ScriptFingerprintInput = {
  sha256: sha256Hex('echo hi\n'),
  interpreter: 'bash',
  run: 'onChange',
  check: undefined,
  timeoutSeconds: 300,
  successExitCodes: [0],
  env: { B: '2', A: '1' },
};

test('scriptFingerprint changes with what the script runs and how', () => {
  const base = scriptFingerprint(script);
  assert.equal(scriptFingerprint({ ...script, env: { A: '1', B: '2' } }), base, 'env order');
  assert.equal(scriptFingerprint({ ...script, successExitCodes: [0, 0] }), base, 'duplicate exit codes');
  assert.equal(
    scriptFingerprint({ ...script, successExitCodes: [3, 0] }),
    scriptFingerprint({ ...script, successExitCodes: [0, 3] }),
    'exit codes are a set',
  );
  const changes: Array<{ name: string; change: Partial<ScriptFingerprintInput> }> = [
    { name: 'body', change: { sha256: sha256Hex('echo bye\n') } },
    { name: 'interpreter', change: { interpreter: 'sh' } },
    { name: 'run', change: { run: 'always' } },
    { name: 'run every', change: { run: { every: '1h' } } },
    { name: 'check', change: { check: 'test -f /done' } },
    { name: 'timeout', change: { timeoutSeconds: 60 } },
    { name: 'exit codes', change: { successExitCodes: [0, 3] } },
    { name: 'env value', change: { env: { A: '1', B: '3' } } },
  ];
  const seen = new Set([base]);
  for (const { name, change } of changes) {
    const fingerprint = scriptFingerprint({ ...script, ...change });
    assert.ok(!seen.has(fingerprint), `${name} must change the fingerprint`);
    seen.add(fingerprint);
  }
});

test('desiredStateFingerprint covers key, fingerprint, drift, prune and order, not input order', () => {
  const entries: StateEntry[] = [
    { key: 'file//etc/motd', fingerprint: 'f1', drift: 'enforce', prune: true },
    { key: 'package/nginx', fingerprint: 'p1', drift: 'enforce', prune: false },
    { key: 'script/harden', fingerprint: 's1', drift: 'report', prune: false, order: 0 },
  ];
  const base = desiredStateFingerprint(entries);
  assert.equal(desiredStateFingerprint([...entries].reverse()), base);
  assert.equal(desiredStateFingerprint([]), sha256Hex(''));
  // The documented recipe, spelled out: hash of the concatenated per-entry digests in key order.
  const concatenated = Buffer.concat(
    [...entries].map((e) => Buffer.from(sha256Hex(canonicalJson([e.key, e.fingerprint, e.drift, e.prune, e.order ?? null])), 'hex')),
  );
  assert.equal(base, sha256Hex(new Uint8Array(concatenated)));
  const changes: Array<{ name: string; at: number; change: Partial<StateEntry> }> = [
    { name: 'fingerprint', at: 0, change: { fingerprint: 'f2' } },
    { name: 'key', at: 1, change: { key: 'package/nginx-mainline' } },
    { name: 'drift', at: 1, change: { drift: 'report' } },
    { name: 'prune', at: 0, change: { prune: false } },
    { name: 'script order', at: 2, change: { order: 1 } },
  ];
  for (const { name, at, change } of changes) {
    const changed = entries.map((entry, i) => (i === at ? { ...entry, ...change } : entry));
    assert.notEqual(desiredStateFingerprint(changed), base, name);
  }
});
