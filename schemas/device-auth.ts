// Device keys (docs/security.md "Device keys"), shared by the agent that signs and the server
// that checks. An agent proves it is its device with an Ed25519 key it made at enrollment; the
// private half never leaves its state dir, the server keeps the public half. What crosses the
// wire is a fresh signed statement, never a secret:
// - to connect: a DEVICE_HANDSHAKE envelope of {deviceId, serverKey, issuedAt, nonce}, in the
//   Socket.IO handshake as `{deviceId, handshake}`;
// - to download a blob: a BLOB_REQUEST envelope of {deviceId, serverKey, sha256, issuedAt, nonce},
//   in `Authorization: DeployX-Device <deviceId> <base64url of the envelope's JSON>`.
// The server accepts a statement only when it is signed by the key stored for that device, names
// the device it is presented for, names one of the server's own keys (`serverKey`: a statement
// made for another server is worthless here), was issued within STATEMENT_WINDOW_MS of the
// server's clock, and carries a nonce not seen before (ReplayGuard): a statement read off the wire
// cannot be used again. A live relay by whoever sits on a plain-http path is stopped by TLS, not
// by this (docs/security.md).
import { randomBytes, type KeyObject } from 'node:crypto';
import type { Envelope } from './envelope.ts';
import { BLOB_REQUEST_PAYLOAD_TYPE, DEVICE_HANDSHAKE_PAYLOAD_TYPE, openEnvelope, signEnvelope, type SigningKey } from './signing.ts';

/** How far a statement's `issuedAt` may be from the server's clock, either way. */
export const STATEMENT_WINDOW_MS = 5 * 60_000;

export interface DeviceHandshakePayload {
  deviceId: string;
  /** Fingerprint of the server key the agent trusts (`sha256:<hex>`). */
  serverKey: string;
  issuedAt: string;
  /** Fresh random base64url, 16–128 characters. */
  nonce: string;
}

export interface BlobRequestPayload extends DeviceHandshakePayload {
  sha256: string;
}

export interface StatementInput {
  deviceId: string;
  serverKey: string;
  key: SigningKey;
  now: Date;
}

function statement(input: StatementInput): DeviceHandshakePayload {
  return { deviceId: input.deviceId, serverKey: input.serverKey, issuedAt: input.now.toISOString(), nonce: randomBytes(18).toString('base64url') };
}

export function signDeviceHandshake(input: StatementInput): Envelope {
  return signEnvelope(DEVICE_HANDSHAKE_PAYLOAD_TYPE, statement(input), input.key);
}

export const DEVICE_AUTH_SCHEME = 'DeployX-Device';

/** The Authorization header of one blob download. */
export function blobRequestAuthorization(input: StatementInput & { sha256: string }): string {
  const envelope = signEnvelope(BLOB_REQUEST_PAYLOAD_TYPE, { ...statement(input), sha256: input.sha256 }, input.key);
  return `${DEVICE_AUTH_SCHEME} ${input.deviceId} ${Buffer.from(JSON.stringify(envelope)).toString('base64url')}`;
}

/** The device id and envelope of a blob download's Authorization header; undefined when it is not one. */
export function parseBlobAuthorization(header: string | undefined): { deviceId: string; envelope: unknown } | undefined {
  const match = /^DeployX-Device ([A-Za-z0-9._-]{1,256}) ([A-Za-z0-9_-]{1,8192})$/.exec(header ?? '');
  if (!match) return undefined;
  try {
    return { deviceId: match[1]!, envelope: JSON.parse(Buffer.from(match[2]!, 'base64url').toString('utf8')) };
  } catch {
    return undefined;
  }
}

/**
 * Nonces of accepted statements, each kept until its statement is too old to be accepted anyway.
 * In memory: a restarted server forgets them, and a statement from before the restart is still
 * refused once it is STATEMENT_WINDOW_MS old.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  #nextSweep = 0;

  /** Records `nonce` of `deviceId`; false when it was seen before. */
  use(deviceId: string, nonce: string, issuedAtMs: number, nowMs: number): boolean {
    if (nowMs >= this.#nextSweep) {
      for (const [key, until] of this.#seen) if (until <= nowMs) this.#seen.delete(key);
      this.#nextSweep = nowMs + 10_000;
    }
    const key = `${deviceId} ${nonce}`;
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, issuedAtMs + STATEMENT_WINDOW_MS + 1);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

export type StatementRefusal =
  | 'handshake-malformed'
  | 'handshake-bad-signature'
  | 'handshake-wrong-device'
  | 'handshake-wrong-server'
  | 'handshake-stale'
  | 'handshake-replayed'
  | 'handshake-wrong-blob';

export type StatementVerdict<T> = { ok: true; payload: T } | { ok: false; reason: StatementRefusal };

export interface CheckStatement {
  /** The device the statement is presented for. */
  deviceId: string;
  /** The public key stored for that device. */
  publicKey: KeyObject;
  /** Fingerprints of the server's valid keys. */
  serverKeys: ReadonlySet<string>;
  now: Date;
  replay: ReplayGuard;
}

export function checkDeviceHandshake(envelope: unknown, check: CheckStatement): StatementVerdict<DeviceHandshakePayload> {
  return checkStatement<DeviceHandshakePayload>(envelope, DEVICE_HANDSHAKE_PAYLOAD_TYPE, check);
}

export function checkBlobRequest(envelope: unknown, sha256: string, check: CheckStatement): StatementVerdict<BlobRequestPayload> {
  return checkStatement<BlobRequestPayload>(envelope, BLOB_REQUEST_PAYLOAD_TYPE, check, (p) => p.sha256 === sha256);
}

function checkStatement<T extends DeviceHandshakePayload>(
  envelope: unknown,
  type: string,
  check: CheckStatement,
  matches: (payload: T) => boolean = () => true,
): StatementVerdict<T> {
  // The signature names the key by whatever keyid the sender chose: only the stored key counts.
  const keyid = (envelope as { signatures?: Array<{ keyid?: unknown }> } | null)?.signatures?.[0]?.keyid;
  if (typeof keyid !== 'string') return { ok: false, reason: 'handshake-malformed' };
  const opened = openEnvelope<T>(envelope, type, new Map([[keyid, check.publicKey]]));
  if (!opened.ok) return { ok: false, reason: opened.code === 'envelope.bad-signature' ? 'handshake-bad-signature' : 'handshake-malformed' };
  const p = opened.payload as Partial<T> | null;
  if (
    p === null ||
    typeof p !== 'object' ||
    typeof p.deviceId !== 'string' ||
    typeof p.serverKey !== 'string' ||
    typeof p.issuedAt !== 'string' ||
    typeof p.nonce !== 'string' ||
    !/^[A-Za-z0-9_-]{16,128}$/.test(p.nonce)
  ) {
    return { ok: false, reason: 'handshake-malformed' };
  }
  const payload = p as T;
  if (payload.deviceId !== check.deviceId) return { ok: false, reason: 'handshake-wrong-device' };
  if (!matches(payload)) return { ok: false, reason: 'handshake-wrong-blob' };
  if (!check.serverKeys.has(payload.serverKey)) return { ok: false, reason: 'handshake-wrong-server' };
  const issuedAt = Date.parse(payload.issuedAt);
  const now = check.now.getTime();
  if (!Number.isFinite(issuedAt) || Math.abs(now - issuedAt) > STATEMENT_WINDOW_MS) return { ok: false, reason: 'handshake-stale' };
  if (!check.replay.use(payload.deviceId, payload.nonce, issuedAt, now)) return { ok: false, reason: 'handshake-replayed' };
  return { ok: true, payload };
}
