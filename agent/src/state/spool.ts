// The job journal and result spool, one JSON file per job (keyed by its idempotencyKey) under
// <stateDir>/spool/jobs/, each written atomically and fsynced (system/fs-atomic.ts).
//
//   begin(job)   before running: records the job as started (durably), unless that key is
//                already known — then says whether it completed (return the stored result, do
//                not run again) or was interrupted (the agent died mid-job: run it again; the
//                executors observe first, so re-running a half-done job is safe).
//   put(result)  after running, BEFORE sending: the result is durable from here on.
//   pending()    results not yet acknowledged by the server, oldest first (finishedAt, jobId).
//   ack(jobId)   the server has the result: it leaves pending() but stays known to begin(),
//                so a redelivered job is still answered from the record.
//   inFlight()   jobs started and never finished (found at startup), oldest first.
//
// Acknowledged records beyond `retain` (default 1000, newest kept) are pruned on ack.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Job, JobResult } from '../../../schemas/protocol.ts';
import { AgentError } from '../errors.ts';
import { fsyncDir, writeFileAtomic } from '../system/fs-atomic.ts';
import { readStateText } from './state-json.ts';

export type JobBegin =
  | { state: 'new' }
  | { state: 'interrupted'; startedAt: string }
  | { state: 'completed'; result: JobResult };

interface JobRecord {
  version: 1;
  idempotencyKey: string;
  jobId: string;
  state: 'started' | 'completed';
  startedAt: string;
  /** Kept until the result is acknowledged: what inFlight() re-runs. */
  job?: Job;
  result?: JobResult;
  acked: boolean;
  ackedAt?: string;
}

export interface SpoolOptions {
  now?: () => Date;
  /** Acknowledged records kept for replay detection. */
  retain?: number;
}

export class Spool {
  private constructor(
    private readonly dir: string,
    private readonly now: () => Date,
    private readonly retain: number,
  ) {}

  static async open(stateDir: string, options: SpoolOptions = {}): Promise<Spool> {
    const dir = path.join(stateDir, 'spool', 'jobs');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await fsyncDir(path.dirname(dir));
    return new Spool(dir, options.now ?? (() => new Date()), options.retain ?? 1000);
  }

  async begin(job: Job): Promise<JobBegin> {
    if (typeof job.idempotencyKey !== 'string' || job.idempotencyKey === '' || typeof job.id !== 'string') {
      throw new AgentError('state.invalid', 'a job needs an id and an idempotencyKey');
    }
    const existing = await this.read(this.file(job.idempotencyKey));
    if (existing?.state === 'completed' && existing.result) return { state: 'completed', result: existing.result };
    if (existing?.state === 'started') return { state: 'interrupted', startedAt: existing.startedAt };
    await this.write({
      version: 1,
      idempotencyKey: job.idempotencyKey,
      jobId: job.id,
      state: 'started',
      startedAt: this.now().toISOString(),
      job,
      acked: false,
    });
    return { state: 'new' };
  }

  async put(result: JobResult): Promise<void> {
    if (typeof result.idempotencyKey !== 'string' || result.idempotencyKey === '') {
      throw new AgentError('state.invalid', `result of job ${result.jobId} has no idempotencyKey`);
    }
    const existing = await this.read(this.file(result.idempotencyKey));
    await this.write({
      version: 1,
      idempotencyKey: result.idempotencyKey,
      jobId: result.jobId,
      state: 'completed',
      startedAt: existing?.startedAt ?? result.startedAt,
      ...(existing?.job ? { job: existing.job } : {}),
      result,
      acked: false,
    });
  }

  /** The stored result of a completed job with this key, if any. */
  async seen(idempotencyKey: string): Promise<JobResult | undefined> {
    const record = await this.read(this.file(idempotencyKey));
    return record?.state === 'completed' ? record.result : undefined;
  }

  async pending(): Promise<JobResult[]> {
    const results = (await this.all())
      .filter((r) => r.state === 'completed' && !r.acked && r.result)
      .map((r) => r.result!);
    return results.sort((a, b) => cmp(a.finishedAt, b.finishedAt) || cmp(a.jobId, b.jobId));
  }

  /** True when a pending result with this job id was acknowledged now. */
  async ack(jobId: string): Promise<boolean> {
    const records = await this.all();
    let found = false;
    for (const record of records) {
      if (record.jobId !== jobId || record.state !== 'completed' || record.acked) continue;
      const { job: _job, ...rest } = record;
      await this.write({ ...rest, acked: true, ackedAt: this.now().toISOString() });
      found = true;
    }
    if (found) await this.prune();
    return found;
  }

  async inFlight(): Promise<Job[]> {
    return (await this.all())
      .filter((r) => r.state === 'started' && r.job)
      .sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.jobId, b.jobId))
      .map((r) => r.job!);
  }

  private async prune(): Promise<void> {
    const acked = (await this.all())
      .filter((r) => r.acked)
      .sort((a, b) => cmp(b.ackedAt ?? '', a.ackedAt ?? '') || cmp(b.jobId, a.jobId));
    const excess = acked.slice(this.retain);
    for (const record of excess) await rm(this.file(record.idempotencyKey), { force: true });
    if (excess.length > 0) await fsyncDir(this.dir);
  }

  private async all(): Promise<JobRecord[]> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records: JobRecord[] = [];
    for (const name of names.sort()) {
      const record = await this.read(path.join(this.dir, name));
      if (record) records.push(record);
    }
    return records;
  }

  /** A record that cannot be parsed is moved aside (`.corrupt`) so it never blocks the spool. */
  private async read(file: string): Promise<JobRecord | undefined> {
    const text = await readStateText(file);
    if (text === undefined) return undefined;
    try {
      const record = JSON.parse(text) as JobRecord;
      if (record.version !== 1 || typeof record.idempotencyKey !== 'string') throw new Error('unknown record shape');
      return record;
    } catch {
      await rename(file, `${file}.corrupt`).catch(() => undefined);
      return undefined;
    }
  }

  private async write(record: JobRecord): Promise<void> {
    await writeFileAtomic(this.file(record.idempotencyKey), `${JSON.stringify(record)}\n`, { mode: 0o600 });
  }

  private file(idempotencyKey: string): string {
    return path.join(this.dir, `${createHash('sha256').update(idempotencyKey).digest('hex')}.json`);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
