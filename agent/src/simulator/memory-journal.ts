// The job journal and result spool of a simulated device, in memory, with the semantics of
// state/spool.ts Spool (begin / put / pending / ack / inFlight / seen). A simulated device has no
// disk: its pending results live as long as the simulator process.
import type { Job, JobResult } from '../../../schemas/protocol.ts';
import type { JobBegin } from '../state/spool.ts';
import type { ResultJournal } from '../transport/device-link.ts';

interface Entry {
  job?: Job;
  jobId: string;
  startedAt: string;
  result?: JobResult;
  acked: boolean;
  ackedAt?: number;
}

export class MemoryJournal implements ResultJournal {
  private readonly entries = new Map<string, Entry>();
  private ackSeq = 0;

  constructor(
    private readonly now: () => Date = () => new Date(),
    /** Acknowledged entries kept for replay detection. */
    private readonly retain = 200,
  ) {}

  async begin(job: Job): Promise<JobBegin> {
    const existing = this.entries.get(job.idempotencyKey);
    if (existing?.result) return { state: 'completed', result: existing.result };
    if (existing) return { state: 'interrupted', startedAt: existing.startedAt };
    this.entries.set(job.idempotencyKey, { job, jobId: job.id, startedAt: this.now().toISOString(), acked: false });
    return { state: 'new' };
  }

  async put(result: JobResult): Promise<void> {
    const existing = this.entries.get(result.idempotencyKey);
    this.entries.set(result.idempotencyKey, {
      jobId: result.jobId,
      startedAt: existing?.startedAt ?? result.startedAt,
      result,
      acked: false,
    });
  }

  async seen(idempotencyKey: string): Promise<JobResult | undefined> {
    return this.entries.get(idempotencyKey)?.result;
  }

  async pending(): Promise<JobResult[]> {
    return [...this.entries.values()]
      .filter((e) => e.result && !e.acked)
      .map((e) => e.result!)
      .sort((a, b) => cmp(a.finishedAt, b.finishedAt) || cmp(a.jobId, b.jobId));
  }

  async ack(jobId: string): Promise<boolean> {
    let found = false;
    for (const entry of this.entries.values()) {
      if (entry.jobId !== jobId || !entry.result || entry.acked) continue;
      entry.acked = true;
      entry.ackedAt = ++this.ackSeq;
      found = true;
    }
    if (found) this.prune();
    return found;
  }

  async inFlight(): Promise<Job[]> {
    return [...this.entries.values()]
      .filter((e) => !e.result && e.job)
      .sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.jobId, b.jobId))
      .map((e) => e.job!);
  }

  private prune(): void {
    const acked = [...this.entries].filter(([, e]) => e.acked).sort(([, a], [, b]) => (b.ackedAt ?? 0) - (a.ackedAt ?? 0));
    for (const [key] of acked.slice(this.retain)) this.entries.delete(key);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
