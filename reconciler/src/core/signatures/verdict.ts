// What verifying a commit's signature concluded, and how a rejected revision says so (what, why,
// what to do). Pure: the edges (edges/signatures/) make the verdicts.
import type { CommitSigner, RevisionError } from '../../../../schemas/protocol.ts';

export type { CommitSigner };

export type VerificationMode = 'off' | 'head' | 'all';

export type SignatureVerdict =
  | { state: 'verified'; oid: string; signer: CommitSigner }
  | { state: 'unsigned'; oid: string }
  /** A valid signature by a key the server does not trust (or trusts, but not for this). */
  | { state: 'untrusted'; oid: string; method: CommitSigner['method']; fingerprint: string; reason: string }
  /** A signature that does not verify, is malformed, or is of a kind not supported. */
  | { state: 'invalid'; oid: string; reason: string };

export const SIGNATURE_CODES = {
  'signature.unsigned': 'A commit the server must verify carries no signature.',
  'signature.untrusted': 'A commit is signed by a key that is not among the server\'s trusted keys.',
  'signature.invalid': 'A commit\'s signature does not verify, is malformed, or is of a kind not supported.',
  'signature.too-many-commits': 'Under mode `all`, more commits since the last accepted revision than the server checks.',
} as const;

export type SignatureCode = keyof typeof SIGNATURE_CODES;

const FIX_UNTRUSTED = "sign it with a trusted key, or have an operator add the key to the server's trusted keys (docs/operations.md)";
const FIX_UNSIGNED = 'sign it (git commit --amend -S, or git rebase --exec "git commit --amend --no-edit -S" for several) and push again';

/** One line for a person: the commit, what is wrong with its signature, what to do. */
export function describeVerdict(verdict: SignatureVerdict): string {
  const commit = `commit ${verdict.oid.slice(0, 12)}`;
  switch (verdict.state) {
    case 'verified':
      return `${commit} is signed by ${verdict.signer.identity} (${verdict.signer.method} key ${verdict.signer.fingerprint})`;
    case 'unsigned':
      return `${commit} is not signed, and the server accepts only commits signed by a trusted key; ${FIX_UNSIGNED}`;
    case 'untrusted':
      return `${commit} is signed by ${verdict.method === 'ssh' ? 'SSH' : 'OpenPGP'} key ${verdict.fingerprint}, which is not trusted (${verdict.reason}); ${FIX_UNTRUSTED}`;
    case 'invalid':
      return `${commit} has a signature that cannot be verified (${verdict.reason}); sign it again with a trusted key and push`;
  }
}

/** The revision error a failed verdict rejects its revision with; undefined when verified. */
export function verdictError(verdict: SignatureVerdict): RevisionError | undefined {
  if (verdict.state === 'verified') return undefined;
  return { code: `signature.${verdict.state}` satisfies SignatureCode, message: describeVerdict(verdict), file: '', line: 0, col: 0, path: '' };
}

export function tooManyCommitsError(head: string, limit: number): RevisionError {
  return {
    code: 'signature.too-many-commits' satisfies SignatureCode,
    message:
      `more than ${limit} commits lead to ${head.slice(0, 12)} from the last accepted revision (a rewritten branch?), and under --verify-commits all each must be checked; ` +
      'verify them with `deployx plan --verify-commits all`, then restart the server once with --verify-commits head to accept this head',
    file: '',
    line: 0,
    col: 0,
    path: '',
  };
}
