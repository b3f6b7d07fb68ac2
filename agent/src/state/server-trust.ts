// What the agent trusts of its server, in its state dir (each file 0600, written atomically and
// fsynced, system/fs-atomic.ts):
//   server-keys.json    { keys: [{ keyid, publicKey? }] } — the server keys it trusts: the
//                       fingerprint pinned from the enrollment token, then the keys listed by
//                       each verified server hello (how a rotation reaches the agent).
//   job-sequence.json   { deviceId, highest } — the highest job sequence accepted, written BEFORE
//                       the job is journalled or run (a crash after it never lets that job, or
//                       any older one, in again; a redelivery is recognised by the journal).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { TrustedServerKey } from '../core/verify-server.ts';
import { AgentError } from '../errors.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';
import { readStateJson, STATE_REMEDY } from './state-json.ts';

/** Where trusted keys and the job high-water mark live (files here; memory in the simulator). */
export interface ServerTrustStore {
  /** undefined before the first pin. */
  readKeys(): Promise<TrustedServerKey[] | undefined>;
  writeKeys(keys: TrustedServerKey[]): Promise<void>;
  /** 0 when this device accepted no job yet (or the mark was another device's). */
  readHighest(deviceId: string): Promise<number>;
  /** Durable before it resolves. */
  writeHighest(deviceId: string, highest: number): Promise<void>;
}

export function serverKeysPath(stateDir: string): string {
  return path.join(stateDir, 'server-keys.json');
}

export function jobSequencePath(stateDir: string): string {
  return path.join(stateDir, 'job-sequence.json');
}

/**
 * The fingerprint of the server key this agent trusts as the server's current one: the pin from
 * its enrollment token until a verified hello taught it a newer key (the hello lists the current
 * key first). undefined before enrollment. For the device handshake, which names the server key.
 */
export async function readServerKeyFingerprint(stateDir: string): Promise<string | undefined> {
  return (await readJson(serverKeysPath(stateDir), isKeys))?.keys[0]?.keyid;
}

export class ServerTrustFiles implements ServerTrustStore {
  constructor(private readonly stateDir: string) {}

  async readKeys(): Promise<TrustedServerKey[] | undefined> {
    return (await readJson(serverKeysPath(this.stateDir), isKeys))?.keys;
  }

  async writeKeys(keys: TrustedServerKey[]): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(serverKeysPath(this.stateDir), `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  }

  async readHighest(deviceId: string): Promise<number> {
    const mark = await readJson(jobSequencePath(this.stateDir), isMark);
    return mark !== undefined && mark.deviceId === deviceId ? mark.highest : 0;
  }

  async writeHighest(deviceId: string, highest: number): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(jobSequencePath(this.stateDir), `${JSON.stringify({ deviceId, highest })}\n`, { mode: 0o600 });
  }
}

/** The simulator's: as long as the process. */
export class MemoryServerTrust implements ServerTrustStore {
  private keys: TrustedServerKey[] | undefined;
  private readonly marks = new Map<string, number>();
  async readKeys(): Promise<TrustedServerKey[] | undefined> {
    return this.keys;
  }
  async writeKeys(keys: TrustedServerKey[]): Promise<void> {
    this.keys = keys;
  }
  async readHighest(deviceId: string): Promise<number> {
    return this.marks.get(deviceId) ?? 0;
  }
  async writeHighest(deviceId: string, highest: number): Promise<void> {
    this.marks.set(deviceId, highest);
  }
}

async function readJson<T>(file: string, check: (value: unknown) => value is T): Promise<T | undefined> {
  const value = await readStateJson(file);
  if (value === undefined) return undefined;
  if (!check(value)) throw new AgentError('state.corrupt', `${file} is not what the agent wrote; ${STATE_REMEDY}`);
  return value;
}

function isKeys(value: unknown): value is { keys: TrustedServerKey[] } {
  const keys = (value as { keys?: unknown } | null)?.keys;
  return (
    Array.isArray(keys) &&
    keys.every((k) => typeof k === 'object' && k !== null && typeof (k as TrustedServerKey).keyid === 'string' && ((k as TrustedServerKey).publicKey === undefined || typeof (k as TrustedServerKey).publicKey === 'string'))
  );
}

function isMark(value: unknown): value is { deviceId: string; highest: number } {
  const v = value as { deviceId?: unknown; highest?: unknown } | null;
  return typeof v?.deviceId === 'string' && typeof v.highest === 'number' && Number.isSafeInteger(v.highest) && v.highest >= 0;
}

/**
 * The simulator's: the server keys are shared by all its devices (one server) and kept in
 * `<stateDir>/server-keys.json` (a restarted simulator reconnects as the same devices, with no
 * token), written only when they change; job marks live in memory like its journal.
 */
export class SharedServerTrust {
  private cached: string | undefined;
  /** Read once for all devices (10,000 simulated devices, one file). */
  private reading: Promise<TrustedServerKey[] | undefined> | undefined;
  private latest: TrustedServerKey[] | undefined;
  private readonly files: ServerTrustFiles;
  constructor(stateDir: string) {
    this.files = new ServerTrustFiles(stateDir);
  }
  /** A device's view: shared keys, its own marks. */
  forDevice(): ServerTrustStore {
    const marks = new Map<string, number>();
    return {
      readKeys: async () => this.latest ?? (await (this.reading ??= this.files.readKeys())),
      writeKeys: async (keys) => {
        const text = JSON.stringify(keys);
        if (text === this.cached) return;
        this.cached = text;
        this.latest = keys;
        await this.files.writeKeys(keys);
      },
      readHighest: async (deviceId) => marks.get(deviceId) ?? 0,
      writeHighest: async (deviceId, highest) => void marks.set(deviceId, highest),
    };
  }
}
