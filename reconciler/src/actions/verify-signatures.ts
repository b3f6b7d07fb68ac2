// Use-case: the signature state of the commit(s) a CLI command reads (`deployx validate --ref`,
// `deployx plan`), with the server's own trusted keys and mode (the same flags as `serve`), so a
// reviewer sees before merging what the server will say. The server's loop does the same check
// in loop/reconciler.ts (#verifySignatures).
import type { CommitVerificationConfig } from '../config.ts';
import { describeVerdict, type SignatureVerdict, type VerificationMode } from '../core/signatures/verdict.ts';
import { CommitVerifier, MAX_COMMITS_VERIFIED, type CommitObjects } from '../edges/signatures/commit-verifier.ts';

export interface SignatureReport {
  /** The mode asked for; `off` with trusted keys given: reported, not enforced. */
  mode: VerificationMode;
  /** Oldest first: the head alone, or under `all` every commit base..head. */
  verdicts: SignatureVerdict[];
  /** Under `all`: more than MAX_COMMITS_VERIFIED commits between base and head (none verified). */
  tooMany: boolean;
  /** Whether the server, in this mode, would accept the head (always true in mode `off`). */
  accepted: boolean;
}

/** The verifier the CLI flags ask for; undefined when no trusted key is given (nothing to report). */
export async function cliVerifier(config: CommitVerificationConfig): Promise<CommitVerifier | undefined> {
  if (config.openpgpKeyFiles.length === 0 && config.allowedSignersFile === undefined) return undefined;
  return CommitVerifier.load(config.mode, config);
}

export async function reportSignatures(
  verifier: CommitVerifier,
  objects: CommitObjects,
  head: string,
  base?: string,
): Promise<SignatureReport> {
  const { verdicts, tooMany } = await verifier.verifyHead(objects, head, base);
  const failed = tooMany || verdicts.some((v) => v.state !== 'verified');
  return { mode: verifier.mode, verdicts, tooMany, accepted: verifier.mode === 'off' || !failed };
}

/** Lines for a person: one per commit, marked ✓ or ✗, and what the server would do. */
export function signatureLines(report: SignatureReport): string[] {
  const lines = report.verdicts.map((v) => `${v.state === 'verified' ? '✓' : '✗'} signature: ${describeVerdict(v)}`);
  if (report.tooMany) lines.push(`✗ signature: more than ${MAX_COMMITS_VERIFIED} commits between base and head; none verified`);
  if (report.mode === 'off') lines.push('  (--verify-commits off: reported, not enforced)');
  else if (!report.accepted) lines.push(`  a server with --verify-commits ${report.mode} rejects this revision`);
  return lines;
}

/** The report as JSON output carries it. */
export function signatureJson(report: SignatureReport) {
  return {
    mode: report.mode,
    accepted: report.accepted,
    tooMany: report.tooMany,
    commits: report.verdicts.map((v) => ({
      oid: v.oid,
      state: v.state,
      ...(v.state === 'verified' ? { signer: v.signer } : {}),
      ...(v.state === 'untrusted' ? { method: v.method, fingerprint: v.fingerprint } : {}),
      message: describeVerdict(v),
    })),
  };
}
