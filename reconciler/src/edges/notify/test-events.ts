// Test support: one realistic event of each type, built through `createEvent` like production
// callers do. Overrides replace top-level fields.
import { createEvent, type FleetEvent } from './events.ts';

export const OID = 'abc1234def5678abc1234def5678abc1234def56';
export const REVISION = `main@sha1:${OID}`;
export const AT = '2025-06-01T12:00:00.000Z';

export function revisionAccepted(overrides: Partial<Extract<FleetEvent, { type: 'revision.accepted' }>> = {}) {
  return createEvent({
    type: 'revision.accepted',
    at: AT,
    revision: REVISION,
    author: 'Ada Lovelace <ada@example.com>',
    message: 'Bump nginx to 1.24\n\nFor the EU web fleet.',
    ...overrides,
  });
}

export function revisionRejected(overrides: Partial<Extract<FleetEvent, { type: 'revision.rejected' }>> = {}) {
  return createEvent({
    type: 'revision.rejected',
    at: AT,
    revision: REVISION,
    author: 'Ada Lovelace <ada@example.com>',
    message: 'Add web group',
    errorCount: 3,
    errors: [
      { file: 'groups/web.yaml', line: 12, code: 'schema.unknown-key', message: 'unknown key "selctor" (did you mean "selector"?)' },
      { file: 'profiles/web.yaml', line: 4, code: 'ref.group', message: 'group "webb" does not exist' },
      { file: 'profiles/web.yaml', line: 9, code: 'schema.type', message: 'must be string' },
    ],
    ...overrides,
  });
}

export function waveCompleted(overrides: Partial<Extract<FleetEvent, { type: 'rollout.wave.completed' }>> = {}) {
  return createEvent({
    type: 'rollout.wave.completed',
    at: AT,
    rolloutId: 'ro-42',
    profile: 'web-eu',
    revision: REVISION,
    wave: { index: 0, name: 'canary' },
    counts: { succeeded: 1, failed: 0, offline: 0, total: 1 },
    ...overrides,
  });
}

export function rolloutEnded(
  type: 'rollout.completed' | 'rollout.partial' | 'rollout.failed' = 'rollout.completed',
  counts = { succeeded: 212, failed: 0, offline: 0, total: 212 },
) {
  return createEvent({ type, at: AT, rolloutId: 'ro-42', profile: 'web-eu', revision: REVISION, counts });
}

export function rolloutHalted(overrides: Partial<Extract<FleetEvent, { type: 'rollout.halted' }>> = {}) {
  return createEvent({
    type: 'rollout.halted',
    at: AT,
    rolloutId: 'ro-42',
    profile: 'web-server',
    revision: REVISION,
    wave: { index: 0, name: 'canary' },
    waveCounts: { succeeded: 3, failed: 2, offline: 0, total: 5 },
    counts: { succeeded: 3, failed: 2, offline: 0, total: 50 },
    failedDevices: [
      { device: 'web-eu-03', error: 'exit code 1', output: 'nginx: [emerg] unknown directive "gzip_foo"\nnginx: configuration file test failed' },
      { device: 'web-eu-04', error: 'exit code 1', output: 'nginx: [emerg] unknown directive "gzip_foo"' },
    ],
    ...overrides,
  });
}

export function deviceFailed(overrides: Partial<Extract<FleetEvent, { type: 'device.failed' }>> = {}) {
  return createEvent({
    type: 'device.failed',
    at: AT,
    device: 'web-eu-03',
    profile: 'web-eu',
    revision: REVISION,
    rolloutId: 'ro-42',
    jobId: 'job-7',
    error: 'exit code 1',
    output: 'E: Unable to locate package nginx-full',
    ...overrides,
  });
}
