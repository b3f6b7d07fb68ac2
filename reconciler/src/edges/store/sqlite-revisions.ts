// Revisions: every oid the source resolved, accepted or rejected with its first
// REVISION_ERRORS_KEPT errors and their total, and the commit's verified signer (migration 013).
import type { RevisionInput, RevisionRecord } from './store.ts';
import { StoreError } from './store.ts';
import { iso, limitOf, type SqliteContext } from './sqlite-util.ts';
import { REVISION_COLUMNS as COLUMNS, toRevision as toRecord, type RevisionRow } from './store-rows.ts';
import { REVISION_INSERT, revisionValues } from './store-rules.ts';
import type { RevisionsPart } from './store-parts.ts';

export function sqliteRevisions({ db, now }: SqliteContext): RevisionsPart {
  return {
    async recordRevision(input: RevisionInput) {
      const seenAt = input.seenAt === undefined ? now() : iso(input.seenAt, 'seenAt');
      const values = revisionValues(input, seenAt);
      return db.transaction(async (c) => {
        const inserted = await c.get<RevisionRow>(
          `INSERT INTO revisions (${REVISION_INSERT})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (oid) DO NOTHING
           RETURNING ${COLUMNS}`,
          values,
        );
        if (inserted) return { created: true, revision: toRecord(inserted) };
        const existing = await c.get<RevisionRow>(
          `UPDATE revisions SET last_seen_at = max(last_seen_at, ?) WHERE oid = ? RETURNING ${COLUMNS}`,
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
            `SELECT ${COLUMNS} FROM revisions ORDER BY seen_at DESC, seq DESC LIMIT ?`,
            [limit],
          );
          return rows.map(toListed);
        }
        const cursor = await c.get<{ seen_at: string; seq: number }>(
          'SELECT seen_at, seq FROM revisions WHERE oid = ?',
          [before],
        );
        if (!cursor) throw new StoreError('store.invalid', `unknown revision cursor ${before}`);
        const rows = await c.all<RevisionRow>(
          `SELECT ${COLUMNS} FROM revisions WHERE (seen_at, seq) < (?, ?)
           ORDER BY seen_at DESC, seq DESC LIMIT ?`,
          [cursor.seen_at, cursor.seq, limit],
        );
        return rows.map(toListed);
      });
    },

    async getRevision(oid) {
      const row = await db.read((c) =>
        c.get<RevisionRow>(`SELECT ${COLUMNS} FROM revisions WHERE oid = ?`, [oid]),
      );
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
