// Run records of scripts, one small JSON file per script key under <stateDir>/scripts/, written
// atomically: they survive restarts and decide the `once`, `onChange` and `every` policies.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AgentError } from '../errors.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';

export interface ScriptRunRecord {
  key: string;
  /** Body of the last run that succeeded. */
  appliedSha256?: string;
  lastSuccessAt?: string;
  /** The last run, successful or not. */
  lastRunAt: string;
  lastSha256: string;
  lastExitCode?: number;
  lastStatus: 'succeeded' | 'failed';
}

export class ScriptRunStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'scripts');
  }

  async get(key: string): Promise<ScriptRunRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const record = JSON.parse(text) as ScriptRunRecord;
      if (record.key !== key) throw new Error(`record is for ${record.key}`);
      return record;
    } catch (error) {
      throw new AgentError('state.corrupt', `script run record of ${key}: ${(error as Error).message}`, { cause: error });
    }
  }

  async put(record: ScriptRunRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(record.key), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  }

  private file(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }
}
