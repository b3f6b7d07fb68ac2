// Jobs: created once per idempotency key, dispatched, finished by exactly one agent result.
import type { JobState } from '../../../../schemas/protocol.ts';
import type { CreateJobsResult, JobRecord, NewJob, RecordResultOutcome } from './store.ts';
import { JOB_STATES, StoreError } from './store.ts';
import { chunkRows, placeholders, type Conn, type SqlValue } from './sqlite-db.ts';
import { idList, iso, limitOf, type SqliteContext } from './sqlite-util.ts';
import { mergeObserved } from './sqlite-reports.ts';
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
import type { JobsPart } from './store-parts.ts';

/** SQL list of the states a job is still open in (not final). */
const OPEN = `('pending', 'dispatched', 'running')`;

export function sqliteJobs({ db, now }: SqliteContext): JobsPart {
  async function recordResults(c: Conn, serialised: readonly SerialisedResult[], at: string): Promise<RecordResultOutcome[]> {
    const keys = [...new Set(serialised.map((r) => r.result.idempotencyKey))];
    const rows = await c.all<ResultTarget>(
      `SELECT id, idempotency_key, device_id, CASE WHEN result IS NOT NULL THEN 1 ELSE 0 END AS has_result FROM jobs
       WHERE idempotency_key IN (SELECT value FROM json_each(?))`,
      [idList(keys)],
    );
    const { outcomes, updates, observed } = decideResults(serialised, new Map(rows.map((row) => [row.idempotency_key, row])), at);
    for (const chunk of chunkRows(updates, 5)) {
      await c.run(
        `UPDATE jobs SET state = v.column2, started_at = coalesce(started_at, v.column3),
           finished_at = v.column4, result = v.column5, reason = NULL
         FROM (VALUES ${placeholders(chunk.length, 5)}) AS v
         WHERE jobs.id = v.column1 AND jobs.result IS NULL`,
        chunk.flat(),
      );
    }
    // The job's resources as observed after it ran are fresher than the device's last report.
    await mergeObserved(c, observed);
    return outcomes;
  }

  return {
    async createJobs(jobs: NewJob[]): Promise<CreateJobsResult> {
      if (jobs.length === 0) return { created: [], duplicates: [] };
      const rows = jobs.map(jobValues);
      return db.transaction(async (c) => {
        const created = new Set<string>();
        for (const chunk of chunkRows(rows, 9)) {
          const inserted = await c.all<{ id: string }>(
            `INSERT INTO jobs (${JOB_INSERT})
             VALUES ${placeholders(chunk.length, 9)}
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
            chunk.flat(),
          );
          for (const row of inserted) created.add(row.id);
        }
        const missing = jobs.filter((j) => !created.has(j.id));
        const existing =
          missing.length === 0
            ? []
            : await c.all<{ id: string; idempotency_key: string }>(
                `SELECT id, idempotency_key FROM jobs WHERE idempotency_key IN (SELECT value FROM json_each(?))`,
                [idList(missing.map((j) => j.idempotencyKey))],
              );
        return createdJobs(jobs, created, existing);
      });
    },

    async markDispatched(ids, at) {
      if (ids.length === 0) return [];
      const t = iso(at, 'now');
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'dispatched', dispatched_at = ?, attempts = attempts + 1
           WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('pending', 'dispatched')
           RETURNING id`,
          [t, idList(ids)],
        ),
      );
      return inOrder(ids, rows);
    },

    async markJobsLost(jobs, reason, at) {
      if (jobs.length === 0) return [];
      const t = iso(at, 'now');
      const lost = JSON.stringify(jobs.map((j) => [j.id, j.deviceId, iso(j.before, 'before')]));
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'failed', finished_at = ?, reason = ?
           FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS device_id,
                        json_extract(value, '$[2]') AS before FROM json_each(?)) AS lost
           WHERE jobs.id = lost.id AND jobs.device_id = lost.device_id AND jobs.state IN ('dispatched', 'running')
             AND jobs.result IS NULL AND jobs.dispatched_at < lost.before
           RETURNING jobs.id AS id`,
          [t, reason, lost],
        ),
      );
      return rows.map((r) => r.id);
    },

    async markRunning(id, at) {
      const t = iso(at, 'now');
      return db.transaction(async (c) => {
        const { changes } = await c.run(
          `UPDATE jobs SET state = 'running', started_at = ? WHERE id = ? AND state IN ('pending', 'dispatched')`,
          [t, id],
        );
        if (changes > 0) return true;
        if (!(await c.get('SELECT 1 FROM jobs WHERE id = ?', [id]))) {
          throw new StoreError('store.not-found', `no job ${id}`);
        }
        return false;
      });
    },

    async markRunningMany(jobs, at) {
      if (jobs.length === 0) return [];
      const t = iso(at, 'now');
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'running', started_at = ?
           FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS device_id FROM json_each(?)) AS started
           WHERE jobs.id = started.id AND jobs.device_id = started.device_id AND jobs.state IN ('pending', 'dispatched')
           RETURNING jobs.id AS id`,
          [t, JSON.stringify(jobs.map((j) => [j.id, j.deviceId]))],
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
        const row = await c.get<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`, [result.jobId]);
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
          // Without statistics the planner prefers jobs_device_created and walks the device's
          // whole history; the partial index holds only open jobs, already in order.
          `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_pending
           WHERE device_id = ? AND state IN ('pending', 'dispatched')
           ORDER BY created_at, seq`,
          [deviceId],
        ),
      );
      return rows.map(toJob);
    },

    async listJobs({ deviceId, state, limit, before }) {
      limitOf(limit);
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (deviceId !== undefined) {
        where.push('device_id = ?');
        params.push(deviceId);
      }
      const states = state === undefined ? [] : Array.isArray(state) ? state : [state];
      if (states.length === 1) {
        // `=` rather than IN lets the index deliver rows already in order.
        where.push('state = ?');
        params.push(states[0] ?? null);
      } else if (states.length > 1) {
        where.push('state IN (SELECT value FROM json_each(?))');
        params.push(idList(states));
      }
      return db.read(async (c) => {
        if (before !== undefined) {
          const cursor = await c.get<{ created_at: string; seq: number }>(
            'SELECT created_at, seq FROM jobs WHERE id = ?',
            [before],
          );
          if (!cursor) throw new StoreError('store.invalid', `unknown job cursor ${before}`);
          where.push('(created_at, seq) < (?, ?)');
          params.push(cursor.created_at, cursor.seq);
        }
        const rows = await c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, seq DESC LIMIT ?`,
          [...params, limit],
        );
        return rows.map(toJob);
      });
    },

    async rolloutJobsMany(rolloutId, deviceIds) {
      const rows = await db.read((c) =>
        c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs
           WHERE rollout_id = ? AND rollout_id IS NOT NULL AND device_id IN (SELECT value FROM json_each(?))
           ORDER BY created_at, seq`,
          [rolloutId, idList(deviceIds)],
        ),
      );
      // Oldest first: the newest of each device is the one left in the map.
      return new Map(rows.map((row) => [row.device_id, toJob(row)]));
    },

    async getJobsMany(ids) {
      const rows = await db.read((c) =>
        c.all<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))`, [idList(ids)]),
      );
      return new Map(rows.map((row) => [row.id, toJob(row)]));
    },

    async openJobsMany(deviceIds) {
      const rows = await db.read((c) =>
        c.all<JobRow>(
          `SELECT ${COLUMNS} FROM jobs WHERE state IN ${OPEN} AND device_id IN (SELECT value FROM json_each(?))
           ORDER BY created_at, seq`,
          [idList(deviceIds)],
        ),
      );
      const byDevice = new Map<string, JobRecord[]>(deviceIds.map((id) => [id, []]));
      for (const row of rows) byDevice.get(row.device_id)?.push(toJob(row));
      return byDevice;
    },

    async getJob(id) {
      const row = await db.read((c) => c.get<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`, [id]));
      return row && toJob(row);
    },

    async countJobsByState() {
      const rows = await db.read((c) =>
        c.all<{ state: JobState; n: number }>('SELECT state, count(*) AS n FROM jobs GROUP BY state'),
      );
      const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
      for (const row of rows) counts[row.state] = row.n;
      return counts;
    },

    async cancelJobs(ids, at) {
      if (ids.length === 0) return [];
      const t = at === undefined ? now() : iso(at, 'now');
      const rows = await db.transaction((c) =>
        c.all<{ id: string }>(
          `UPDATE jobs SET state = 'cancelled', finished_at = ?
           WHERE id IN (SELECT value FROM json_each(?)) AND state IN ${OPEN}
           RETURNING id`,
          [t, idList(ids)],
        ),
      );
      return inOrder(ids, rows);
    },
  };
}
