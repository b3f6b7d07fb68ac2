// Signatures shared by the server and the agent: Ed25519 keys (node:crypto) and DSSE envelopes.
//
// What is signed is never the JSON text as some parser re-serialises it, but the exact payload
// bytes, bound to their type by DSSE's pre-authentication encoding (PAE):
//   "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
// so a signature over a job can never be taken for a signature over a handshake or a key list
// (domain separation), and no canonical-JSON scheme is needed. See
// https://github.com/secure-systems-lab/dsse/blob/master/protocol.md.
//
// A key is named by its fingerprint, `sha256:<hex of the SHA-256 of its SPKI DER encoding>`; the
// same text names it in an envelope's `keyid`, in an enrollment token and in `deployx keys`.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** A job the server sends an agent (see protocol.ts `SignedJob`). */
export const JOB_PAYLOAD_TYPE = 'application/vnd.deployx.job+json';
/** The server's current keys, signed by a key the agent already trusts (rotation). */
export const SERVER_KEYS_PAYLOAD_TYPE = 'application/vnd.deployx.server-keys+json';
/** The server's answer to an agent's connection nonce: proof that it holds a pinned key. */
export const SERVER_HELLO_PAYLOAD_TYPE = 'application/vnd.deployx.server-hello+json';
/** An agent's handshake, signed by its device key. */
export const DEVICE_HANDSHAKE_PAYLOAD_TYPE = 'application/vnd.deployx.device-handshake+json';
/** An agent's blob download request, signed by its device key. */
export const BLOB_REQUEST_PAYLOAD_TYPE = 'application/vnd.deployx.blob-request+json';

export type { Envelope, EnvelopeSignature } from './envelope.ts';
import type { Envelope, EnvelopeSignature } from './envelope.ts';

export interface SigningKey {
  /** The key's fingerprint (`keyFingerprint`). */
  keyid: string;
  privateKey: KeyObject;
}

export type Opened<T = unknown> =
  | { ok: true; payload: T; keyid: string }
  | { ok: false; code: 'envelope.malformed' | 'envelope.wrong-type' | 'envelope.untrusted-key' | 'envelope.bad-signature'; message: string };

const MAX_ENVELOPE_BYTES = 4 * 1024 * 1024;

/** DSSE's pre-authentication encoding of `body` as `type`. */
export function pae(type: string, body: Uint8Array): Buffer {
  const typeBytes = Buffer.from(type, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${typeBytes.length} `, 'utf8'),
    typeBytes,
    Buffer.from(` ${body.length} `, 'utf8'),
    body,
  ]);
}

/** A new Ed25519 key pair. */
export function generateSigningKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** `sha256:<hex>` of the key's SPKI DER encoding; for a private key, of its public half. */
export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

export function publicKeyToPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n-----END PUBLIC KEY-----\s*$/;

/**
 * An Ed25519 public key from PEM; throws on anything else. The server parses one per device
 * handshake after a restart (10,000 in a reconnect storm): the usual PEM form of an Ed25519 key is
 * read as its 32 raw bytes through JWK, about five times cheaper than OpenSSL's PEM decoder;
 * anything else goes through that decoder.
 */
export function publicKeyFromPem(pem: string): KeyObject {
  const body = PEM_PUBLIC_KEY.exec(pem)?.[1];
  const der = body === undefined ? undefined : Buffer.from(body.replace(/\r?\n/g, ''), 'base64');
  if (der !== undefined && der.length === ED25519_SPKI_PREFIX.length + 32 && der.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX)) {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: der.subarray(ED25519_SPKI_PREFIX.length).toString('base64url') }, format: 'jwk' });
  }
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 public key (${key.asymmetricKeyType})`);
  return key;
}

/** An Ed25519 private key from PEM; throws on anything else. */
export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 private key (${key.asymmetricKeyType})`);
  return key;
}

/** A signing key from a private key, named by its fingerprint. */
export function signingKey(privateKey: KeyObject): SigningKey {
  return { keyid: keyFingerprint(privateKey), privateKey };
}

/** Signs raw bytes as `type` (PAE) with an Ed25519 key; base64. */
export function signBytes(type: string, body: Uint8Array, privateKey: KeyObject): string {
  return sign(null, pae(type, body), privateKey).toString('base64');
}

/** Whether `sig` (base64) is `publicKey`'s signature over `body` as `type`. Never throws. */
export function verifyBytes(type: string, body: Uint8Array, sig: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, pae(type, body), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

/** An envelope over `payload` (an object, serialised to JSON once, or bytes), signed by each key. */
export function signEnvelope(type: string, payload: unknown, keys: SigningKey | readonly SigningKey[]): Envelope {
  const body = payload instanceof Uint8Array ? payload : Buffer.from(JSON.stringify(payload), 'utf8');
  const list = Array.isArray(keys) ? keys : [keys as SigningKey];
  return {
    payloadType: type,
    payload: Buffer.from(body).toString('base64'),
    signatures: list.map((key) => ({ keyid: key.keyid, sig: signBytes(type, body, key.privateKey) })),
  };
}

/**
 * Checks an envelope that arrived from the network: its shape, its type, and a valid signature
 * by one of `trusted` (fingerprint → public key). The payload is parsed as JSON only after a
 * signature verifies, and is not otherwise checked: the caller validates what it says.
 */
export function openEnvelope<T = unknown>(envelope: unknown, type: string, trusted: ReadonlyMap<string, KeyObject>): Opened<T> {
  if (!isEnvelope(envelope)) return { ok: false, code: 'envelope.malformed', message: 'not a signed envelope' };
  if (envelope.payloadType !== type) {
    return { ok: false, code: 'envelope.wrong-type', message: `expected a ${type} envelope, got ${JSON.stringify(envelope.payloadType.slice(0, 80))}` };
  }
  const body = Buffer.from(envelope.payload, 'base64');
  let known = false;
  for (const signature of envelope.signatures) {
    const key = trusted.get(signature.keyid);
    if (key === undefined) continue;
    known = true;
    if (!verifyBytes(type, body, signature.sig, key)) continue;
    try {
      return { ok: true, payload: JSON.parse(body.toString('utf8')) as T, keyid: signature.keyid };
    } catch {
      return { ok: false, code: 'envelope.malformed', message: 'the signed payload is not JSON' };
    }
  }
  return known
    ? { ok: false, code: 'envelope.bad-signature', message: 'the signature does not verify' }
    : { ok: false, code: 'envelope.untrusted-key', message: 'not signed by a trusted key' };
}

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  if (typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures)) return false;
  if (e.payload.length > MAX_ENVELOPE_BYTES || e.signatures.length === 0 || e.signatures.length > 8) return false;
  return e.signatures.every(
    (s) => typeof s === 'object' && s !== null && typeof (s as EnvelopeSignature).keyid === 'string' && typeof (s as EnvelopeSignature).sig === 'string',
  );
}
