// The audit log (migration 014): appends link to the head in one IMMEDIATE transaction, and the
// store's single queue (sqlite-db.ts) plus SQLite's one writer make appends strictly serial, also
// across processes sharing the file (the CLI while the server runs).
import type { AuditHead } from './store.ts';
import { limitOf, type SqliteContext } from './sqlite-util.ts';
import { AUDIT_COLUMNS as COLUMNS, toAuditEntry as toEntry, type AuditRow } from './store-rows.ts';
import { auditDraft, linkAudit } from './store-rules.ts';
import type { AuditPart } from './store-parts.ts';

export function sqliteAudit({ db, now }: SqliteContext): AuditPart {
  return {
    async appendAudit(input) {
      const draft = auditDraft(input, now);
      return db.transaction(async (c) => {
        const head = await c.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
        const { entry, values } = linkAudit(draft, head);
        await c.run(`INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, values);
        await c.run(
          'INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
          [entry.seq, entry.hash],
        );
        return entry;
      });
    },

    async listAudit({ limit, before }) {
      const rows = await db.read((c) =>
        before === undefined
          ? c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?`, [limitOf(limit)])
          : c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?`, [before, limitOf(limit)]),
      );
      return rows.map(toEntry);
    },

    async readAuditChain({ afterSeq, limit }) {
      const rows = await db.read((c) => c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, [afterSeq, limitOf(limit)]));
      return rows.map(toEntry);
    },

    async auditHead(): Promise<AuditHead | undefined> {
      const row = await db.read((c) => c.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1'));
      return row ? { seq: row.seq, hash: row.hash } : undefined;
    },
  };
}
