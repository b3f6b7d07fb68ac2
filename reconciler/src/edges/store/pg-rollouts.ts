// Rollouts (PostgreSQL): the scheduler's state per rollout, saved whole after every change. See
// sqlite-rollouts.ts.
import type { ListRolloutsQuery } from './store.ts';
import { ROLLOUT_RECORD_STATUSES, StoreError } from './store.ts';
import { lastByKey, limitOf } from './store-values.ts';
import { ROLLOUT_COLUMNS as COLUMNS, toRollout as toRecord, type RolloutRow } from './store-rows.ts';
import { checkRolloutStatuses, rolloutValues } from './store-rules.ts';
import type { SqlValue } from './pg-db.ts';
import { columns, type PgContext } from './pg-util.ts';
import type { RolloutsPart } from './store-parts.ts';

export function pgRollouts({ db }: PgContext): RolloutsPart {
  return {
    async saveRollouts(records) {
      if (records.length === 0) return;
      // One upsert for the batch; a rollout saved twice in it keeps its last save.
      const v = columns(
        lastByKey(records.map(rolloutValues), (row) => String(row[0])),
        ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'],
      );
      await db.transaction((c) =>
        c.run(
          `INSERT INTO rollouts (id, revision, profile, status, superseded_by, policy, state, created_at, updated_at)
           SELECT * FROM ${v.sql}
           ON CONFLICT (id) DO UPDATE SET
             status = excluded.status,
             superseded_by = excluded.superseded_by,
             policy = excluded.policy,
             state = excluded.state,
             updated_at = excluded.updated_at`,
          v.values,
        ),
      );
    },

    async getRollout(id) {
      const row = await db.read((c) => c.get<RolloutRow>(`SELECT ${COLUMNS} FROM rollouts WHERE id = $1`, [id]));
      return row && toRecord(row);
    },

    async listRollouts(query: ListRolloutsQuery) {
      limitOf(query.limit);
      const statuses = query.status === undefined ? [] : Array.isArray(query.status) ? query.status : [query.status];
      checkRolloutStatuses(statuses);
      return db.read(async (c) => {
        const where: string[] = [];
        const values: SqlValue[] = [];
        if (statuses.length > 0) {
          values.push(statuses);
          where.push(`status = ANY($${values.length}::text[])`);
        }
        if (query.before !== undefined) {
          const cursor = await c.get<{ created_at: string; seq: number }>('SELECT created_at, seq FROM rollouts WHERE id = $1', [query.before]);
          if (!cursor) throw new StoreError('store.invalid', `unknown rollout cursor ${query.before}`);
          values.push(cursor.created_at, cursor.seq);
          where.push(`(created_at, seq) < ($${values.length - 1}, $${values.length})`);
        }
        values.push(query.limit);
        const rows = await c.all<RolloutRow>(
          `SELECT ${COLUMNS} FROM rollouts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, seq DESC LIMIT $${values.length}`,
          values,
        );
        return rows.map(toRecord);
      });
    },

    async currentRollouts() {
      const rows = await db.read((c) =>
        c.all<RolloutRow>(`SELECT ${COLUMNS} FROM rollouts WHERE status = ANY($1::text[]) ORDER BY created_at, seq`, [
          ROLLOUT_RECORD_STATUSES.filter((s) => s !== 'superseded'),
        ]),
      );
      return rows.map(toRecord);
    },
  };
}
