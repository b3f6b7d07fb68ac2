// A job on the wire: the signed JobPayload (schemas/protocol.ts) made from a Job by the server
// at dispatch, and the Job the agent runs once the payload verified. Pure.
import type { Job, JobPayload, Step } from './protocol.ts';
import { JOB_PAYLOAD_TYPE, signEnvelope, type Envelope, type SigningKey } from './signing.ts';

/** Every blob hash the steps reference (file bodies, script bodies), sorted, once each. */
export function stepBlobs(steps: readonly Step[]): string[] {
  const hashes = new Set<string>();
  for (const step of steps) if (step.action === 'file.write' || step.action === 'script.run') hashes.add(step.sha256);
  return [...hashes].sort();
}

export interface SealInput {
  sequence: number;
  issuedAt: Date;
  /** How long the agent may accept it after issuedAt. */
  ttlMs: number;
}

export function jobPayload(job: Job, { sequence, issuedAt, ttlMs }: SealInput): JobPayload {
  return {
    deviceId: job.deviceId,
    jobId: job.id,
    idempotencyKey: job.idempotencyKey,
    sequence,
    revision: job.revision,
    issuedAt: issuedAt.toISOString(),
    expiresAt: new Date(issuedAt.getTime() + ttlMs).toISOString(),
    steps: job.steps,
    blobs: stepBlobs(job.steps),
    createdAt: job.createdAt,
  };
}

/** The envelope of `job`, signed by every key in `keys` (during a rotation's grace period, two). */
export function sealJob(job: Job, input: SealInput, keys: readonly SigningKey[]): Envelope {
  return signEnvelope(JOB_PAYLOAD_TYPE, jobPayload(job, input), keys);
}

export function jobFromPayload(payload: JobPayload): Job {
  return {
    id: payload.jobId,
    deviceId: payload.deviceId,
    revision: payload.revision,
    idempotencyKey: payload.idempotencyKey,
    steps: payload.steps,
    createdAt: payload.createdAt,
  };
}
