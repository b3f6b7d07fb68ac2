// Run records and run intents of scripts, under <stateDir>/scripts/, each file written atomically
// and fsynced (system/fs-atomic.ts):
//
//   <hash(key)>.json          the run record: survives restarts, decides `once`, `onChange`,
//                             `every`, and remembers which job's run it was (so a job resumed
//                             after a crash never runs the body a second time).
//   <hash(key)>.intent.json   the run intent: written BEFORE the body starts, removed once the
//                             run's outcome is in the run record. Found at a later start, it says
//                             a run was under way when the agent died: its process identity
//                             (pid, boot, start time) and its run directory.
//   runs/<runId>/             the run's files: the body, stdout, stderr and `exit` (the exit
//                             status, written by the run's wrapper when the body ends, so an
//                             agent that did not start the process can still collect it).
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { OnInterrupt } from '../../../schemas/kinds.ts';
import { AgentError } from '../errors.ts';
import { fsyncDir, writeFileAtomic } from '../system/fs-atomic.ts';
import { readStateText } from './state-json.ts';

export interface ScriptRunRecord {
  key: string;
  /** Body of the last run that succeeded. */
  appliedSha256?: string;
  lastSuccessAt?: string;
  /** The last run, successful or not. */
  lastRunAt: string;
  lastSha256: string;
  lastExitCode?: number;
  /** `interrupted`: the agent died during the run and the run vanished without an exit status. */
  lastStatus: 'succeeded' | 'failed' | 'interrupted';
  /** The job of the last run: a resumed job finds its run here and does not run it again. */
  lastIdempotencyKey?: string;
  /** Why the last run failed (`script.timeout: …`), for a replayed outcome. */
  lastError?: string;
}

export interface ScriptRunIntent {
  version: 1;
  key: string;
  /** Names the run directory; unique per run. */
  runId: string;
  sha256: string;
  jobId?: string;
  idempotencyKey?: string;
  startedAt: string;
  timeoutSeconds: number;
  successExitCodes: number[];
  onInterrupt: OnInterrupt;
  /** Set once the process is started: the group leader (the wrapper) and who it is. */
  pid?: number;
  bootId?: string;
  startTicks?: string;
}

export class ScriptRunStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'scripts');
  }

  async get(key: string): Promise<ScriptRunRecord | undefined> {
    const record = await this.readJson<ScriptRunRecord>(this.file(key), key);
    if (record !== undefined && record.key !== key) throw corrupt(key, `record is for ${record.key}`);
    return record;
  }

  async put(record: ScriptRunRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(record.key), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  }

  async getIntent(key: string): Promise<ScriptRunIntent | undefined> {
    const intent = await this.readJson<ScriptRunIntent>(this.intentFile(key), key);
    if (intent !== undefined && (intent.key !== key || !/^[0-9a-f]{16,64}$/.test(intent.runId))) {
      throw corrupt(key, 'run intent does not belong to this script');
    }
    return intent;
  }

  /** Durable when it returns: a crash from here on leaves the intent for the next start. */
  async putIntent(intent: ScriptRunIntent): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.intentFile(intent.key), `${JSON.stringify(intent)}\n`, { mode: 0o600 });
  }

  /** Forgets a settled run: its intent, then its files. */
  async removeIntent(intent: ScriptRunIntent): Promise<void> {
    await rm(this.intentFile(intent.key), { force: true });
    await fsyncDir(this.dir);
    await rm(this.runDir(intent.runId), { recursive: true, force: true });
  }

  /** Intents found on disk (a start after a crash); unreadable ones are left out. */
  async intents(): Promise<ScriptRunIntent[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const intents: ScriptRunIntent[] = [];
    for (const name of names.filter((n) => n.endsWith('.intent.json')).sort()) {
      const text = await readFile(path.join(this.dir, name), 'utf8').catch(() => undefined);
      try {
        if (text !== undefined) intents.push(JSON.parse(text) as ScriptRunIntent);
      } catch {
        // Settled (and reported corrupt) when its script runs next.
      }
    }
    return intents;
  }

  runDir(runId: string): string {
    return path.join(this.dir, 'runs', runId);
  }

  private file(key: string): string {
    return path.join(this.dir, `${hashKey(key)}.json`);
  }

  private intentFile(key: string): string {
    return path.join(this.dir, `${hashKey(key)}.intent.json`);
  }

  private async readJson<T>(file: string, key: string): Promise<T | undefined> {
    const text = await readStateText(file);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw corrupt(key, (error as Error).message, error);
    }
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function corrupt(key: string, why: string, cause?: unknown): AgentError {
  return new AgentError('state.corrupt', `script run state of ${key}: ${why}; remove it from the state directory to go on`, { cause });
}
