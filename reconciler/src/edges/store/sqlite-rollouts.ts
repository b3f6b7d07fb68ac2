// Rollouts: the scheduler's state per rollout, saved whole after every change (loop/rollouts.ts).
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import type { RolloutState } from '../../core/rollout/schedule.ts';
import type { ListRolloutsQuery, RolloutRecord, RolloutRecordStatus, Store } from './store.ts';
import { ROLLOUT_RECORD_STATUSES, StoreError } from './store.ts';
import type { SqlValue } from './sqlite-db.ts';
import { idList, iso, limitOf, setIf, type SqliteContext } from './sqlite-util.ts';

type RolloutsPart = Pick<Store, 'saveRollouts' | 'getRollout' | 'listRollouts' | 'currentRollouts'>;

interface RolloutRow {
  seq: number;
  id: string;
  revision: string;
  profile: string | null;
  status: RolloutRecordStatus;
  superseded_by: string | null;
  policy: string;
  state: string;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'seq, id, revision, profile, status, superseded_by, policy, state, created_at, updated_at';

export function sqliteRollouts({ db }: SqliteContext): RolloutsPart {
  return {
    async saveRollouts(records) {
      if (records.length === 0) return;
      const rows = records.map(toRow);
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
      for (const status of statuses) {
        if (!ROLLOUT_RECORD_STATUSES.includes(status)) throw new StoreError('store.invalid', `unknown rollout status ${JSON.stringify(status)}`);
      }
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

function toRow(record: RolloutRecord): SqlValue[] {
  if (!ROLLOUT_RECORD_STATUSES.includes(record.status)) {
    throw new StoreError('store.invalid', `unknown rollout status ${JSON.stringify(record.status)}`);
  }
  if (typeof record.id !== 'string' || record.id === '') throw new StoreError('store.invalid', 'a rollout needs an id');
  return [
    record.id,
    record.revision,
    record.profile ?? null,
    record.status,
    record.supersededBy ?? null,
    JSON.stringify(record.policy),
    JSON.stringify(record.state),
    iso(record.createdAt, 'createdAt'),
    iso(record.updatedAt, 'updatedAt'),
  ];
}

function toRecord(row: RolloutRow): RolloutRecord {
  const record: RolloutRecord = {
    id: row.id,
    revision: row.revision,
    status: row.status,
    policy: JSON.parse(row.policy) as RolloutPolicy,
    state: JSON.parse(row.state) as RolloutState,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  setIf(record, 'profile', row.profile);
  setIf(record, 'supersededBy', row.superseded_by);
  return record;
}
