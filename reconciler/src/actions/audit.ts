// The audit log's use-cases: the one way anything records an entry (`recordAudit`), how actors
// are named, and the chain check behind `deployx audit verify`.
//
// Every person's or tool's action that changes who may do what, or what the fleet does, is an
// entry: logins (both outcomes) and logouts, user and token changes, rollout commands, device
// deletion, reprovisioning — and the server's own decisions on revisions (actor `system`).
// Entries carry names and ids, never secrets (no passwords, no tokens, no hashes of them).
import { userInfo } from 'node:os';
import { verifyAuditChain } from '../edges/store/audit-chain.ts';
import type { AuditEntry, AuditHead, AuditInput, Store } from '../edges/store/store.ts';

export type { AuditEntry, AuditInput };

/** The actor of the server's own decisions (accepting or rejecting a revision). */
export const SYSTEM_ACTOR = 'system';

/**
 * Appends one entry to the audit log. THE function to call from any part of DeployX — HTTP
 * routes, socket handlers, the loop, CLI commands — after the action was decided (its outcome is
 * known). It throws the store's error: a caller serving a person lets it fail the request (the
 * action is then done but the person is told the record was not made); the loop logs it.
 */
export async function recordAudit(store: Pick<Store, 'appendAudit'>, entry: AuditInput): Promise<AuditEntry> {
  return store.appendAudit(entry);
}

/** An authenticated caller of the API (edges/http/access.ts `Principal`) as an actor. */
export function actorOf(principal: { kind: 'session' | 'token'; name: string }): string {
  return `${principal.kind === 'session' ? 'user' : 'token'}:${principal.name}`;
}

/** The person running a CLI command that opens the store directly: their login name. */
export function cliActor(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = `uid-${process.getuid?.() ?? 'unknown'}`;
  }
  return `cli:${name}`;
}

export type AuditVerification =
  | { ok: true; entries: number; head: AuditHead | undefined }
  | { ok: false; seq: number; message: string };

/** Recomputes the whole chain from the store and compares the head record (audit-chain.ts). */
export async function verifyAuditLog(store: Pick<Store, 'readAuditChain' | 'auditHead'>): Promise<AuditVerification> {
  // The head is read first: an entry appended while the chain is read is past it and still checked.
  const head = await store.auditHead();
  const result = await verifyAuditChain((afterSeq, limit) => store.readAuditChain({ afterSeq, limit }), head);
  if (result.ok) return result;
  return { ok: false, seq: result.break.seq, message: result.break.message };
}
