// Deterministic simulated failures, so a test (or a demo script) can predict which devices fail
// which job: device `d` fails job `j` when hash(d + j.idempotencyKey) < rate, where hash is the
// first 32 bits of SHA-256 scaled to [0, 1). A retried job gets a new idempotencyKey, so a
// device that failed once usually succeeds on the retry — as flaky machines do.
import { createHash } from 'node:crypto';
import type { Job } from '../../../schemas/protocol.ts';

/** [0, 1) from the SHA-256 of `text`. */
export function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

export function simulatedFailure(deviceName: string, idempotencyKey: string, rate: number): boolean {
  return rate > 0 && unitHash(deviceName + idempotencyKey) < rate;
}

export interface FaultPlan {
  /** Key of the step that fails, or undefined when the job runs clean. */
  failKey?: string;
  reason?: string;
}

/**
 * Which step of `job` fails on `deviceName`: every job on a device in `failDevices`, else by
 * failure rate; the failing step is chosen by a second hash so partial applies happen too.
 */
export function planFaults(deviceName: string, job: Job, rate: number, failDevices: ReadonlySet<string>): FaultPlan {
  if (job.steps.length === 0) return {};
  const forced = failDevices.has(deviceName);
  if (!forced && !simulatedFailure(deviceName, job.idempotencyKey, rate)) return {};
  const index = Math.floor(unitHash(`${deviceName}${job.idempotencyKey}:step`) * job.steps.length);
  return {
    failKey: job.steps[index]!.key,
    reason: forced ? `simulated failure: ${deviceName} is in failDevices` : `simulated failure (failure rate ${rate})`,
  };
}
