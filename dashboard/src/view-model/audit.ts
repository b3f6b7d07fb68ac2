// The audit page's rows: who did what to which, and how it ended, from `GET /api/v1/audit`. Pure.
import type { AuditEntryView } from './wire.ts';

export interface AuditRow {
  seq: number;
  at: string;
  /** `user`, `token`, `cli` or `system`. */
  actorKind: string;
  actorName: string;
  action: string;
  target: string;
  outcome: AuditEntryView['outcome'];
  /** The badge class: good outcomes green, bad ones red. */
  tone: 'ok' | 'error';
  /** `key=value` pairs of the details, in key order; values shortened. */
  details: string[];
}

const MAX_VALUE = 80;

export function auditRow(entry: AuditEntryView): AuditRow {
  const colon = entry.actor.indexOf(':');
  return {
    seq: entry.seq,
    at: entry.at,
    actorKind: colon > 0 ? entry.actor.slice(0, colon) : entry.actor,
    actorName: colon > 0 ? entry.actor.slice(colon + 1) : '',
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    tone: entry.outcome === 'success' || entry.outcome === 'accepted' ? 'ok' : 'error',
    details: Object.keys(entry.details)
      .sort()
      .map((key) => {
        const value = entry.details[key];
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        return `${key}=${text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text}`;
      }),
  };
}

/** Entries from several pages, each once, newest first. */
export function mergeAuditPages(pages: ReadonlyArray<readonly AuditEntryView[]>): AuditEntryView[] {
  const bySeq = new Map<number, AuditEntryView>();
  for (const page of pages) for (const entry of page) bySeq.set(entry.seq, entry);
  return [...bySeq.values()].sort((a, b) => b.seq - a.seq);
}

/** Rows whose actor, action, target or outcome contain `text` (case-insensitive); all when empty. */
export function filterAudit(rows: readonly AuditRow[], text: string): AuditRow[] {
  const needle = text.trim().toLowerCase();
  if (needle === '') return [...rows];
  return rows.filter((r) => [`${r.actorKind}:${r.actorName}`, r.action, r.target, r.outcome].some((f) => f.toLowerCase().includes(needle)));
}
