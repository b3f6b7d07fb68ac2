// Jobs (PostgreSQL): created once per idempotency key, dispatched, finished by exactly one agent
// result. See sqlite-jobs.ts.
//
// State moves are single conditional UPDATEs (`… WHERE state IN (…)`): a concurrent move of the
// same job waits for the row lock and re-checks the condition, so a job moves once. Recording
// results reads the jobs first and decides per result, so those rows are locked (`FOR UPDATE`, in
// id order) from the read to the commit: a result delivered twice, to two replicas, is recorded
// once and is a duplicate for the other.
import type { JobState } from '../../../../schemas/protocol.ts';
import type { CreateJobsResult, JobRecord, NewJob, RecordResultOutcome } from './store.ts';
import { JOB_STATES, StoreError } from './store.ts';
import { iso, limitOf } from './store-values.ts';
import { JOB_COLUMNS as COLUMNS, toJob, type JobRow } from './store-rows.ts';
import {
  createdJobs,
  decideResults,
  inOrder,
  JOB_INSERT,
  jobValues,
  resultError,
  serialiseResults,
  type ResultTarget,
  type SerialisedResult,
} from './store-rules.ts';
import type { Conn, SqlValue } from './pg-db.ts';
import { mergeObserved } from './pg-reports.ts';
import { columns, named, type PgContext } from './pg-util.ts';
import type { JobsPart } from './store-parts.ts';

/** SQL list of the states a job is still open in (not final). */
const OPEN = `('pending', 'dispatched', 'running')`;

export function pgJobs({ db, now }: PgContext): JobsPart {
  async function recordResults(c: Conn, serialised: readonly SerialisedResult[], at: string): Promise<RecordResultOutcome[]> {
    const keys = named([...new Set(serialised.map((r) => r.result.idempotencyKey))]);
    const rows = await c.all<ResultTarget>(
      `SELECT id, idempotency_key, device_id, CASE WHEN result IS NOT NULL THEN 1 ELSE 0 END AS has_result FROM jobs
       WHERE idempotency_key = ANY($1::text[]) ORDER BY id FOR UPDATE`,
      [keys],
    );
    const { outcomes, updates, observed } = decideResults(serialised, new Map(rows.map((row) => [row.idempotency_key, row])), at);
    if (updates.length > 0) {
      const v = columns(updates, ['text', 'text', 'text', 'text', 'text']);
      await c.run(
        `UPDATE jobs SET state = v.state, started_at = coalesce(jobs.started_at, v.started_at),
           finished_at = v.finished_at, result = v.result, reason = NULL
         FROM ${v.sql} AS v (id, state, started_at, finished_at, result)
         WHERE jobs.id = v.id AND jobs.result IS NULL`,
        v.values,
      );
    }
    // The job's resources as observed after it ran are fresher than the device's last report.
    await mergeObserved(c, observed);
    return outcomes;
  }

  return {
    async createJobs(jobs: NewJob[]): Promise<CreateJobsResult> {
      if (jobs.length === 0) return { created: [], duplicates: [] };
      const v = columns(jobs.map(jobValues), ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text']);
      return db.transaction(async (c) => {
        const inserted = await c.all<{ id: string }>(
          `INSERT INTO jobs (${JOB_INSERT}) SELECT * FROM ${v.sql}
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
          v.values,
        );
        const created = new Set(inserted.map((row) => row.id));
        const missing = jobs.filter((j) => !created.has(j.id));
        const existing =
          missing.length === 0
            ? []
            : await c.all<{ id: string; idempotency_key: string }>('SELECT id, idempotency_key FROM jobs WHERE idempotency_key = ANY($1::text[])', [
                missing.map((j) => j.idempotencyKey),
              ]);
        return createdJobs(jobs, created, existing);
      });
    },

    async markDispatched(ids, at) {
      if (ids.length === 0) return [];
      const t = iso(at, 'now');
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'dispatched', dispatched_at = $1, attempts = attempts + 1
           WHERE id = ANY($2::text[]) AND state IN ('pending', 'dispatched')
           RETURNING id`,
          [t, named(ids)],
        ),
      );
      return inOrder(ids, rows);
    },

    async markJobsLost(jobs, reason, at) {
      if (jobs.length === 0) return [];
      const t = iso(at, 'now');
      const lost = columns(
        jobs.filter((j) => named([j.id, j.deviceId]).length === 2).map((j) => [j.id, j.deviceId, iso(j.before, 'before')]),
        ['text', 'text', 'text'],
      );
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'failed', finished_at = $4, reason = $5
           FROM ${lost.sql} AS lost (id, device_id, before)
           WHERE jobs.id = lost.id AND jobs.device_id = lost.device_id AND jobs.state IN ('dispatched', 'running')
             AND jobs.result IS NULL AND jobs.dispatched_at < lost.before
           RETURNING jobs.id AS id`,
          [...lost.values, t, reason],
        ),
      );
      return rows.map((r) => r.id);
    },

    async markRunning(id, at) {
      const t = iso(at, 'now');
      return db.transaction(async (c) => {
        const { changes } = await c.run(
          `UPDATE jobs SET state = 'running', started_at = $1 WHERE id = $2 AND state IN ('pending', 'dispatched')`,
          [t, id],
        );
        if (changes > 0) return true;
        if (!(await c.get('SELECT 1 FROM jobs WHERE id = $1', [id]))) {
          throw new StoreError('store.not-found', `no job ${id}`);
        }
        return false;
      });
    },

    async markRunningMany(jobs, at) {
      if (jobs.length === 0) return [];
      const t = iso(at, 'now');
      const started = columns(
        jobs.filter((j) => named([j.id, j.deviceId]).length === 2).map((j) => [j.id, j.deviceId]),
        ['text', 'text'],
      );
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'running', started_at = $3
           FROM ${started.sql} AS started (id, device_id)
           WHERE jobs.id = started.id AND jobs.device_id = started.device_id AND jobs.state IN ('pending', 'dispatched')
           RETURNING jobs.id AS id`,
          [...started.values, t],
        ),
      );
      return rows.map((r) => r.id);
    },

    async recordJobResult(result, at) {
      const t = iso(at, 'now');
      const serialised = serialiseResults([result]);
      return db.transaction(async (c) => {
        const [outcome] = await recordResults(c, serialised, t);
        const refused = resultError(outcome, result);
        if (refused) throw refused;
        const row = await c.get<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [result.jobId]);
        if (!row) throw new StoreError('store.internal', `job ${result.jobId} vanished`);
        return { duplicate: outcome?.outcome === 'duplicate', job: toJob(row) };
      });
    },

    async recordJobResults(results, at) {
      if (results.length === 0) return [];
      const t = iso(at, 'now');
      const serialised = serialiseResults(results);
      return db.transaction((c) => recordResults(c, serialised, t));
    },

    async pendingJobs(deviceId) {
      const rows = await db.read((c) =>
        c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs WHERE device_id = $1 AND state IN ('pending', 'dispatched') ORDER BY created_at, seq`,
          [deviceId],
        ),
      );
      return rows.map(toJob);
    },

    async listJobs({ deviceId, state, limit, before }) {
      limitOf(limit);
      const where: string[] = [];
      const values: SqlValue[] = [];
      const param = (value: SqlValue): string => {
        values.push(value);
        return `$${values.length}`;
      };
      if (deviceId !== undefined) where.push(`device_id = ${param(deviceId)}`);
      const states = state === undefined ? [] : Array.isArray(state) ? state : [state];
      if (states.length > 0) where.push(`state = ANY(${param(states)}::text[])`);
      return db.read(async (c) => {
        if (before !== undefined) {
          const cursor = await c.get<{ created_at: string; seq: number }>('SELECT created_at, seq FROM jobs WHERE id = $1', [before]);
          if (!cursor) throw new StoreError('store.invalid', `unknown job cursor ${before}`);
          where.push(`(created_at, seq) < (${param(cursor.created_at)}, ${param(cursor.seq)})`);
        }
        const rows = await c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, seq DESC LIMIT ${param(limit)}`,
          values,
        );
        return rows.map(toJob);
      });
    },

    async rolloutJobsMany(rolloutId, deviceIds) {
      const rows = await db.read((c) =>
        c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs WHERE rollout_id = $1 AND device_id = ANY($2::text[]) ORDER BY created_at, seq`,
          [rolloutId, named(deviceIds)],
        ),
      );
      // Oldest first: the newest of each device is the one left in the map.
      return new Map(rows.map((row) => [row.device_id, toJob(row)]));
    },

    async getJobsMany(ids) {
      const rows = await db.read((c) => c.all<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = ANY($1::text[])`, [named(ids)]));
      return new Map(rows.map((row) => [row.id, toJob(row)]));
    },

    async openJobsMany(deviceIds) {
      const rows = await db.read((c) =>
        c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs WHERE state IN ${OPEN} AND device_id = ANY($1::text[]) ORDER BY created_at, seq`,
          [named(deviceIds)],
        ),
      );
      const byDevice = new Map<string, JobRecord[]>(deviceIds.map((id) => [id, []]));
      for (const row of rows) byDevice.get(row.device_id)?.push(toJob(row));
      return byDevice;
    },

    async getJob(id) {
      const row = await db.read((c) => c.get<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]));
      return row && toJob(row);
    },

    async countJobsByState() {
      const rows = await db.read((c) => c.all<{ state: JobState; n: number }>('SELECT state, count(*) AS n FROM jobs GROUP BY state'));
      const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
      for (const row of rows) counts[row.state] = row.n;
      return counts;
    },

    async cancelJobs(ids, at) {
      if (ids.length === 0) return [];
      const t = at === undefined ? now() : iso(at, 'now');
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'cancelled', finished_at = $1
           WHERE id = ANY($2::text[]) AND state IN ${OPEN}
           RETURNING id`,
          [t, named(ids)],
        ),
      );
      return inOrder(ids, rows);
    },
  };
}
