// The device's identity: <stateDir>/credential.json, mode 0600, written atomically, holding the
// device id and the device key (an Ed25519 private key the agent made at enrollment, PKCS#8 PEM).
// The key never leaves this file: the agent proves the identity with signatures
// (schemas/device-auth.ts). Errors about the file never quote it.
//
// An agent enrolled before keys has `{deviceId, credential}` here. Reading such a file makes the
// key at once and stores both (`legacyCredential`), so the agent can register the key with its
// old credential on its next connection, and forgets the credential once a session began.
import type { KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKeyPair, privateKeyFromPem, privateKeyToPem, signingKey, type SigningKey } from '../../../schemas/signing.ts';
import { AgentError } from '../errors.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';
import { readStateJson } from './state-json.ts';

export interface Credentials {
  deviceId: string;
  /** The device key, PKCS#8 PEM. */
  privateKey: string;
  /** A bearer credential from before keys, sent once more to register the key. */
  legacyCredential?: string;
}

export function credentialsPath(stateDir: string): string {
  return path.join(stateDir, 'credential.json');
}

/** A new device key, as stored. */
export function newDeviceKey(): string {
  return privateKeyToPem(generateSigningKeyPair().privateKey);
}

const parsed = new Map<string, SigningKey>();

/** The signing key of a stored identity (parsed once per key). */
export function deviceSigningKey(credentials: Pick<Credentials, 'privateKey'>): SigningKey {
  let key = parsed.get(credentials.privateKey);
  if (key === undefined) {
    const privateKey: KeyObject = privateKeyFromPem(credentials.privateKey);
    key = signingKey(privateKey);
    if (parsed.size >= 20_000) parsed.clear();
    parsed.set(credentials.privateKey, key);
  }
  return key;
}

/** undefined when the agent has not enrolled yet. */
export async function readCredentials(stateDir: string): Promise<Credentials | undefined> {
  const value = await readStateJson(credentialsPath(stateDir));
  if (value === undefined) return undefined;
  const stored = asCredentials(value);
  if (stored === undefined) {
    const legacy = value as { deviceId?: unknown; credential?: unknown } | null;
    if (typeof legacy?.deviceId === 'string' && legacy.deviceId !== '' && typeof legacy.credential === 'string' && legacy.credential !== '') {
      const upgraded = { deviceId: legacy.deviceId, privateKey: newDeviceKey(), legacyCredential: legacy.credential };
      await writeCredentials(stateDir, upgraded);
      return upgraded;
    }
    throw new AgentError('state.corrupt', `${credentialsPath(stateDir)} lacks deviceId or privateKey`);
  }
  try {
    deviceSigningKey(stored);
  } catch {
    throw new AgentError('state.corrupt', `${credentialsPath(stateDir)} holds no valid Ed25519 device key`);
  }
  return stored;
}

export async function writeCredentials(stateDir: string, credentials: Credentials): Promise<void> {
  if (asCredentials(credentials) === undefined) throw new AgentError('state.invalid', 'deviceId and privateKey must be non-empty strings');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const body: Credentials = { deviceId: credentials.deviceId, privateKey: credentials.privateKey };
  if (credentials.legacyCredential !== undefined) body.legacyCredential = credentials.legacyCredential;
  await writeFileAtomic(credentialsPath(stateDir), `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
}

function asCredentials(value: unknown): Credentials | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.deviceId !== 'string' || v.deviceId === '' || typeof v.privateKey !== 'string' || v.privateKey === '') return undefined;
  if (v.legacyCredential !== undefined && typeof v.legacyCredential !== 'string') return undefined;
  return { deviceId: v.deviceId, privateKey: v.privateKey, ...(typeof v.legacyCredential === 'string' ? { legacyCredential: v.legacyCredential } : {}) };
}
