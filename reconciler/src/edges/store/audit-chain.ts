// The audit log's hash chain, shared by every Store implementation and by `deployx audit verify`.
//
//   hash(n) = SHA-256( "deployx-audit-v1\n" || hash(n-1) || "\n" || canonicalJson(entry n) )
//
// where entry n is {seq, at, actor, action, target, outcome, details} (canonicalJson: keys sorted,
// no whitespace — core/compile/fingerprint.ts) and hash(0) is AUDIT_GENESIS. The domain prefix
// keeps an audit hash from ever equalling another DeployX hash of the same bytes; the seq inside
// the hashed record makes a removed entry in the middle break the next link.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/compile/fingerprint.ts';
import type { AuditEntry, AuditHead } from './store.ts';

export const AUDIT_GENESIS = '0'.repeat(64);
const DOMAIN = 'deployx-audit-v1\n';

type Hashed = Pick<AuditEntry, 'seq' | 'at' | 'actor' | 'action' | 'target' | 'outcome' | 'details'>;

export function canonicalAuditRecord(entry: Hashed): string {
  const { seq, at, actor, action, target, outcome, details } = entry;
  return canonicalJson({ seq, at, actor, action, target, outcome, details });
}

export function auditEntryHash(prevHash: string, entry: Hashed): string {
  return createHash('sha256').update(DOMAIN).update(prevHash).update('\n').update(canonicalAuditRecord(entry)).digest('hex');
}

/** The first break of a chain, for one line of `deployx audit verify`. */
export interface AuditBreak {
  seq: number;
  problem: 'edited' | 'removed' | 'head-missing' | 'head-mismatch';
  message: string;
}

/**
 * Walks a chain (oldest first, in pages) and its head — read before the chain, so entries
 * appended meanwhile lie past it — and returns the first break, or the count and the last entry.
 */
export async function verifyAuditChain(
  read: (afterSeq: number, limit: number) => Promise<AuditEntry[]>,
  head: AuditHead | undefined,
  pageSize = 1000,
): Promise<{ ok: true; entries: number; head: AuditHead | undefined } | { ok: false; break: AuditBreak }> {
  let prevHash = AUDIT_GENESIS;
  let expected = 1;
  let last: AuditEntry | undefined;
  let atHead: AuditEntry | undefined;
  for (;;) {
    const page = await read(expected - 1, pageSize);
    for (const entry of page) {
      if (entry.seq !== expected) {
        return { ok: false, break: { seq: expected, problem: 'removed', message: `audit entry ${expected} was removed: the log goes from ${expected - 1} to ${entry.seq}` } };
      }
      if (entry.prevHash !== prevHash || entry.hash !== auditEntryHash(prevHash, entry)) {
        return { ok: false, break: { seq: entry.seq, problem: 'edited', message: `audit entry ${entry.seq} (${entry.at} ${entry.action} ${entry.target}) was edited: its hash does not match its contents and the entry before it` } };
      }
      prevHash = entry.hash;
      last = entry;
      if (entry.seq === head?.seq) atHead = entry;
      expected++;
    }
    if (page.length < pageSize) break;
  }
  if (head === undefined) {
    if (last === undefined) return { ok: true, entries: 0, head: undefined };
    return { ok: false, break: { seq: last.seq, problem: 'head-missing', message: `the audit head record is missing (the log ends at entry ${last.seq}): it was removed` } };
  }
  if (last === undefined || head.seq > last.seq) {
    const from = (last?.seq ?? 0) + 1;
    const which = head.seq === from ? `audit entry ${from} (the last) was removed` : `audit entries ${from}–${head.seq} (the last ${head.seq - from + 1}) were removed`;
    return { ok: false, break: { seq: from, problem: 'removed', message: `${which}: the head record names ${head.seq} entries, the log ends at ${last?.seq ?? 0}` } };
  }
  // Entries past the head were appended after it was read (it is read first) and chain correctly.
  if (atHead === undefined || head.hash !== atHead.hash) {
    return { ok: false, break: { seq: head.seq, problem: 'head-mismatch', message: `the audit head record does not match audit entry ${head.seq}: the head or that entry was rewritten` } };
  }
  return { ok: true, entries: last.seq, head: { seq: last.seq, hash: last.hash } };
}
