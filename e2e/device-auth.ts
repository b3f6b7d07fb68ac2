// How a test acts as a device against the real server: with a device key of its own (what a
// handshake test sends by hand), or with the key a real agent keeps in its state dir.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { blobRequestAuthorization, signDeviceHandshake } from '../schemas/device-auth.ts';
import { generateSigningKeyPair, publicKeyToPem, signingKey, type SigningKey } from '../schemas/signing.ts';
import { deviceSigningKey } from '../agent/src/state/credentials.ts';
import type { RunningServer } from '../reconciler/src/main.ts';

export interface TestDeviceKey {
  key: SigningKey;
  /** SPKI PEM: what enrollment sends. */
  publicKey: string;
}

export function testDeviceKey(): TestDeviceKey {
  const { privateKey } = generateSigningKeyPair();
  return { key: signingKey(privateKey), publicKey: publicKeyToPem(privateKey) };
}

/** The handshake `auth` of a device holding `device`, addressed to the server's current key. */
export function keyAuth(server: RunningServer, deviceId: string, device: TestDeviceKey, now = new Date()): Record<string, unknown> {
  return { deviceId, handshake: signDeviceHandshake({ deviceId, serverKey: server.serverKeys.current, key: device.key, now }) };
}

/** The Authorization header of one blob download by `deviceId` holding `device`. */
export function blobAuthorization(server: RunningServer, deviceId: string, device: TestDeviceKey, sha256: string): string {
  return blobRequestAuthorization({ deviceId, serverKey: server.serverKeys.current, sha256, key: device.key, now: new Date() });
}

/** The Authorization header of a blob download by the device whose real agent keeps `stateDir`. */
export async function deviceBlobAuthorization(stateDir: string, server: RunningServer, sha256: string): Promise<string> {
  const stored = JSON.parse(await readFile(path.join(stateDir, 'credential.json'), 'utf8')) as { deviceId: string; privateKey: string };
  return blobRequestAuthorization({ deviceId: stored.deviceId, serverKey: server.serverKeys.current, sha256, key: deviceSigningKey(stored), now: new Date() });
}
