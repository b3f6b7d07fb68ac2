// Revisions (PostgreSQL): every oid the source resolved; see sqlite-revisions.ts.
import type { RevisionInput, RevisionRecord } from './store.ts';
import { StoreError } from './store.ts';
import { iso, limitOf } from './store-values.ts';
import { REVISION_COLUMNS as COLUMNS, toRevision as toRecord, type RevisionRow } from './store-rows.ts';
import { REVISION_INSERT, revisionValues } from './store-rules.ts';
import { params, type PgContext } from './pg-util.ts';
import type { RevisionsPart } from './store-parts.ts';

export function pgRevisions({ db, now }: PgContext): RevisionsPart {
  return {
    async recordRevision(input: RevisionInput) {
      const seenAt = input.seenAt === undefined ? now() : iso(input.seenAt, 'seenAt');
      const values = revisionValues(input, seenAt);
      return db.transaction(async (c) => {
        // ON CONFLICT waits for a concurrent insert of the oid to commit, then the UPDATE sees it.
        const inserted = await c.get<RevisionRow>(
          `INSERT INTO revisions (${REVISION_INSERT}) VALUES (${params(values.length)})
           ON CONFLICT (oid) DO NOTHING
           RETURNING ${COLUMNS}`,
          values,
        );
        if (inserted) return { created: true, revision: toRecord(inserted) };
        const existing = await c.get<RevisionRow>(
          `UPDATE revisions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE oid = $2 RETURNING ${COLUMNS}`,
          [seenAt, input.oid],
        );
        if (!existing) throw new StoreError('store.internal', `revision ${input.oid} vanished`);
        return { created: false, revision: toRecord(existing) };
      });
    },

    async listRevisions({ limit, before, errorsPerRevision }) {
      limitOf(limit);
      const toListed = (row: RevisionRow): RevisionRecord => toRecord(row, errorsPerRevision);
      return db.read(async (c) => {
        if (before === undefined) {
          const rows = await c.all<RevisionRow>(
            `SELECT ${COLUMNS} FROM revisions ORDER BY seen_at DESC, seq DESC LIMIT $1`,
            [limit],
          );
          return rows.map(toListed);
        }
        const cursor = await c.get<{ seen_at: string; seq: number }>('SELECT seen_at, seq FROM revisions WHERE oid = $1', [before]);
        if (!cursor) throw new StoreError('store.invalid', `unknown revision cursor ${before}`);
        const rows = await c.all<RevisionRow>(
          `SELECT ${COLUMNS} FROM revisions WHERE (seen_at, seq) < ($1, $2)
           ORDER BY seen_at DESC, seq DESC LIMIT $3`,
          [cursor.seen_at, cursor.seq, limit],
        );
        return rows.map(toListed);
      });
    },

    async getRevision(oid) {
      const row = await db.read((c) => c.get<RevisionRow>(`SELECT ${COLUMNS} FROM revisions WHERE oid = $1`, [oid]));
      return row && toRecord(row);
    },

    async latestAccepted() {
      const row = await db.read((c) =>
        c.get<RevisionRow>(
          `SELECT ${COLUMNS} FROM revisions WHERE status = 'accepted'
           ORDER BY last_seen_at DESC, seq DESC LIMIT 1`,
        ),
      );
      return row && toRecord(row);
    },
  };
}
