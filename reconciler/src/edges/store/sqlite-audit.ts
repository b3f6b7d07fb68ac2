// The audit log (migration 014): appends link to the head in one IMMEDIATE transaction, and the
// store's single queue (sqlite-db.ts) plus SQLite's one writer make appends strictly serial, also
// across processes sharing the file (the CLI while the server runs).
import { auditEntryHash, AUDIT_GENESIS } from './audit-chain.ts';
import { canonicalJson } from '../../core/compile/fingerprint.ts';
import type { AuditEntry, AuditHead, AuditOutcome, Store } from './store.ts';
import { StoreError } from './store.ts';
import { iso, limitOf, type SqliteContext } from './sqlite-util.ts';

type AuditPart = Pick<Store, 'appendAudit' | 'listAudit' | 'readAuditChain' | 'auditHead'>;

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  details: string;
  prev_hash: string;
  hash: string;
}

const COLUMNS = 'seq, at, actor, action, target, outcome, details, prev_hash, hash';
/** Longest actor, action or target kept: a login name comes from the network. */
const MAX_FIELD = 200;

export function sqliteAudit({ db, now }: SqliteContext): AuditPart {
  return {
    async appendAudit(input) {
      const at = input.at === undefined ? now() : iso(input.at, 'at');
      let details: Record<string, unknown>;
      try {
        // Stored canonical, so what is read back hashes the same.
        details = JSON.parse(canonicalJson(input.details ?? {})) as Record<string, unknown>;
      } catch (cause) {
        throw new StoreError('store.invalid', 'audit details are not plain JSON', { cause });
      }
      const fields = { actor: clip(input.actor), action: clip(input.action), target: clip(input.target) };
      return db.transaction(async (c) => {
        const head = await c.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
        const seq = (head?.seq ?? 0) + 1;
        const prevHash = head?.hash ?? AUDIT_GENESIS;
        const entry: AuditEntry = { seq, at, ...fields, outcome: input.outcome, details, prevHash, hash: '' };
        entry.hash = auditEntryHash(prevHash, entry);
        await c.run(`INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
          seq, at, entry.actor, entry.action, entry.target, entry.outcome, canonicalJson(details), prevHash, entry.hash,
        ]);
        await c.run(
          'INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
          [seq, entry.hash],
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

/** At most MAX_FIELD characters, control characters shown as `?`: a name from the network cannot forge a line of `deployx audit list`. */
function clip(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > MAX_FIELD ? `${clean.slice(0, MAX_FIELD - 1)}…` : clean;
}

function toEntry(row: AuditRow): AuditEntry {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(row.details) as Record<string, unknown>;
  } catch {
    // An edited row that is not JSON any more: kept as text so verification reports it as edited.
    details = { unparsable: row.details };
  }
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
