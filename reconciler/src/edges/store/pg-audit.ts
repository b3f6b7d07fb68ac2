// The audit log (PostgreSQL): every append reads the head, links to it and moves it in one
// transaction that holds a lock on audit_head which only appends take (readers are not held up):
// appends from every replica and CLI are strictly serial, so the chain never forks. See
// sqlite-audit.ts and audit-chain.ts.
import type { AuditHead } from './store.ts';
import { limitOf } from './store-values.ts';
import { AUDIT_COLUMNS as COLUMNS, toAuditEntry as toEntry, type AuditRow } from './store-rows.ts';
import { auditDraft, linkAudit } from './store-rules.ts';
import { params, type PgContext } from './pg-util.ts';
import type { AuditPart } from './store-parts.ts';

export function pgAudit({ db, now }: PgContext): AuditPart {
  return {
    async appendAudit(input) {
      const draft = auditDraft(input, now);
      return db.transaction(async (c) => {
        // SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with plain reads. A row
        // lock would not do: before the first entry there is no head row to lock.
        await c.exec('LOCK TABLE audit_head IN SHARE ROW EXCLUSIVE MODE');
        const head = await c.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
        const { entry, values } = linkAudit(draft, head);
        await c.run(`INSERT INTO audit_log (${COLUMNS}) VALUES (${params(values.length)})`, values);
        await c.run(
          'INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
          [entry.seq, entry.hash],
        );
        return entry;
      });
    },

    async listAudit({ limit, before }) {
      const rows = await db.read((c) =>
        before === undefined
          ? c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1`, [limitOf(limit)])
          : c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2`, [before, limitOf(limit)]),
      );
      return rows.map(toEntry);
    },

    async readAuditChain({ afterSeq, limit }) {
      const rows = await db.read((c) => c.all<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limitOf(limit)]));
      return rows.map(toEntry);
    },

    async auditHead(): Promise<AuditHead | undefined> {
      const row = await db.read((c) => c.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1'));
      return row ? { seq: row.seq, hash: row.hash } : undefined;
    },
  };
}
