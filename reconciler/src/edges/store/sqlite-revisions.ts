// Revisions: every oid the source resolved, accepted or rejected with its first
// REVISION_ERRORS_KEPT errors and their total, and the commit's verified signer (migration 013).
import type { CommitSigner } from '../../../../schemas/protocol.ts';
import type { RevisionInput, RevisionRecord, Store } from './store.ts';
import { REVISION_ERRORS_KEPT, StoreError } from './store.ts';
import { iso, limitOf, type SqliteContext } from './sqlite-util.ts';

type RevisionsPart = Pick<Store, 'recordRevision' | 'listRevisions' | 'getRevision' | 'latestAccepted'>;

interface RevisionRow {
  seq: number;
  oid: string;
  revision: string;
  branch: string;
  author: string;
  message: string;
  committed_at: string;
  seen_at: string;
  last_seen_at: string;
  status: 'accepted' | 'rejected';
  errors: string;
  error_count: number;
  signer: string | null;
}

const COLUMNS =
  'seq, oid, revision, branch, author, message, committed_at, seen_at, last_seen_at, status, errors, error_count, signer';

export function sqliteRevisions({ db, now }: SqliteContext): RevisionsPart {
  return {
    async recordRevision(input: RevisionInput) {
      const seenAt = input.seenAt === undefined ? now() : iso(input.seenAt, 'seenAt');
      const committedAt = iso(input.committedAt, 'committedAt');
      return db.transaction(async (c) => {
        const inserted = await c.get<RevisionRow>(
          `INSERT INTO revisions
             (oid, revision, branch, author, message, committed_at, seen_at, last_seen_at, status, errors, error_count, signer)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (oid) DO NOTHING
           RETURNING ${COLUMNS}`,
          [
            input.oid,
            input.revision,
            input.branch,
            input.author,
            input.message,
            committedAt,
            seenAt,
            seenAt,
            input.status,
            JSON.stringify(input.errors.slice(0, REVISION_ERRORS_KEPT)),
            input.errors.length,
            input.signer === undefined ? null : JSON.stringify({ method: input.signer.method, fingerprint: input.signer.fingerprint, identity: input.signer.identity }),
          ],
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

function toRecord(row: RevisionRow, maxErrors?: number): RevisionRecord {
  const errors = JSON.parse(row.errors) as RevisionRecord['errors'];
  return {
    revision: row.revision,
    oid: row.oid,
    branch: row.branch,
    author: row.author,
    message: row.message,
    committedAt: row.committed_at,
    seenAt: row.seen_at,
    lastSeenAt: row.last_seen_at,
    status: row.status,
    errors: maxErrors === undefined ? errors : errors.slice(0, maxErrors),
    errorCount: row.error_count,
    ...(row.signer === null ? {} : { signer: JSON.parse(row.signer) as CommitSigner }),
  };
}
