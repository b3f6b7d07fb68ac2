// Rollouts: the scheduler's state per rollout, saved whole after every change (loop/rollouts.ts).
import type { ListRolloutsQuery } from './store.ts';
import { ROLLOUT_RECORD_STATUSES, StoreError } from './store.ts';
import type { SqlValue } from './sqlite-db.ts';
import { idList, limitOf, type SqliteContext } from './sqlite-util.ts';
import { ROLLOUT_COLUMNS as COLUMNS, toRollout as toRecord, type RolloutRow } from './store-rows.ts';
import { checkRolloutStatuses, rolloutValues } from './store-rules.ts';
import type { RolloutsPart } from './store-parts.ts';

export function sqliteRollouts({ db }: SqliteContext): RolloutsPart {
  return {
    async saveRollouts(records) {
      if (records.length === 0) return;
      const rows = records.map(rolloutValues);
      await db.transaction(async (c) => {
        for (const row of rows) {
          await c.run(
            `INSERT INTO rollouts (id, revision, profile, status, superseded_by, policy, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET
               status = excluded.status,
               superseded_by = excluded.superseded_by,
               policy = excluded.policy,
               state = excluded.state,
               updated_at = excluded.updated_at`,
            row,
          );
        }
      });
    },

    async getRollout(id) {
      const row = await db.read((c) => c.get<RolloutRow>(`SELECT ${COLUMNS} FROM rollouts WHERE id = ?`, [id]));
      return row && toRecord(row);
    },

    async listRollouts(query: ListRolloutsQuery) {
      limitOf(query.limit);
      const statuses = query.status === undefined ? [] : Array.isArray(query.status) ? query.status : [query.status];
      checkRolloutStatuses(statuses);
      return db.read(async (c) => {
        const where: string[] = [];
        const params: SqlValue[] = [];
        if (statuses.length > 0) {
          where.push('status IN (SELECT value FROM json_each(?))');
          params.push(idList(statuses));
        }
        if (query.before !== undefined) {
          const cursor = await c.get<{ created_at: string; seq: number }>('SELECT created_at, seq FROM rollouts WHERE id = ?', [query.before]);
          if (!cursor) throw new StoreError('store.invalid', `unknown rollout cursor ${query.before}`);
          where.push('(created_at, seq) < (?, ?)');
          params.push(cursor.created_at, cursor.seq);
        }
        const rows = await c.all<RolloutRow>(
          `SELECT ${COLUMNS} FROM rollouts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, seq DESC LIMIT ?`,
          [...params, query.limit],
        );
        return rows.map(toRecord);
      });
    },

    async currentRollouts() {
      const rows = await db.read((c) =>
        c.all<RolloutRow>(
          `SELECT ${COLUMNS} FROM rollouts WHERE status IN (SELECT value FROM json_each(?))
           ORDER BY created_at, seq`,
          [idList(ROLLOUT_RECORD_STATUSES.filter((s) => s !== 'superseded'))],
        ),
      );
      return rows.map(toRecord);
    },
  };
}
