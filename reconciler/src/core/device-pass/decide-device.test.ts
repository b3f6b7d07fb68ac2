// The device pass as a table: inputs → status, job to create, jobs to send and ask about, wake-up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedResource } from '../../../../schemas/protocol.ts';
import { desiredStateFingerprint, fileFingerprint, scriptFingerprint } from '../compile/fingerprint.ts';
import type { DesiredResource, DesiredState, FileResource, ScriptResource } from '../model.ts';
import { sha256Hex, utf8Encode } from '../sha256.ts';
import type { AppliedResource } from '../plan/plan-device.ts';
import { decideDevice, RETRY_DELAYS_MS, type DeviceInputs, type OpenJob } from './decide-device.ts';
import { jobBudgetMs } from './job-budget.ts';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const SOURCES = [{ profile: 'base', groups: ['web'] }];

function file(path: string, content: string): FileResource {
  const r: FileResource = {
    type: 'file', key: `file/${path}`, fingerprint: '', ensure: 'present', prune: true, drift: 'enforce', sources: SOURCES,
    name: path.slice(path.lastIndexOf('/') + 1), path, sha256: sha256Hex(content), size: utf8Encode(content).length,
    origin: { kind: 'inline' }, mode: undefined, owner: undefined, group: undefined,
  };
  r.fingerprint = fileFingerprint(r);
  return r;
}

function script(name: string, body: string): ScriptResource {
  const r: ScriptResource = {
    type: 'script', key: `script/${name}`, fingerprint: '', ensure: 'present', prune: false, drift: 'enforce', sources: SOURCES, name,
    interpreter: 'sh', sha256: sha256Hex(body), origin: { kind: 'inline' }, run: 'onChange', check: undefined, timeoutSeconds: 30,
    successExitCodes: [0], env: {}, order: 0,
  };
  r.fingerprint = scriptFingerprint(r);
  return r;
}

const CONF = file('/etc/app.conf', 'a=1\n');
const SETUP = script('setup', 'echo hi\n');
const desired = (resources: DesiredResource[]): DesiredState => ({
  device: 'web-01', revision: 'main@sha1:1', groups: ['web'], profiles: [{ name: 'base', drift: 'enforce', rollout: {} }],
  resources, issues: [], fingerprint: desiredStateFingerprint(resources),
});
const applied = (r: DesiredResource): AppliedResource => ({ key: r.key, fingerprint: r.fingerprint, resource: r });
const seen = (r: FileResource, sha256 = r.sha256!): ObservedResource => ({ key: r.key, type: 'file', path: r.path, exists: true, sha256, size: r.size! });

function inputs(extra: Partial<DeviceInputs> = {}): DeviceInputs {
  return {
    desired: desired([CONF, SETUP]),
    observed: { reportedAt: iso(NOW - 1000), resources: [seen(CONF)] },
    inventory: [applied(CONF), applied(SETUP)],
    openJobs: [],
    gate: { kind: 'free' },
    publishing: undefined,
    failures: undefined,
    now: new Date(NOW),
    ackTimeoutMs: 10_000,
    graceMs: 60_000,
    connection: { since: NOW - 5_000, askOnConnect: false },
    askedAt: new Map(),
    ...extra,
  };
}

const job = (id: string, state: string, extra: Partial<OpenJob> = {}): OpenJob => ({
  id, state, steps: [{ action: 'script.run', key: 'script/setup', interpreter: 'sh', sha256: SETUP.sha256, run: 'onChange', timeoutSeconds: 30, successExitCodes: [0] }],
  createdAt: iso(NOW - 100_000), ...extra,
});
const BUDGET = jobBudgetMs(job('x', 'running').steps);

interface Row {
  name: string;
  input: DeviceInputs;
  state: string;
  reason?: RegExp;
  create?: boolean;
  send?: string[];
  ask?: string[];
  wakeAt?: number;
  converged?: string;
}

const rows: Row[] = [
  { name: 'converged', input: inputs(), state: 'in_sync', reason: /^converged$/, create: false },
  { name: 'never reported', input: inputs({ observed: undefined, inventory: [] }), state: 'converging', create: true },
  { name: 'never reported, nothing to do', input: inputs({ desired: desired([]), observed: undefined, inventory: [] }), state: 'unknown', reason: /never reported/ },
  { name: 'a new file', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]) }), state: 'converging', reason: /^1 steps$/, create: true },
  { name: 'drift is corrected', input: inputs({ observed: { reportedAt: iso(NOW), resources: [seen(CONF, 'f'.repeat(64))] } }), state: 'drifted', create: true },
  // Vanished: the agent reports nothing of what was applied. Files are applied again, scripts not.
  { name: 'observed state vanished: files re-applied', input: inputs({ observed: { reportedAt: iso(NOW), resources: [] } }), state: 'converging', create: true },
  { name: 'observed state vanished, scripts only: unknown', input: inputs({ desired: desired([SETUP]), inventory: [applied(SETUP)], observed: { reportedAt: iso(NOW), resources: [] } }), state: 'unknown', reason: /vanished/, create: false },
  // Rollout gates.
  { name: 'held by its rollout', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), gate: { kind: 'hold', rolloutId: 'r1', state: 'converging', reason: 'waiting for rollout r1 wave 1' } }), state: 'converging', reason: /waiting for rollout r1/, create: false },
  { name: 'rollout started it, job sent', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), gate: { kind: 'sent', rolloutId: 'r1', jobId: 'j9' } }), state: 'converging', reason: /result of job j9/, create: false },
  { name: 'rollout starts it', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), gate: { kind: 'run', rolloutId: 'r1', revision: 'main@sha1:1', attempt: 1 } }), state: 'converging', create: true },
  { name: 'rollout started it, nothing to do: converged', input: inputs({ gate: { kind: 'run', rolloutId: 'r1', revision: 'main@sha1:1', attempt: 1 } }), state: 'in_sync', converged: 'r1' },
  { name: 'rollout revision still publishing', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), gate: { kind: 'run', rolloutId: 'r1', revision: 'main@sha1:2', attempt: 1 }, publishing: 'main@sha1:2' }), state: 'converging', reason: /starting with revision/, create: false },
  { name: 'drift correction goes past a hold', input: inputs({ observed: { reportedAt: iso(NOW), resources: [seen(CONF, 'f'.repeat(64))] }, gate: { kind: 'hold', rolloutId: 'r1', state: 'converging', reason: 'x' } }), state: 'drifted', create: true },
  // Open jobs.
  { name: 'a pending job is sent', input: inputs({ openJobs: [job('j1', 'pending')] }), state: 'converging', reason: /job j1 pending/, send: ['j1'], ask: [] },
  { name: 'a dispatched job not overdue: wake when it is', input: inputs({ openJobs: [job('j1', 'dispatched', { dispatchedAt: iso(NOW - 4_000) })] }), state: 'converging', send: [], ask: [], wakeAt: NOW + 6_000 },
  { name: 'a dispatched job never started is sent again', input: inputs({ openJobs: [job('j1', 'dispatched', { dispatchedAt: iso(NOW - 10_000) })] }), state: 'converging', send: ['j1'] },
  { name: 'on reconnect: jobs sent before are asked about', input: inputs({ connection: { since: NOW - 1_000, askOnConnect: true }, openJobs: [job('j1', 'running', { dispatchedAt: iso(NOW - 2_000), startedAt: iso(NOW - 2_000) })] }), state: 'converging', ask: ['j1'] },
  { name: 'on reconnect: a job sent on this connection is not', input: inputs({ connection: { since: NOW - 3_000, askOnConnect: true }, openJobs: [job('j1', 'running', { dispatchedAt: iso(NOW - 2_000), startedAt: iso(NOW - 2_000) })] }), state: 'converging', ask: [], wakeAt: NOW - 2_000 + BUDGET + 60_000 },
  { name: 'offline: nothing is asked', input: inputs({ connection: undefined, openJobs: [job('j1', 'running', { dispatchedAt: iso(NOW - 900_000), startedAt: iso(NOW - 900_000) })] }), state: 'converging', ask: [] },
  { name: 'running past budget + grace: asked', input: inputs({ openJobs: [job('j1', 'running', { dispatchedAt: iso(NOW - BUDGET - 61_000), startedAt: iso(NOW - BUDGET - 60_000) })] }), state: 'converging', ask: ['j1'] },
  { name: 'asked within the grace: not again', input: inputs({ askedAt: new Map([['j1', NOW - 30_000]]), openJobs: [job('j1', 'running', { startedAt: iso(NOW - BUDGET - 90_000), dispatchedAt: iso(NOW - BUDGET - 90_000) })] }), state: 'converging', ask: [], wakeAt: NOW + 30_000 },
  // The loop's retry backoff.
  { name: 'first failure: wait', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), failures: { stepsHash: hashOf(), count: 1, lastAt: NOW - 1_000 } }), state: 'failed', reason: /^retry 1 in 4 s$/, create: false, wakeAt: NOW - 1_000 + RETRY_DELAYS_MS[0]! },
  { name: 'first failure, backoff over: retry', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), failures: { stepsHash: hashOf(), count: 1, lastAt: NOW - 6_000 } }), state: 'converging', create: true },
  { name: 'retries spent', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), failures: { stepsHash: hashOf(), count: 3, lastAt: NOW - 600_000 } }), state: 'failed', reason: /failed 3 times; waiting for a new revision/, create: false },
  { name: 'other steps: the count starts again', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), failures: { stepsHash: 'other', count: 3, lastAt: NOW } }), state: 'converging', create: true },
  { name: 'a rollout job is retried by its rollout', input: inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), failures: { stepsHash: hashOf(), count: 3, lastAt: NOW }, gate: { kind: 'run', rolloutId: 'r1', revision: 'main@sha1:1', attempt: 2 } }), state: 'converging', create: true },
];

/** The steps hash of the plan that adds /etc/b (what the retry rows fail on). */
function hashOf(): string {
  const d = decideDevice(inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]) }));
  return d.create!.stepsHash;
}

test('decideDevice, as a table', () => {
  for (const row of rows) {
    const d = decideDevice(row.input);
    assert.equal(d.status.state, row.state, row.name);
    if (row.reason) assert.match(d.status.reason, row.reason, row.name);
    if (row.create !== undefined) assert.equal(d.create !== undefined, row.create, row.name);
    if (row.send) assert.deepEqual(d.send.map((j) => j.id), row.send, row.name);
    if (row.ask) assert.deepEqual(d.ask.map((j) => j.id), row.ask, row.name);
    if (row.wakeAt !== undefined) assert.equal(d.wakeAt, row.wakeAt, row.name);
    if (row.converged !== undefined) assert.equal(d.converged, row.converged, row.name);
  }
});

test('a vanished device plans its files as never applied and keeps its scripts', () => {
  const d = decideDevice(inputs({ observed: { reportedAt: iso(NOW), resources: [] } }));
  assert.deepEqual(d.create?.plan.steps.map((s) => s.key), ['file//etc/app.conf']);
});

test('a rollout job carries its rollout and attempt', () => {
  const d = decideDevice(inputs({ desired: desired([CONF, SETUP, file('/etc/b', 'b')]), gate: { kind: 'run', rolloutId: 'r1', revision: 'main@sha1:1', attempt: 2 } }));
  assert.equal(d.create?.rolloutId, 'r1');
  assert.equal(d.create?.attempt, 2);
});
