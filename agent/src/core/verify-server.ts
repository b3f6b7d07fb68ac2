// What the agent checks before it believes the server (docs/protocol.md "Signed jobs"). Pure:
// signature checks are computation; the clock, the trusted keys and the high-water mark are
// arguments.
//
// Trusted keys are the fingerprint pinned from the enrollment token (no public key yet: the
// first hello supplies one whose fingerprint must match) and the keys a verified hello listed.
//
// verifyServerHello: a SERVER_HELLO envelope signed by a trusted key, answering this
// connection's challenge, for this device (when the agent knows its id), listing keys whose
// fingerprints are their SPKI hashes. The keys it lists become the agent's trusted set.
//
// verifyJob, in this order (the first failure is the answer):
//   job.unsigned        not a DSSE envelope (a bare Job, anything else)
//   job.wrong-type      an envelope of another payload type (a hello is not a job)
//   job.untrusted-key   no signature by a key the agent trusts
//   job.bad-signature   a trusted key's signature that does not verify
//   job.invalid         the signed payload is not a well-formed JobPayload
//   job.wrong-device    signed for another device
//   job.expired         now is past expiresAt
//   job.replayed        sequence not above the highest accepted (the caller lets a redelivery of a
//                       job it holds through: the refusal carries the job for that check)
import type { KeyObject } from 'node:crypto';
import { jobFromPayload } from '../../../schemas/job-envelope.ts';
import type { Job, JobPayload, ServerHelloPayload, ServerPublicKey } from '../../../schemas/protocol.ts';
import { JOB_PAYLOAD_TYPE, keyFingerprint, openEnvelope, publicKeyFromPem, SERVER_HELLO_PAYLOAD_TYPE, type Envelope } from '../../../schemas/signing.ts';

/** A server key the agent trusts: a pinned fingerprint alone, or a learnt key with its PEM. */
export interface TrustedServerKey {
  keyid: string;
  publicKey?: string;
}

export type JobRefusalCode =
  | 'job.unsigned'
  | 'job.wrong-type'
  | 'job.untrusted-key'
  | 'job.bad-signature'
  | 'job.invalid'
  | 'job.wrong-device'
  | 'job.expired'
  | 'job.replayed';

export type JobVerdict =
  | { ok: true; job: Job; sequence: number; keyid: string }
  | { ok: false; code: JobRefusalCode; error: string; job?: Job };

export type HelloVerdict =
  | { ok: true; keys: ServerPublicKey[]; keyid: string }
  | { ok: false; code: 'hello.unsigned' | 'hello.untrusted' | 'hello.invalid' | 'hello.wrong-challenge' | 'hello.wrong-device'; error: string };

/**
 * Server keys parsed from PEM, with their fingerprints. Every hello lists the server's keys and
 * every connection is checked against the trusted ones: the same one or two PEMs, parsed and
 * hashed again for each connection (in a simulator's reconnect storm, a third of its CPU).
 */
const parsedServerKeys = new Map<string, { key: KeyObject; keyid: string }>();

/** The Ed25519 key in `pem` and its fingerprint; throws on anything else. */
function serverKey(pem: string): { key: KeyObject; keyid: string } {
  let parsed = parsedServerKeys.get(pem);
  if (parsed === undefined) {
    const key = publicKeyFromPem(pem);
    parsed = { key, keyid: keyFingerprint(key) };
    if (parsedServerKeys.size >= 64) parsedServerKeys.clear();
    parsedServerKeys.set(pem, parsed);
  }
  return parsed;
}

/** Public keys by fingerprint, for the trusted keys that carry one (an unparsable one is left out). */
export function trustedKeyMap(keys: readonly TrustedServerKey[]): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>();
  for (const key of keys) {
    if (key.publicKey === undefined) continue;
    try {
      const parsed = serverKey(key.publicKey);
      if (parsed.keyid === key.keyid) map.set(key.keyid, parsed.key);
    } catch {
      // Not a usable key: it verifies nothing.
    }
  }
  return map;
}

export function verifyServerHello(
  envelope: unknown,
  expected: { trusted: readonly TrustedServerKey[]; challenge: string; deviceId?: string },
): HelloVerdict {
  const listed = unverifiedKeys(envelope);
  if (listed === undefined) return { ok: false, code: 'hello.unsigned', error: 'the server hello is not a signed envelope listing keys' };
  // A pinned fingerprint (no PEM yet) is matched by a listed key whose SPKI hashes to it.
  const trusted = trustedKeyMap(expected.trusted);
  const pins = new Set(expected.trusted.filter((k) => k.publicKey === undefined).map((k) => k.keyid));
  for (const [keyid, key] of listed) if (pins.has(keyid) && !trusted.has(keyid)) trusted.set(keyid, key);
  const opened = openEnvelope<ServerHelloPayload>(envelope, SERVER_HELLO_PAYLOAD_TYPE, trusted);
  if (!opened.ok) {
    return { ok: false, code: 'hello.untrusted', error: `the server did not prove it holds a trusted key (${opened.message}; trusted: ${expected.trusted.map((k) => short(k.keyid)).join(', ') || 'none'})` };
  }
  const hello = opened.payload;
  if (hello.challenge !== expected.challenge) return { ok: false, code: 'hello.wrong-challenge', error: 'the server hello answers another challenge (a replayed hello)' };
  if (expected.deviceId !== undefined && hello.deviceId !== undefined && hello.deviceId !== expected.deviceId) {
    return { ok: false, code: 'hello.wrong-device', error: `the server hello is for device ${String(hello.deviceId)}, not ${expected.deviceId}` };
  }
  const keys = [...listed].map(([keyid, key]) => ({ keyid, publicKey: key.export({ format: 'pem', type: 'spki' }).toString() }));
  if (!keys.some((k) => k.keyid === opened.keyid)) {
    return { ok: false, code: 'hello.invalid', error: 'the server hello does not list the key that signed it' };
  }
  return { ok: true, keys, keyid: opened.keyid };
}

export function verifyJob(
  envelope: unknown,
  expected: { trusted: ReadonlyMap<string, KeyObject>; deviceId: string; now: Date; highest: number },
): JobVerdict {
  const opened = openEnvelope<JobPayload>(envelope, JOB_PAYLOAD_TYPE, expected.trusted);
  if (!opened.ok) {
    switch (opened.code) {
      case 'envelope.malformed':
        return { ok: false, code: 'job.unsigned', error: `refused an unsigned job: ${opened.message}` };
      case 'envelope.wrong-type':
        return { ok: false, code: 'job.wrong-type', error: opened.message };
      case 'envelope.untrusted-key':
        return { ok: false, code: 'job.untrusted-key', error: 'refused a job not signed by a server key this agent trusts' };
      default:
        return { ok: false, code: 'job.bad-signature', error: 'refused a job whose signature does not verify' };
    }
  }
  const payload = opened.payload;
  const problem = payloadProblem(payload);
  if (problem !== undefined) return { ok: false, code: 'job.invalid', error: problem };
  const job = jobFromPayload(payload);
  if (payload.deviceId !== expected.deviceId) {
    return { ok: false, code: 'job.wrong-device', error: `job ${payload.jobId} is for device ${payload.deviceId}, not ${expected.deviceId}` };
  }
  if (expected.now.getTime() > Date.parse(payload.expiresAt)) {
    return { ok: false, code: 'job.expired', error: `job ${payload.jobId} expired at ${payload.expiresAt}` };
  }
  if (payload.sequence <= expected.highest) {
    return { ok: false, code: 'job.replayed', error: `job ${payload.jobId} has sequence ${payload.sequence}, not above ${expected.highest}`, job };
  }
  return { ok: true, job, sequence: payload.sequence, keyid: opened.keyid };
}

function payloadProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'the signed job is not an object';
  const p = value as Partial<JobPayload>;
  for (const field of ['deviceId', 'jobId', 'idempotencyKey', 'revision', 'createdAt'] as const) {
    if (typeof p[field] !== 'string' || (field !== 'revision' && p[field] === '')) return `job.${field} must be a non-empty string`;
  }
  if (typeof p.sequence !== 'number' || !Number.isSafeInteger(p.sequence) || p.sequence < 1) return 'job.sequence must be a positive integer';
  if (typeof p.issuedAt !== 'string' || Number.isNaN(Date.parse(p.issuedAt))) return 'job.issuedAt must be a time';
  if (typeof p.expiresAt !== 'string' || Number.isNaN(Date.parse(p.expiresAt))) return 'job.expiresAt must be a time';
  if (!Array.isArray(p.steps)) return 'job.steps must be an array';
  for (const [i, step] of p.steps.entries()) {
    if (typeof step !== 'object' || step === null || typeof step.action !== 'string' || typeof step.key !== 'string') {
      return `job.steps[${i}] needs an action and a key`;
    }
  }
  // Every blob a step will fetch is named in the signed list (they are one signed payload, so
  // this only catches a server bug; it keeps the list honest for whoever reads it).
  const blobs = new Set(Array.isArray(p.blobs) ? p.blobs : []);
  for (const step of p.steps) {
    if ((step.action === 'file.write' || step.action === 'script.run') && !blobs.has(step.sha256)) return `job.blobs lacks ${step.sha256}`;
  }
  return undefined;
}

/** The keys a hello lists, by fingerprint, each checked to hash to its keyid; read before any signature check. */
function unverifiedKeys(envelope: unknown): Map<string, KeyObject> | undefined {
  if (typeof envelope !== 'object' || envelope === null) return undefined;
  const payload = (envelope as Partial<Envelope>).payload;
  if (typeof payload !== 'string' || payload.length > 1_000_000) return undefined;
  let hello: unknown;
  try {
    hello = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  const keys = (hello as Partial<ServerHelloPayload> | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 8) return undefined;
  const out = new Map<string, KeyObject>();
  for (const k of keys as unknown[]) {
    const entry = k as Partial<ServerPublicKey> | null;
    if (typeof entry?.keyid !== 'string' || typeof entry.publicKey !== 'string') return undefined;
    try {
      const parsed = serverKey(entry.publicKey);
      if (parsed.keyid !== entry.keyid) return undefined;
      out.set(entry.keyid, parsed.key);
    } catch {
      return undefined;
    }
  }
  return out;
}

function short(keyid: string): string {
  return keyid.slice(0, 'sha256:'.length + 12);
}
