// Builders and a temp-dir store for the store's tests (real SQLite files, no mocks).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { AgentReport, JobResult, ObservedResource } from '../../../../schemas/protocol.ts';
import { openSqliteStore, type OpenSqliteStoreOptions } from './sqlite-store.ts';
import type { DeviceRecord, NewJob, Store } from './store.ts';

export interface TempStore {
  store: Store;
  dir: string;
  file: string;
  /** Opens another store on the same file (closed with the test). */
  open(options?: Partial<OpenSqliteStoreOptions>): Promise<Store>;
}

export async function tempStore(t: TestContext, options: Partial<OpenSqliteStoreOptions> = {}): Promise<TempStore> {
  const dir = await mkdtemp(join(tmpdir(), 'deployx-store-'));
  const file = join(dir, 'deployx.sqlite');
  const opened: Store[] = [];
  t.after(async () => {
    for (const s of opened) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const open = async (more: Partial<OpenSqliteStoreOptions> = {}) => {
    const s = await openSqliteStore({ file, ...options, ...more });
    opened.push(s);
    return s;
  };
  return { store: await open(), dir, file, open };
}

export const T0 = Date.UTC(2025, 0, 1);

/** `T0 + minutes`, as an ISO time. */
export function at(minutes: number): string {
  return new Date(T0 + minutes * 60_000).toISOString();
}

export function enroll(store: Store, id: string, extra: { machineId?: string; credentialHash?: string } = {}): Promise<DeviceRecord> {
  return store.enrollDevice({
    id,
    machineId: extra.machineId ?? `machine-${id}`,
    labels: { site: 'lab' },
    facts: { hostname: `${id}.lab`, os: { family: 'debian' } },
    credentialHash: extra.credentialHash ?? `hash-${id}`,
    now: at(0),
  });
}

export function pkg(name: string, version: string): ObservedResource {
  return { key: `package/${name}`, type: 'package', manager: 'apt', name, installed: true, version };
}

export function file(path: string, sha256: string): ObservedResource {
  return { key: `file/${path}`, type: 'file', path, exists: true, sha256, size: 10, mode: '0644' };
}

export function report(observed: ObservedResource[], extra: Partial<AgentReport> = {}): AgentReport {
  return {
    agentVersion: '1.0.0',
    facts: { hostname: 'h', os: { family: 'debian' } },
    observed,
    sentAt: at(0),
    ...extra,
  };
}

export function newJob(id: string, deviceId: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    id,
    deviceId,
    revision: 'main@sha1:aaaa',
    idempotencyKey: `key-${id}`,
    steps: [{ action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: 'any' }],
    createdAt: at(1),
    ...extra,
  };
}

export function jobResult(jobId: string, extra: Partial<JobResult> = {}): JobResult {
  return {
    jobId,
    idempotencyKey: `key-${jobId}`,
    status: 'succeeded',
    steps: [{ key: 'package/nginx', action: 'package.install', status: 'succeeded', durationMs: 12 }],
    observed: [pkg('nginx', '1.22.1')],
    startedAt: at(2),
    finishedAt: at(3),
    ...extra,
  };
}
