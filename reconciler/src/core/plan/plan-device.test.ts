import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedFile, ObservedPackage, ObservedResource, ObservedScript, Step } from '../../../../schemas/protocol.ts';
import type { DesiredResource, DesiredState, FileResource, PackageResource, ScriptResource } from '../model.ts';
import { desiredStateFingerprint, fileFingerprint, packageFingerprint, scriptFingerprint } from '../compile/fingerprint.ts';
import { sha256Hex, utf8Encode } from '../sha256.ts';
import { durationMs, planDevice, type AppliedResource, type Change, type ChangeAction, type DevicePlan } from './plan-device.ts';

// ---- builders ----

const NOW = new Date('2025-06-01T12:00:00.000Z');
const REVISION = 'main@sha1:1111111111111111111111111111111111111111';
const SOURCES = [{ profile: 'base', groups: ['web'] }];

type PackageOptions = Partial<Pick<PackageResource, 'ensure' | 'prune' | 'drift' | 'manager' | 'packageName' | 'version'>>;

/** A package resource as compile produces it for an apt device: prune false, version any. */
function pkg(software: string, options: PackageOptions = {}): PackageResource {
  const r: PackageResource = {
    type: 'package',
    key: `package/${software}`,
    fingerprint: '',
    ensure: 'present',
    prune: false,
    drift: 'enforce',
    sources: SOURCES,
    software,
    manager: 'apt',
    packageName: software,
    version: 'any',
    ...options,
  };
  r.fingerprint = packageFingerprint(r);
  return r;
}

type FileOptions = Partial<Pick<FileResource, 'ensure' | 'prune' | 'drift' | 'mode' | 'owner' | 'group'>>;

/** A file resource holding `content` (undefined for ensure: absent): prune true. */
function file(path: string, content: string | undefined, options: FileOptions = {}): FileResource {
  const r: FileResource = {
    type: 'file',
    key: `file/${path}`,
    fingerprint: '',
    ensure: 'present',
    prune: true,
    drift: 'enforce',
    sources: SOURCES,
    name: path.slice(path.lastIndexOf('/') + 1),
    path,
    sha256: content === undefined ? undefined : sha256Hex(content),
    size: content === undefined ? undefined : utf8Encode(content).length,
    origin: { kind: 'inline' },
    mode: undefined,
    owner: undefined,
    group: undefined,
    ...options,
  };
  r.fingerprint = fileFingerprint(r);
  return r;
}

type ScriptOptions = Partial<Pick<ScriptResource, 'drift' | 'run' | 'check' | 'env' | 'order' | 'successExitCodes'>>;

/** A script resource running `body` with sh: run onChange, timeout 300 s, exit code 0, order 0. */
function script(name: string, body: string, options: ScriptOptions = {}): ScriptResource {
  const r: ScriptResource = {
    type: 'script',
    key: `script/${name}`,
    fingerprint: '',
    ensure: 'present',
    prune: false,
    drift: 'enforce',
    sources: SOURCES,
    name,
    interpreter: 'sh',
    sha256: sha256Hex(body),
    origin: { kind: 'inline' },
    run: 'onChange',
    check: undefined,
    timeoutSeconds: 300,
    successExitCodes: [0],
    env: {},
    order: 0,
    ...options,
  };
  r.fingerprint = scriptFingerprint(r);
  return r;
}

function desiredState(resources: DesiredResource[]): DesiredState {
  return {
    device: 'web-01',
    revision: REVISION,
    groups: ['web'],
    profiles: [{ name: 'base', drift: 'enforce', rollout: {} }],
    resources: [...resources].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    issues: [],
    fingerprint: desiredStateFingerprint(resources),
  };
}

/** The inventory entry DeployX records after applying `resource`. */
function applied(resource: DesiredResource): AppliedResource {
  return { key: resource.key, fingerprint: resource.fingerprint, resource };
}

function installed(software: string, version?: string): ObservedPackage {
  return { key: `package/${software}`, type: 'package', manager: 'apt', name: software, installed: true, ...(version ? { version } : {}) };
}

function notInstalled(software: string): ObservedPackage {
  return { key: `package/${software}`, type: 'package', manager: 'apt', name: software, installed: false };
}

function fileOnDisk(path: string, content: string, attrs: Partial<Pick<ObservedFile, 'mode' | 'owner' | 'group'>> = {}): ObservedFile {
  return { key: `file/${path}`, type: 'file', path, exists: true, sha256: sha256Hex(content), size: utf8Encode(content).length, ...attrs };
}

function fileMissing(path: string): ObservedFile {
  return { key: `file/${path}`, type: 'file', path, exists: false };
}

function scriptRan(name: string, body: string | undefined, lastRunAt = minutesAgo(60)): ObservedScript {
  return { key: `script/${name}`, type: 'script', ...(body === undefined ? {} : { appliedSha256: sha256Hex(body) }), lastRunAt, lastExitCode: 0 };
}

function minutesAgo(minutes: number, from = NOW): string {
  return new Date(from.getTime() - minutes * 60_000).toISOString();
}

type ExpectedChange = Pick<Change, 'key' | 'action' | 'reason' | 'drift' | 'reportOnly'>;

function change(key: string, action: ChangeAction, reason: string, flags: { drift?: boolean; reportOnly?: boolean } = {}): ExpectedChange {
  return { key, action, reason, drift: flags.drift ?? false, reportOnly: flags.reportOnly ?? false };
}

// Steps spelled out field by field, so a test fails when a field goes missing or appears.

function installStep(name: string, version = 'any'): Step {
  return { action: 'package.install', key: `package/${name}`, manager: 'apt', name, version };
}

function removeStep(name: string): Step {
  return { action: 'package.remove', key: `package/${name}`, manager: 'apt', name };
}

function writeStep(path: string, content: string, attrs: { mode?: string; owner?: string; group?: string } = {}): Step {
  return { action: 'file.write', key: `file/${path}`, path, sha256: sha256Hex(content), size: utf8Encode(content).length, ...attrs };
}

function deleteStep(path: string): Step {
  return { action: 'file.delete', key: `file/${path}`, path };
}

function runStep(name: string, body: string, run: ScriptResource['run'] = 'onChange'): Step {
  return { action: 'script.run', key: `script/${name}`, interpreter: 'sh', sha256: sha256Hex(body), run, timeoutSeconds: 300, successExitCodes: [0] };
}

// ---- the table harness ----

interface Row {
  name: string;
  desired: DesiredResource[];
  observed?: ObservedResource[];
  applied?: AppliedResource[];
  now?: Date;
  changes: ExpectedChange[];
  steps?: Step[];
  forget?: string[];
  /** When a waiting schedule falls due; undefined unless given. */
  nextRunAt?: string;
}

function plan(row: Pick<Row, 'desired' | 'observed' | 'applied' | 'now'>): DevicePlan {
  return planDevice(desiredState(row.desired), row.observed ?? [], row.applied ?? [], { now: row.now ?? NOW });
}

/** Plans the row and asserts the whole observable plan. */
function assertPlan(row: Row): void {
  const result = plan(row);
  const steps = row.steps ?? [];
  assert.equal(result.device, 'web-01');
  assert.equal(result.revision, REVISION);
  assert.deepEqual(
    result.changes.map((c) => ({ key: c.key, action: c.action, reason: c.reason, drift: c.drift, reportOnly: c.reportOnly })),
    row.changes,
    'changes',
  );
  assert.deepEqual(result.steps, steps, 'steps');
  // Each step's resource: the desired one, or the inventory's for a removal.
  const resourceOf = (key: string): DesiredResource | undefined =>
    row.desired.find((r) => r.key === key) ?? row.applied?.find((a) => a.key === key)?.resource;
  assert.deepEqual(result.resources, Object.fromEntries(steps.map((s) => [s.key, resourceOf(s.key)])), 'resources');
  assert.deepEqual(result.forget, row.forget ?? [], 'forget');
  assert.equal(result.nextRunAt, row.nextRunAt, 'nextRunAt');
  // Every change carries the resource it is about.
  for (const c of result.changes) assert.deepEqual(c.resource, resourceOf(c.key), `resource of ${c.key}`);
}

function table(title: string, rows: Row[]): void {
  for (const row of rows) test(`${title}: ${row.name}`, () => assertPlan(row));
}

// ---- deciding each pair ----

const MOTD = 'Welcome\n';
const MOTD_EDITED = 'Welcome, edited by hand\n';
const MOTD_NEXT = 'Welcome to the next revision\n';

table('pair', [
  {
    name: 'a file never applied and not observed is created',
    desired: [file('/etc/motd', MOTD)],
    changes: [change('file//etc/motd', 'create', 'not on the device yet')],
    steps: [writeStep('/etc/motd', MOTD)],
  },
  {
    name: 'a package never applied and not observed is created',
    desired: [pkg('nginx', { version: '1.24.*' })],
    changes: [change('package/nginx', 'create', 'not on the device yet')],
    steps: [installStep('nginx', '1.24.*')],
  },
  {
    name: 'a file observed as desired is unchanged, applied or not',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileOnDisk('/etc/motd', MOTD)],
    changes: [change('file//etc/motd', 'unchanged', 'observed as desired')],
  },
  {
    name: 'a file applied at its fingerprint and not reported is unchanged',
    desired: [file('/etc/motd', MOTD)],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'unchanged', 'applied at this fingerprint')],
  },
  {
    name: 'a file whose content differs is updated (not drift: DeployX never applied it)',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED)],
    changes: [change('file//etc/motd', 'update', 'content differs')],
    steps: [writeStep('/etc/motd', MOTD)],
  },
  {
    name: 'a file reported missing and never applied is created',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileMissing('/etc/motd')],
    changes: [change('file//etc/motd', 'create', 'file missing')],
    steps: [writeStep('/etc/motd', MOTD)],
  },
  {
    name: 'a new revision of an applied file, not reported, is updated',
    desired: [file('/etc/motd', MOTD_NEXT)],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'update', 'desired state changed')],
    steps: [writeStep('/etc/motd', MOTD_NEXT)],
  },
  {
    name: 'a package reported not installed is created',
    desired: [pkg('nginx', { version: '1.24.0-1' })],
    observed: [notInstalled('nginx')],
    changes: [change('package/nginx', 'create', 'not installed')],
    steps: [installStep('nginx', '1.24.0-1')],
  },
  {
    name: 'a package applied before and reported not installed is updated',
    desired: [pkg('nginx', { version: '1.24.0-1' })],
    observed: [notInstalled('nginx')],
    applied: [applied(pkg('nginx', { version: '1.22.0-1' }))],
    changes: [change('package/nginx', 'update', 'not installed')],
    steps: [installStep('nginx', '1.24.0-1')],
  },
  {
    name: 'a package for a device without a known manager waits, no step',
    desired: [pkg('nginx', { manager: undefined })],
    changes: [change('package/nginx', 'unchanged', 'waiting for the device to report its package manager')],
  },
  {
    name: 'a package without a name for the device manager waits, no step, even when reported',
    desired: [pkg('nginx', { packageName: undefined })],
    observed: [notInstalled('nginx')],
    changes: [change('package/nginx', 'unchanged', 'no package for apt in software "nginx"')],
  },
]);

// ---- package version rules ----

/** [rule, installed version (undefined: reported installed without one), satisfied]. */
const VERSION_ROWS: [string, string | undefined, boolean][] = [
  ['1.24.0-1', '1.24.0-1', true],
  ['1.24.0-1', '1:1.24.0-1', true],
  ['1.24.0', '1.24.0-1.el9', true],
  ['1.24.0-1', '1.25.0-1', false],
  ['1.24.0-1', '1.24.0-10', false],
  ['1.24.0-1', undefined, false],
  ['1.24.*', '1.24.3-2', true],
  ['1.24.*', '1:1.24.3-2', true],
  ['1.24.*', '1.25.0-1', false],
  ['1.24.*', '1.240.1', false],
  ['1.24.*', undefined, false],
  ['any', '0.0.1', true],
  ['any', undefined, true],
  ['latest', '9.9.9', true],
  ['latest', undefined, true],
];

table(
  'version rule',
  VERSION_ROWS.map(([rule, version, satisfied]): Row => ({
    name: `${rule} vs installed ${version ?? '(no version)'} → ${satisfied ? 'unchanged' : 'update'}`,
    desired: [pkg('nginx', { version: rule })],
    observed: [installed('nginx', version)],
    changes: [
      satisfied
        ? change('package/nginx', 'unchanged', 'observed as desired')
        : change('package/nginx', 'update', `version ${version ?? 'unknown'} does not satisfy ${rule}`),
    ],
    steps: satisfied ? [] : [installStep('nginx', rule)],
  })),
);

// ---- ensure: absent ----

table('ensure absent', [
  {
    name: 'an installed package is removed',
    desired: [pkg('telnet', { ensure: 'absent' })],
    observed: [installed('telnet', '0.17-44')],
    changes: [change('package/telnet', 'delete', 'installed (0.17-44)')],
    steps: [removeStep('telnet')],
  },
  {
    name: 'an installed package is removed even when DeployX applied the absence (no drift flag)',
    desired: [pkg('telnet', { ensure: 'absent' })],
    observed: [installed('telnet')],
    applied: [applied(pkg('telnet', { ensure: 'absent' }))],
    changes: [change('package/telnet', 'delete', 'installed (unknown version)')],
    steps: [removeStep('telnet')],
  },
  {
    name: 'a package reported not installed is unchanged',
    desired: [pkg('telnet', { ensure: 'absent' })],
    observed: [notInstalled('telnet')],
    changes: [change('package/telnet', 'unchanged', 'observed as desired')],
  },
  {
    name: 'a package not reported whose absence DeployX applied is unchanged',
    desired: [pkg('telnet', { ensure: 'absent' })],
    applied: [applied(pkg('telnet', { ensure: 'absent' }))],
    changes: [change('package/telnet', 'unchanged', 'applied at this fingerprint')],
  },
  {
    name: 'a package not reported and not in the inventory is removed',
    desired: [pkg('telnet', { ensure: 'absent' })],
    changes: [change('package/telnet', 'delete', 'ensure: absent')],
    steps: [removeStep('telnet')],
  },
  {
    name: 'a package DeployX installed, now ensure: absent and not reported, is removed',
    desired: [pkg('telnet', { ensure: 'absent' })],
    applied: [applied(pkg('telnet'))],
    changes: [change('package/telnet', 'delete', 'ensure: absent')],
    steps: [removeStep('telnet')],
  },
  {
    name: 'an existing file is deleted',
    desired: [file('/etc/old.conf', undefined, { ensure: 'absent' })],
    observed: [fileOnDisk('/etc/old.conf', 'stale\n')],
    changes: [change('file//etc/old.conf', 'delete', 'file exists')],
    steps: [deleteStep('/etc/old.conf')],
  },
  {
    name: 'a missing file is unchanged',
    desired: [file('/etc/old.conf', undefined, { ensure: 'absent' })],
    observed: [fileMissing('/etc/old.conf')],
    changes: [change('file//etc/old.conf', 'unchanged', 'observed as desired')],
  },
]);

// ---- drift ----

table('drift', [
  {
    name: 'an applied file edited on the device is updated and flagged as drift',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED)],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'update', 'content differs', { drift: true })],
    steps: [writeStep('/etc/motd', MOTD)],
  },
  {
    name: 'under drift: report the edited file is reported only, no step',
    desired: [file('/etc/motd', MOTD, { drift: 'report' })],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED)],
    applied: [applied(file('/etc/motd', MOTD, { drift: 'report' }))],
    changes: [change('file//etc/motd', 'update', 'content differs', { drift: true, reportOnly: true })],
  },
  {
    name: 'under drift: report a new revision of the file still applies',
    desired: [file('/etc/motd', MOTD_NEXT, { drift: 'report' })],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED)],
    applied: [applied(file('/etc/motd', MOTD, { drift: 'report' }))],
    changes: [change('file//etc/motd', 'update', 'content differs')],
    steps: [writeStep('/etc/motd', MOTD_NEXT)],
  },
  {
    name: 'under drift: report a new revision applies over the previously applied content',
    desired: [file('/etc/motd', MOTD_NEXT, { drift: 'report' })],
    observed: [fileOnDisk('/etc/motd', MOTD)],
    applied: [applied(file('/etc/motd', MOTD, { drift: 'report' }))],
    changes: [change('file//etc/motd', 'update', 'content differs')],
    steps: [writeStep('/etc/motd', MOTD_NEXT)],
  },
  {
    name: 'an applied file deleted on the device is drift',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileMissing('/etc/motd')],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'update', 'file missing', { drift: true })],
    steps: [writeStep('/etc/motd', MOTD)],
  },
  {
    name: 'an applied package downgraded on the device is drift',
    desired: [pkg('nginx', { version: '1.24.*' })],
    observed: [installed('nginx', '1.22.1-9')],
    applied: [applied(pkg('nginx', { version: '1.24.*' }))],
    changes: [change('package/nginx', 'update', 'version 1.22.1-9 does not satisfy 1.24.*', { drift: true })],
    steps: [installStep('nginx', '1.24.*')],
  },
  {
    name: 'an applied package uninstalled on the device under drift: report is reported only',
    desired: [pkg('nginx', { drift: 'report' })],
    observed: [notInstalled('nginx')],
    applied: [applied(pkg('nginx', { drift: 'report' }))],
    changes: [change('package/nginx', 'update', 'not installed', { drift: true, reportOnly: true })],
  },
]);

// ---- file attributes ----

table('file attributes', [
  {
    name: 'a different mode is updated',
    desired: [file('/etc/motd', MOTD, { mode: '0644' })],
    observed: [fileOnDisk('/etc/motd', MOTD, { mode: '0600' })],
    changes: [change('file//etc/motd', 'update', 'mode 0600, want 0644')],
    steps: [writeStep('/etc/motd', MOTD, { mode: '0644' })],
  },
  {
    name: 'a different owner is updated',
    desired: [file('/etc/motd', MOTD, { owner: 'root', group: 'root' })],
    observed: [fileOnDisk('/etc/motd', MOTD, { owner: 'alice', group: 'root' })],
    changes: [change('file//etc/motd', 'update', 'owner alice, want root')],
    steps: [writeStep('/etc/motd', MOTD, { owner: 'root', group: 'root' })],
  },
  {
    name: 'a different group is updated',
    desired: [file('/etc/motd', MOTD, { mode: '0640', owner: 'root', group: 'adm' })],
    observed: [fileOnDisk('/etc/motd', MOTD, { mode: '0640', owner: 'root', group: 'staff' })],
    changes: [change('file//etc/motd', 'update', 'group staff, want adm')],
    steps: [writeStep('/etc/motd', MOTD, { mode: '0640', owner: 'root', group: 'adm' })],
  },
  {
    name: 'content is compared before attributes',
    desired: [file('/etc/motd', MOTD, { mode: '0644' })],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED, { mode: '0600' })],
    changes: [change('file//etc/motd', 'update', 'content differs')],
    steps: [writeStep('/etc/motd', MOTD, { mode: '0644' })],
  },
  {
    name: 'a mode the device does not report (Windows) is ignored',
    desired: [file('C:/ProgramData/app/app.ini', MOTD, { mode: '0644', owner: 'root' })],
    observed: [fileOnDisk('C:/ProgramData/app/app.ini', MOTD)],
    changes: [change('file/C:/ProgramData/app/app.ini', 'unchanged', 'observed as desired')],
  },
  {
    name: 'attributes the desired state leaves open are ignored',
    desired: [file('/etc/motd', MOTD)],
    observed: [fileOnDisk('/etc/motd', MOTD, { mode: '0600', owner: 'alice', group: 'staff' })],
    changes: [change('file//etc/motd', 'unchanged', 'observed as desired')],
  },
]);

// ---- prune: applied before, no longer desired ----

table('prune', [
  {
    name: 'a file (prune: true) still on the device is deleted',
    desired: [],
    observed: [fileOnDisk('/etc/motd', MOTD)],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'delete', 'removed from Git (prune)')],
    steps: [deleteStep('/etc/motd')],
  },
  {
    name: 'a file (prune: true) not reported is deleted',
    desired: [],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'delete', 'removed from Git (prune)')],
    steps: [deleteStep('/etc/motd')],
  },
  {
    name: 'a file already gone is forgotten',
    desired: [],
    observed: [fileMissing('/etc/motd')],
    applied: [applied(file('/etc/motd', MOTD))],
    changes: [change('file//etc/motd', 'forget', 'already gone')],
    forget: ['file//etc/motd'],
  },
  {
    name: 'a file with prune: false is forgotten and left in place',
    desired: [],
    observed: [fileOnDisk('/etc/motd', MOTD)],
    applied: [applied(file('/etc/motd', MOTD, { prune: false }))],
    changes: [change('file//etc/motd', 'forget', 'no longer desired; left in place (prune: false)')],
    forget: ['file//etc/motd'],
  },
  {
    name: 'a package (prune: false by default) is forgotten and left installed',
    desired: [],
    observed: [installed('nginx', '1.24.0-1')],
    applied: [applied(pkg('nginx'))],
    changes: [change('package/nginx', 'forget', 'no longer desired; left in place (prune: false)')],
    forget: ['package/nginx'],
  },
  {
    name: 'a package with prune: true is removed',
    desired: [],
    observed: [installed('nginx', '1.24.0-1')],
    applied: [applied(pkg('nginx', { prune: true }))],
    changes: [change('package/nginx', 'delete', 'removed from Git (prune)')],
    steps: [removeStep('nginx')],
  },
  {
    name: 'a package with prune: true already uninstalled is forgotten',
    desired: [],
    observed: [notInstalled('nginx')],
    applied: [applied(pkg('nginx', { prune: true }))],
    changes: [change('package/nginx', 'forget', 'already gone')],
    forget: ['package/nginx'],
  },
  {
    name: 'a script is forgotten',
    desired: [],
    observed: [scriptRan('harden', 'echo hardened\n')],
    applied: [applied(script('harden', 'echo hardened\n'))],
    changes: [change('script/harden', 'forget', 'no longer desired')],
    forget: ['script/harden'],
  },
  {
    name: 'an ensure: absent file is forgotten, not deleted again',
    desired: [],
    applied: [applied(file('/etc/old.conf', undefined, { ensure: 'absent' }))],
    changes: [change('file//etc/old.conf', 'forget', 'no longer desired (was ensure: absent)')],
    forget: ['file//etc/old.conf'],
  },
  {
    name: 'an ensure: absent package with prune: true is forgotten, even if reinstalled since',
    desired: [],
    observed: [installed('telnet', '0.17-44')],
    applied: [applied(pkg('telnet', { ensure: 'absent', prune: true }))],
    changes: [change('package/telnet', 'forget', 'no longer desired (was ensure: absent)')],
    forget: ['package/telnet'],
  },
  {
    name: 'a resource DeployX never applied is not touched',
    desired: [],
    observed: [fileOnDisk('/etc/motd', MOTD), installed('nginx', '1.24.0-1')],
    changes: [],
  },
]);

// ---- scripts ----

const HARDEN = '#!/bin/sh\necho hardened\n';
const HARDEN_NEXT = '#!/bin/sh\necho hardened harder\n';
const ROTATE = '#!/bin/sh\nlogrotate -f /etc/logrotate.conf\n';
const WARM = '#!/bin/sh\ncurl -fsS localhost/warm\n';
const EVERY_5M = { every: '5m' } as const;

table('script', [
  {
    name: 'once, never ran: runs',
    desired: [script('harden', HARDEN, { run: 'once' })],
    changes: [change('script/harden', 'create', 'not on the device yet')],
    steps: [runStep('harden', HARDEN, 'once')],
  },
  {
    name: 'once, ran before with another body: unchanged',
    desired: [script('harden', HARDEN_NEXT, { run: 'once' })],
    observed: [scriptRan('harden', HARDEN)],
    applied: [applied(script('harden', HARDEN, { run: 'once' }))],
    changes: [change('script/harden', 'unchanged', 'observed as desired')],
  },
  {
    name: 'once, ran before, not in the inventory: unchanged',
    desired: [script('harden', HARDEN, { run: 'once' })],
    observed: [scriptRan('harden', HARDEN)],
    changes: [change('script/harden', 'unchanged', 'observed as desired')],
  },
  {
    name: 'once, reported but never succeeded: runs',
    desired: [script('harden', HARDEN, { run: 'once' })],
    observed: [scriptRan('harden', undefined)],
    changes: [change('script/harden', 'create', 'never ran to success')],
    steps: [runStep('harden', HARDEN, 'once')],
  },
  {
    name: 'onChange, the body changed: runs',
    desired: [script('harden', HARDEN_NEXT)],
    observed: [scriptRan('harden', HARDEN)],
    applied: [applied(script('harden', HARDEN))],
    changes: [change('script/harden', 'update', 'script changed')],
    steps: [runStep('harden', HARDEN_NEXT)],
  },
  {
    name: 'onChange, this body ran: unchanged',
    desired: [script('harden', HARDEN)],
    observed: [scriptRan('harden', HARDEN)],
    applied: [applied(script('harden', HARDEN))],
    changes: [change('script/harden', 'unchanged', 'observed as desired')],
  },
  {
    name: 'onChange, applied and not reported: unchanged',
    desired: [script('harden', HARDEN)],
    applied: [applied(script('harden', HARDEN))],
    changes: [change('script/harden', 'unchanged', 'applied at this fingerprint')],
  },
  {
    name: 'onChange with env and check: the step carries both',
    desired: [script('harden', HARDEN, { env: { LEVEL: '2' }, check: 'test -f /etc/hardened' })],
    changes: [change('script/harden', 'create', 'not on the device yet')],
    steps: [{ ...runStep('harden', HARDEN), check: 'test -f /etc/hardened', env: { LEVEL: '2' } } as Step],
  },
  {
    name: 'always, applied and ran: never causes a job by itself',
    desired: [script('warm', WARM, { run: 'always' })],
    observed: [scriptRan('warm', WARM)],
    applied: [applied(script('warm', WARM, { run: 'always' }))],
    changes: [change('script/warm', 'unchanged', 'observed as desired')],
  },
  {
    name: 'always rides along with a job that runs anyway',
    desired: [file('/etc/motd', MOTD), script('warm', WARM, { run: 'always' })],
    observed: [scriptRan('warm', WARM)],
    applied: [applied(script('warm', WARM, { run: 'always' }))],
    changes: [change('file//etc/motd', 'create', 'not on the device yet'), change('script/warm', 'update', 'run: always, with this job')],
    steps: [writeStep('/etc/motd', MOTD), runStep('warm', WARM, 'always')],
  },
  {
    name: 'always does not ride along with drift that is only reported',
    desired: [file('/etc/motd', MOTD, { drift: 'report' }), script('warm', WARM, { run: 'always' })],
    observed: [fileOnDisk('/etc/motd', MOTD_EDITED), scriptRan('warm', WARM)],
    applied: [applied(file('/etc/motd', MOTD, { drift: 'report' })), applied(script('warm', WARM, { run: 'always' }))],
    changes: [
      change('file//etc/motd', 'update', 'content differs', { drift: true, reportOnly: true }),
      change('script/warm', 'unchanged', 'observed as desired'),
    ],
  },
  {
    name: 'always does not ride along with a forget',
    desired: [script('warm', WARM, { run: 'always' })],
    observed: [scriptRan('warm', WARM)],
    applied: [applied(script('warm', WARM, { run: 'always' })), applied(pkg('nginx'))],
    changes: [change('package/nginx', 'forget', 'no longer desired; left in place (prune: false)'), change('script/warm', 'unchanged', 'observed as desired')],
    forget: ['package/nginx'],
  },
  {
    name: 'every 5m, last run 10 minutes ago: due, runs',
    desired: [script('rotate', ROTATE, { run: EVERY_5M })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(10))],
    applied: [applied(script('rotate', ROTATE, { run: EVERY_5M }))],
    changes: [change('script/rotate', 'update', 'due (every 5m)')],
    steps: [runStep('rotate', ROTATE, EVERY_5M)],
  },
  {
    name: 'every 5m, last run exactly 5 minutes ago: due',
    desired: [script('rotate', ROTATE, { run: EVERY_5M })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(5))],
    applied: [applied(script('rotate', ROTATE, { run: EVERY_5M }))],
    changes: [change('script/rotate', 'update', 'due (every 5m)')],
    steps: [runStep('rotate', ROTATE, EVERY_5M)],
  },
  {
    name: 'every 5m, last run 4 minutes ago: not due, unchanged; planned again in a minute',
    desired: [script('rotate', ROTATE, { run: EVERY_5M })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(4))],
    applied: [applied(script('rotate', ROTATE, { run: EVERY_5M }))],
    changes: [change('script/rotate', 'unchanged', 'observed as desired')],
    nextRunAt: minutesAgo(-1),
  },
  {
    name: 'two schedules waiting: the earlier one wakes the device; one that is due runs now',
    desired: [
      script('rotate', ROTATE, { run: EVERY_5M }),
      script('warm', WARM, { run: { every: '1h' } }),
      script('harden', HARDEN, { run: { every: '2m' } }),
    ],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(2)), scriptRan('warm', WARM, minutesAgo(58)), scriptRan('harden', HARDEN, minutesAgo(3))],
    applied: [
      applied(script('rotate', ROTATE, { run: EVERY_5M })),
      applied(script('warm', WARM, { run: { every: '1h' } })),
      applied(script('harden', HARDEN, { run: { every: '2m' } })),
    ],
    changes: [
      change('script/harden', 'update', 'due (every 2m)'),
      change('script/rotate', 'unchanged', 'observed as desired'),
      change('script/warm', 'unchanged', 'observed as desired'),
    ],
    steps: [runStep('harden', HARDEN, { every: '2m' })],
    nextRunAt: minutesAgo(-2),
  },
  {
    name: 'every 5m under drift: report, due: a schedule is not drift, it runs',
    desired: [script('rotate', ROTATE, { run: EVERY_5M, drift: 'report' })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(10))],
    applied: [applied(script('rotate', ROTATE, { run: EVERY_5M, drift: 'report' }))],
    changes: [change('script/rotate', 'update', 'due (every 5m)')],
    steps: [runStep('rotate', ROTATE, EVERY_5M)],
  },
  {
    name: 'every 5m, the body changed: runs before it is due',
    desired: [script('rotate', HARDEN, { run: EVERY_5M })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(1))],
    applied: [applied(script('rotate', ROTATE, { run: EVERY_5M }))],
    changes: [change('script/rotate', 'update', 'script changed')],
    steps: [runStep('rotate', HARDEN, EVERY_5M)],
  },
  {
    name: 'every 1h30m: due at 90 minutes, with an always script riding along',
    desired: [script('rotate', ROTATE, { run: { every: '1h30m' } }), script('warm', WARM, { run: 'always', order: 1 })],
    observed: [scriptRan('rotate', ROTATE, minutesAgo(90)), scriptRan('warm', WARM)],
    applied: [applied(script('rotate', ROTATE, { run: { every: '1h30m' } })), applied(script('warm', WARM, { run: 'always', order: 1 }))],
    changes: [change('script/rotate', 'update', 'due (every 1h30m)'), change('script/warm', 'update', 'run: always, with this job')],
    steps: [runStep('rotate', ROTATE, { every: '1h30m' }), runStep('warm', WARM, 'always')],
  },
]);

// ---- step order ----

test('steps: package removals, package installs, files by key, scripts by order then key', () => {
  const desired = [
    pkg('apache2', { ensure: 'absent' }),
    pkg('zsh'),
    pkg('curl', { version: 'latest' }),
    file('/etc/motd', MOTD),
    file('/etc/issue', 'Debian\n'),
    script('zz-first', HARDEN, { order: 0 }),
    script('bb-second', ROTATE, { order: 1 }),
    script('aa-second', WARM, { order: 1 }),
  ];
  const result = plan({
    desired,
    observed: [installed('apache2', '2.4.62-1')],
    applied: [applied(file('/etc/legacy.conf', 'legacy\n')), applied(pkg('xterm', { prune: true }))],
  });
  assert.deepEqual(result.steps, [
    removeStep('apache2'),
    removeStep('xterm'),
    installStep('curl', 'latest'),
    installStep('zsh'),
    writeStep('/etc/issue', 'Debian\n'),
    deleteStep('/etc/legacy.conf'),
    writeStep('/etc/motd', MOTD),
    runStep('zz-first', HARDEN),
    runStep('aa-second', WARM),
    runStep('bb-second', ROTATE),
  ]);
  // Changes are in key order, whatever their kind.
  assert.deepEqual(
    result.changes.map((c) => c.key),
    [
      'file//etc/issue',
      'file//etc/legacy.conf',
      'file//etc/motd',
      'package/apache2',
      'package/curl',
      'package/xterm',
      'package/zsh',
      'script/aa-second',
      'script/bb-second',
      'script/zz-first',
    ],
  );
});

// ---- determinism ----

/** Deterministic Fisher–Yates with a small LCG, so a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('the same inputs in any order give the identical plan', () => {
  const desired = [
    pkg('apache2', { ensure: 'absent' }),
    pkg('nginx', { version: '1.24.*' }),
    pkg('curl'),
    file('/etc/motd', MOTD, { drift: 'report' }),
    file('/etc/issue', 'Debian\n', { mode: '0644' }),
    file('/etc/hosts', '127.0.0.1 localhost\n'),
    script('harden', HARDEN, { order: 0 }),
    script('rotate', ROTATE, { run: EVERY_5M, order: 1 }),
    script('warm', WARM, { run: 'always', order: 1 }),
    script('setup', WARM, { run: 'once', order: 2 }),
  ];
  const observed: ObservedResource[] = [
    installed('apache2', '2.4.62-1'),
    installed('nginx', '1.22.1-9'),
    fileOnDisk('/etc/motd', MOTD_EDITED),
    fileOnDisk('/etc/issue', 'Debian\n', { mode: '0600' }),
    fileOnDisk('/etc/legacy.conf', 'legacy\n'),
    fileMissing('/etc/gone.conf'),
    scriptRan('rotate', ROTATE, minutesAgo(30)),
    scriptRan('warm', WARM),
    scriptRan('setup', HARDEN),
  ];
  const inventory = [
    applied(file('/etc/motd', MOTD, { drift: 'report' })),
    applied(file('/etc/legacy.conf', 'legacy\n')),
    applied(file('/etc/gone.conf', 'gone\n')),
    applied(pkg('xterm')),
    applied(pkg('nginx', { version: '1.24.*' })),
    applied(script('old-script', HARDEN)),
    applied(script('rotate', ROTATE, { run: EVERY_5M, order: 1 })),
    applied(script('warm', WARM, { run: 'always', order: 1 })),
  ];
  const reference = plan({ desired, observed, applied: inventory });
  assert.ok(reference.steps.length > 5, 'the fixture exercises several step kinds');
  for (let seed = 1; seed <= 25; seed++) {
    const state = desiredState(desired);
    state.resources = shuffled(state.resources, seed);
    const again = planDevice(state, shuffled(observed, seed * 7), shuffled(inventory, seed * 13), { now: NOW });
    assert.deepStrictEqual(again, reference, `seed ${seed}`);
    assert.equal(JSON.stringify(again), JSON.stringify(reference), `seed ${seed}: serialized plan`);
  }
});

test('planning does not modify its inputs', () => {
  const desired = [file('/etc/motd', MOTD), script('warm', WARM, { run: 'always' })];
  const state = desiredState(desired);
  const observed = [scriptRan('warm', WARM)];
  const inventory = [applied(script('warm', WARM, { run: 'always' })), applied(file('/etc/legacy.conf', 'legacy\n'))];
  const before = structuredClone({ state, observed, inventory });
  planDevice(state, observed, inventory, { now: NOW });
  assert.deepStrictEqual({ state, observed, inventory }, before);
});

// ---- converged: an empty plan ----

const MIXED: DesiredResource[] = [
  pkg('nginx', { version: '1.24.*' }),
  pkg('curl', { version: 'latest' }),
  pkg('openssl', { version: '3.0.15-1' }),
  pkg('telnet', { ensure: 'absent' }),
  file('/etc/motd', MOTD, { mode: '0644', owner: 'root', group: 'root' }),
  file('/etc/old.conf', undefined, { ensure: 'absent' }),
  script('harden', HARDEN, { run: 'once', order: 0 }),
  script('tune', ROTATE, { order: 1 }),
  script('rotate', ROTATE, { run: EVERY_5M, order: 2 }),
  script('warm', WARM, { run: 'always', order: 3 }),
];

test('a converged device has an empty plan', () => {
  const result = plan({
    desired: MIXED,
    observed: [
      installed('nginx', '1.24.3-1'),
      installed('curl', '8.5.0-2'),
      installed('openssl', '1:3.0.15-1'),
      fileOnDisk('/etc/motd', MOTD, { mode: '0644', owner: 'root', group: 'root' }),
      fileMissing('/etc/old.conf'),
      scriptRan('harden', HARDEN),
      scriptRan('tune', ROTATE),
      scriptRan('rotate', ROTATE, minutesAgo(1)),
      scriptRan('warm', WARM),
    ],
    applied: MIXED.map(applied),
  });
  assert.deepEqual(result.steps, []);
  assert.deepEqual(result.resources, {});
  assert.deepEqual(result.forget, []);
  assert.deepEqual(
    result.changes.filter((c) => c.action !== 'unchanged').map((c) => c.key),
    [],
  );
});

/** What an agent reports for a resource after running its step, and the inventory DeployX keeps. */
function applySteps(result: DevicePlan, observed: Map<string, ObservedResource>, inventory: Map<string, AppliedResource>, desired: DesiredState, now: Date): void {
  const desiredKeys = new Set(desired.resources.map((r) => r.key));
  for (const step of result.steps) {
    switch (step.action) {
      case 'package.install': {
        const version = step.version === 'any' || step.version === 'latest' ? '1.0.0-1' : step.version.replace(/\*$/, '7-1');
        observed.set(step.key, { key: step.key, type: 'package', manager: step.manager, name: step.name, installed: true, version });
        break;
      }
      case 'package.remove':
        observed.set(step.key, { key: step.key, type: 'package', manager: step.manager, name: step.name, installed: false });
        break;
      case 'file.write': {
        const { action: _, ...attrs } = step;
        observed.set(step.key, { ...attrs, type: 'file', exists: true });
        break;
      }
      case 'file.delete':
        observed.set(step.key, { key: step.key, type: 'file', path: step.path, exists: false });
        break;
      case 'script.run':
        observed.set(step.key, { key: step.key, type: 'script', appliedSha256: step.sha256, lastRunAt: now.toISOString(), lastExitCode: 0 });
        break;
    }
    const resource = result.resources[step.key]!;
    if (desiredKeys.has(step.key)) inventory.set(step.key, applied(resource));
    else inventory.delete(step.key);
  }
  for (const key of result.forget) inventory.delete(key);
}

test('converge by re-planning: one pass of steps, then an empty plan until a schedule is due', () => {
  const state = desiredState(MIXED);
  const observed = new Map<string, ObservedResource>([
    ['package/telnet', installed('telnet', '0.17-44')],
    ['file//etc/old.conf', fileOnDisk('/etc/old.conf', 'stale\n')],
  ]);
  const inventory = new Map<string, AppliedResource>([
    ['file//etc/legacy.conf', applied(file('/etc/legacy.conf', 'legacy\n'))],
    ['package/xterm', applied(pkg('xterm'))],
  ]);
  const planNow = (now: Date) => planDevice(state, [...observed.values()], [...inventory.values()], { now });

  const first = planNow(NOW);
  assert.deepEqual(
    first.steps.map((s) => `${s.action} ${s.key}`),
    [
      'package.remove package/telnet',
      'package.install package/curl',
      'package.install package/nginx',
      'package.install package/openssl',
      'file.delete file//etc/legacy.conf',
      'file.write file//etc/motd',
      'file.delete file//etc/old.conf',
      'script.run script/harden',
      'script.run script/tune',
      'script.run script/rotate',
      'script.run script/warm',
    ],
  );
  assert.deepEqual(first.forget, ['package/xterm']);
  applySteps(first, observed, inventory, state, NOW);

  const second = planNow(new Date(NOW.getTime() + 60_000));
  assert.deepEqual(second.steps, [], 'converged after one pass');
  assert.deepEqual(second.forget, []);
  assert.deepEqual([...inventory.keys()].sort(), MIXED.map((r) => r.key).sort(), 'the inventory holds exactly the desired resources');

  const later = planNow(new Date(NOW.getTime() + 5 * 60_000));
  assert.deepEqual(
    later.steps.map((s) => s.key),
    ['script/rotate', 'script/warm'],
    'the due schedule runs, the always script rides along, nothing else',
  );
  applySteps(later, observed, inventory, state, new Date(NOW.getTime() + 5 * 60_000));
  assert.deepEqual(planNow(new Date(NOW.getTime() + 6 * 60_000)).steps, []);
});

// ---- durations ----

const DURATIONS: [string, number | undefined][] = [
  ['30s', 30_000],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['2d', 172_800_000],
  ['1d2h3m4s', 93_784_000],
  ['5x', undefined],
  ['0s', undefined],
  ['', undefined],
  ['5', undefined],
  ['m5', undefined],
  ['5m ', undefined],
  ['-5m', undefined],
];

for (const [text, expected] of DURATIONS) {
  test(`durationMs(${JSON.stringify(text)}) = ${expected}`, () => {
    assert.equal(durationMs(text), expected);
  });
}

test('a url-sourced file (size unknown) is written with size -1; the SHA-256 is what the agent checks', () => {
  const wallpaper: FileResource = { ...file('/srv/wallpaper.jpg', 'jpeg bytes'), size: undefined, origin: { kind: 'url', url: 'http://mirror.invalid/w.jpg' } };
  wallpaper.fingerprint = fileFingerprint(wallpaper);
  const plan = planDevice(desiredState([wallpaper, script('always', 'echo hi', { run: 'always' })]), [], [], { now: new Date('2026-01-01T00:00:00Z') });
  assert.deepEqual(
    plan.steps.map((s) => [s.action, s.action === 'file.write' ? s.size : undefined]),
    [['file.write', -1], ['script.run', undefined]],
    'the file and the script that never ran',
  );
});
