// Jobs: created once per idempotency key, dispatched, finished by exactly one agent result.
import type { JobResult, JobState, Step } from '../../../../schemas/protocol.ts';
import type { DesiredResource } from '../../core/model.ts';
import type { CreateJobsResult, JobRecord, NewJob, RecordResultOutcome, Store } from './store.ts';
import { FINAL_JOB_STATES, JOB_STATES, StoreError } from './store.ts';
import { chunkRows, placeholders, type Conn, type SqlValue } from './sqlite-db.ts';
import { idList, iso, limitOf, serialise, setIf, type SqliteContext } from './sqlite-util.ts';
import { observationOrder } from '../../core/observation-order.ts';
import { mergeObserved, type ObservedDelta } from './sqlite-reports.ts';

type JobsPart = Pick<
  Store,
  | 'createJobs'
  | 'markDispatched'
  | 'markRunning'
  | 'markRunningMany'
  | 'recordJobResult'
  | 'recordJobResults'
  | 'pendingJobs'
  | 'listJobs'
  | 'getJob'
  | 'countJobsByState'
  | 'cancelJobs'
  | 'getJobsMany'
  | 'openJobsMany'
  | 'rolloutJobsMany'
  | 'markJobsLost'
>;

interface JobRow {
  id: string;
  device_id: string;
  revision: string;
  idempotency_key: string;
  steps: string;
  state: JobState;
  created_at: string;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  result: string | null;
  reason: string | null;
  rollout_id: string | null;
  resources: string;
}

const COLUMNS =
  'id, device_id, revision, idempotency_key, steps, state, created_at, dispatched_at, started_at, ' +
  'finished_at, attempts, result, rollout_id, resources, reason';

/** SQL list of the states a job is still open in (not final). */
const OPEN = `('pending', 'dispatched', 'running')`;

/** A result with its JSON text, made before the transaction; undefined when it cannot be serialised. */
interface SerialisedResult {
  result: JobResult;
  text: string | undefined;
}

function serialiseResults(results: readonly JobResult[]): SerialisedResult[] {
  return results.map((result) => ({ result, text: serialise(result) }));
}

export function sqliteJobs({ db, now }: SqliteContext): JobsPart {
  async function recordResults(c: Conn, serialised: readonly SerialisedResult[], at: string): Promise<RecordResultOutcome[]> {
    const stored = new Map<string, { id: string; device_id: string; has_result: number }>();
    const keys = [...new Set(serialised.map((r) => r.result.idempotencyKey))];
    const rows = await c.all<{ id: string; idempotency_key: string; device_id: string; has_result: number }>(
      `SELECT id, idempotency_key, device_id, result IS NOT NULL AS has_result FROM jobs
       WHERE idempotency_key IN (SELECT value FROM json_each(?))`,
      [idList(keys)],
    );
    for (const row of rows) stored.set(row.idempotency_key, row);

    const outcomes: RecordResultOutcome[] = [];
    const updates: SqlValue[][] = [];
    const observed = new Map<string, ObservedDelta[]>();
    for (const { result, text } of serialised) {
      const job = stored.get(result.idempotencyKey);
      const base = { jobId: result.jobId, idempotencyKey: result.idempotencyKey };
      let outcome: RecordResultOutcome['outcome'];
      const order = observationOrder(result);
      if (!FINAL_JOB_STATES.includes(result.status) || text === undefined || order === 'invalid') outcome = 'invalid';
      else if (!job) outcome = 'unknown';
      else if (job.id !== result.jobId) outcome = 'conflict';
      else if (job.has_result) outcome = 'duplicate';
      else {
        outcome = 'recorded';
        job.has_result = 1; // a second copy later in this batch is a duplicate
        updates.push([
          job.id,
          result.status,
          isoOrNullLoose(result.startedAt),
          at,
          text,
        ]);
        if (Array.isArray(result.observed) && result.observed.length > 0) {
          observed.set(job.device_id, [...(observed.get(job.device_id) ?? []), { resources: result.observed, order }]);
        }
      }
      outcomes.push({ ...base, outcome });
    }

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
      const rows = jobs.map((j): SqlValue[] => [
        j.id,
        j.deviceId,
        j.revision,
        j.idempotencyKey,
        JSON.stringify(j.steps),
        'pending',
        iso(j.createdAt, 'createdAt'),
        j.rolloutId ?? null,
        JSON.stringify(j.resources ?? {}),
      ]);
      return db.transaction(async (c) => {
        const created = new Set<string>();
        for (const chunk of chunkRows(rows, 9)) {
          const inserted = await c.all<{ id: string }>(
            `INSERT INTO jobs (id, device_id, revision, idempotency_key, steps, state, created_at, rollout_id, resources)
             VALUES ${placeholders(chunk.length, 9)}
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
            chunk.flat(),
          );
          for (const row of inserted) created.add(row.id);
        }
        const missing = jobs.filter((j) => !created.has(j.id));
        const duplicates: CreateJobsResult['duplicates'] = [];
        if (missing.length > 0) {
          const existing = await c.all<{ id: string; idempotency_key: string }>(
            `SELECT id, idempotency_key FROM jobs WHERE idempotency_key IN (SELECT value FROM json_each(?))`,
            [idList(missing.map((j) => j.idempotencyKey))],
          );
          const byKey = new Map(existing.map((e) => [e.idempotency_key, e.id]));
          for (const j of missing) {
            duplicates.push({
              id: j.id,
              idempotencyKey: j.idempotencyKey,
              existingId: byKey.get(j.idempotencyKey) ?? j.id,
            });
          }
        }
        return { created: jobs.filter((j) => created.has(j.id)).map((j) => j.id), duplicates };
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
        if (outcome?.outcome === 'unknown') {
          throw new StoreError('store.not-found', `no job with idempotency key ${result.idempotencyKey}`);
        }
        if (outcome?.outcome === 'invalid') {
          throw new StoreError('store.invalid', `the result of job ${result.jobId} has a status that is not final or cannot be stored`);
        }
        if (outcome?.outcome === 'conflict') {
          throw new StoreError(
            'store.conflict',
            `idempotency key ${result.idempotencyKey} belongs to another job than ${result.jobId}`,
          );
        }
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

/** The ids in `rows`, in the caller's order (RETURNING has no defined order). */
function inOrder(ids: readonly string[], rows: ReadonlyArray<{ id: string }>): string[] {
  const moved = new Set(rows.map((r) => r.id));
  return [...new Set(ids)].filter((id) => moved.has(id));
}

/** Agent clocks are not ours to reject: a malformed startedAt is dropped, not an error. */
function isoOrNullLoose(value: string | undefined): string | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function toJob(row: JobRow): JobRecord {
  const job: JobRecord = {
    id: row.id,
    deviceId: row.device_id,
    revision: row.revision,
    idempotencyKey: row.idempotency_key,
    steps: JSON.parse(row.steps) as Step[],
    state: row.state,
    createdAt: row.created_at,
    attempts: row.attempts,
  };
  setIf(job, 'dispatchedAt', row.dispatched_at);
  setIf(job, 'startedAt', row.started_at);
  setIf(job, 'finishedAt', row.finished_at);
  setIf(job, 'result', row.result === null ? null : (JSON.parse(row.result) as JobResult));
  setIf(job, 'rolloutId', row.rollout_id);
  setIf(job, 'reason', row.reason);
  const resources = JSON.parse(row.resources) as Record<string, DesiredResource>;
  if (Object.keys(resources).length > 0) job.resources = resources;
  return job;
}
