// The device credential issued at enrollment: <stateDir>/credential.json, mode 0600, written
// atomically. Its content is a secret: errors about it never quote it.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AgentError } from '../errors.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';

export interface Credentials {
  deviceId: string;
  credential: string;
}

export function credentialsPath(stateDir: string): string {
  return path.join(stateDir, 'credential.json');
}

/** undefined when the agent has not enrolled yet. */
export async function readCredentials(stateDir: string): Promise<Credentials | undefined> {
  let text: string;
  try {
    text = await readFile(credentialsPath(stateDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgentError('state.corrupt', `${credentialsPath(stateDir)} is not valid JSON`);
  }
  if (!isCredentials(value)) {
    throw new AgentError('state.corrupt', `${credentialsPath(stateDir)} lacks deviceId or credential`);
  }
  return { deviceId: value.deviceId, credential: value.credential };
}

export async function writeCredentials(stateDir: string, credentials: Credentials): Promise<void> {
  if (!isCredentials(credentials)) throw new AgentError('state.invalid', 'deviceId and credential must be non-empty strings');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const body = { deviceId: credentials.deviceId, credential: credentials.credential };
  await writeFileAtomic(credentialsPath(stateDir), `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
}

function isCredentials(value: unknown): value is Credentials {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.deviceId === 'string' && v.deviceId !== '' && typeof v.credential === 'string' && v.credential !== '';
}
