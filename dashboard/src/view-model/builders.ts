// Test builders for view-model tests (no DOM, no I/O).
import type { DeviceSummary, StatsSample, UiNotification } from '../../../schemas/protocol.ts';
import type { JobRecord, RevisionView, RolloutCounts } from './wire.ts';

export function device(overrides: Partial<DeviceSummary> & { id: string }): DeviceSummary {
  return {
    name: overrides.id,
    online: true,
    state: 'in_sync',
    reason: '',
    revision: null,
    lastSeenAt: null,
    lastReportAt: null,
    agentVersion: null,
    os: null,
    labels: {},
    groups: [],
    profiles: [],
    ...overrides,
  };
}

export function revision(overrides: Partial<RevisionView> & { oid: string }): RevisionView {
  return {
    revision: `main@sha1:${overrides.oid}`,
    branch: 'main',
    author: 'Fleet Admin <admin@example.invalid>',
    message: 'change',
    committedAt: '2024-05-01T10:00:00.000Z',
    seenAt: '2024-05-01T10:00:00.000Z',
    lastSeenAt: '2024-05-01T10:00:00.000Z',
    status: 'accepted',
    errors: [],
    ...overrides,
    errorCount: overrides.errorCount ?? overrides.errors?.length ?? 0,
  };
}

export function counts(overrides: Partial<RolloutCounts>): RolloutCounts {
  const c = { waiting: 0, running: 0, succeeded: 0, failed: 0, retrying: 0, offline: 0, ...overrides };
  return { ...c, total: overrides.total ?? c.waiting + c.running + c.succeeded + c.failed + c.retrying + c.offline };
}

export function job(overrides: Partial<JobRecord> & { id: string }): JobRecord {
  return {
    deviceId: 'd1',
    revision: 'main@sha1:aaaaaaa',
    idempotencyKey: `k-${overrides.id}`,
    steps: [],
    createdAt: '2024-05-01T10:00:00.000Z',
    state: 'succeeded',
    attempts: 1,
    ...overrides,
  };
}

export function sample(at: string, inSync: number, total: number, online = total): StatsSample {
  return { at, inSync, total, online };
}

export function notification(seq: number, overrides: Partial<UiNotification> = {}): UiNotification {
  return { seq, at: '2024-05-01T10:00:00.000Z', kind: 'agent.connected', level: 'info', title: `n${seq}`, message: '', ...overrides };
}
