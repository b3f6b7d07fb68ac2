// The identities (device id and device key) of every simulated device in ONE file,
// `<stateDir>/simulator-credentials.json` (0600, written atomically), so a restarted simulator reconnects as the same devices instead of
// enrolling new ones. Writes are coalesced: 10,000 enrollments in a burst cost a handful of
// file writes, and each device's store() resolves only once a write containing its key is on
// disk — the device acks `enrolled` after that, as a real agent does. A file from before keys
// (version 1, bearer credentials) is read as identities that register a new key with their old
// credential, as a real agent's state does (state/credentials.ts).
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AgentError } from '../errors.ts';
import { newDeviceKey, type Credentials } from '../state/credentials.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';
import type { CredentialStore } from '../transport/connection.ts';

interface FileBody {
  version: 2;
  devices: Record<string, Credentials>;
}

interface LegacyFileBody {
  version: 1;
  devices: Record<string, { deviceId: string; credential: string }>;
}

export class SimulatorCredentialFile {
  private writing: Promise<void> | undefined;
  private dirty = false;
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  private constructor(
    readonly file: string,
    private readonly devices: Map<string, Credentials>,
  ) {}

  static async open(stateDir: string): Promise<SimulatorCredentialFile> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, 'simulator-credentials.json');
    const devices = new Map<string, Credentials>();
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text !== undefined) {
      let body: FileBody | LegacyFileBody;
      try {
        body = JSON.parse(text) as FileBody | LegacyFileBody;
        if ((body.version !== 1 && body.version !== 2) || typeof body.devices !== 'object' || body.devices === null) throw new Error('unknown shape');
      } catch (error) {
        throw new AgentError('state.corrupt', `${file}: ${(error as Error).message}`);
      }
      if (body.version === 2) {
        for (const [name, c] of Object.entries(body.devices)) {
          devices.set(name, { deviceId: c.deviceId, privateKey: c.privateKey, ...(c.legacyCredential === undefined ? {} : { legacyCredential: c.legacyCredential }) });
        }
      } else {
        for (const [name, c] of Object.entries(body.devices)) devices.set(name, { deviceId: c.deviceId, privateKey: newDeviceKey(), legacyCredential: c.credential });
      }
    }
    return new SimulatorCredentialFile(file, devices);
  }

  get size(): number {
    return this.devices.size;
  }

  get(name: string): Credentials | undefined {
    return this.devices.get(name);
  }

  /** Resolves once a file write that includes this identity is durable. */
  store(name: string, credentials: Credentials): Promise<void> {
    this.devices.set(name, { ...credentials });
    this.dirty = true;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.drain();
    return done;
  }

  forDevice(name: string): CredentialStore {
    return { read: async () => this.get(name), write: (c) => this.store(name, c) };
  }

  private async drain(): Promise<void> {
    // Let a burst of enrollments join this write.
    await new Promise((resolve) => setTimeout(resolve, 20));
    try {
      while (this.dirty) {
        this.dirty = false;
        const waiters = this.waiters;
        this.waiters = [];
        const body: FileBody = { version: 2, devices: Object.fromEntries([...this.devices].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
        try {
          await writeFileAtomic(this.file, `${JSON.stringify(body)}\n`, { mode: 0o600 });
          for (const w of waiters) w.resolve();
        } catch (error) {
          for (const w of waiters) w.reject(error);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
