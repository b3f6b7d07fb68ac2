// Commit signature verification (issue 12; docs/security.md "Commit signatures"). The trusted keys
// come from the server's own files (config.ts: --trusted-ssh-signers, --trusted-openpgp-keys),
// never from the repository being verified. The commit is read as a raw object and split the way
// git splits it (core/signatures/signed-commit.ts); SSH signatures are checked with node:crypto,
// OpenPGP ones with `openpgp`. Nothing shells out to gpg or ssh-keygen.
import { readFile } from 'node:fs/promises';
import { readKeys, type Key } from 'openpgp';
import { findAllowedSigner, parseAllowedSigners, type AllowedSigner } from '../../core/signatures/allowed-signers.ts';
import { signatureKind, splitSignedCommit, type SignedCommit } from '../../core/signatures/signed-commit.ts';
import type { SignatureVerdict, VerificationMode } from '../../core/signatures/verdict.ts';
import { checkOpenPgpSignature } from './verify-openpgp.ts';
import { checkSshSignature } from './verify-ssh.ts';

/** The namespace git signs commits in (`ssh-keygen -Y sign -n git`). */
export const GIT_NAMESPACE = 'git';
/** Under mode `all`, at most this many commits are verified per new head. */
export const MAX_COMMITS_VERIFIED = 1000;

export interface TrustedKeyFiles {
  /** Armored OpenPGP public key files; each may hold several keys. */
  openpgpKeyFiles: readonly string[];
  /** An SSH allowed_signers file. */
  allowedSignersFile: string | undefined;
}

export interface TrustedKeys {
  ssh: AllowedSigner[];
  openpgp: Key[];
}

/** A trusted-key file that cannot be read or parsed: the server does not start. */
export class TrustedKeysError extends Error {
  readonly code = 'config.trusted-keys';
}

/** Reads the trusted keys; one line per problem, naming the file and line. */
export async function loadTrustedKeys(files: TrustedKeyFiles): Promise<TrustedKeys> {
  const ssh: AllowedSigner[] = [];
  const openpgp: Key[] = [];
  if (files.allowedSignersFile !== undefined) {
    const text = await readText(files.allowedSignersFile);
    const parsed = parseAllowedSigners(text);
    const first = parsed.problems[0];
    if (first) {
      throw new TrustedKeysError(
        `${files.allowedSignersFile}:${first.line}: ${first.message}${parsed.problems.length > 1 ? ` (and ${parsed.problems.length - 1} more problems)` : ''}; fix the allowed signers file`,
      );
    }
    ssh.push(...parsed.signers);
  }
  for (const file of files.openpgpKeyFiles) {
    const text = await readText(file);
    try {
      const keys = await readKeys({ armoredKeys: text });
      for (const key of keys) {
        if (key.isPrivate()) throw new Error('it holds a private key; give the server public keys only (gpg --armor --export)');
      }
      openpgp.push(...keys);
    } catch (error) {
      throw new TrustedKeysError(`${file}: not an armored OpenPGP public key file (${(error as Error).message}); export one with gpg --armor --export KEYID`);
    }
  }
  if (ssh.length === 0 && openpgp.length === 0) {
    throw new TrustedKeysError('commit verification is on but no trusted key is given; pass --trusted-ssh-signers FILE and/or --trusted-openpgp-keys FILE');
  }
  return { ssh, openpgp };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new TrustedKeysError(`cannot read trusted key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Where raw commit objects come from (GitSource.rawCommit, or a repository the CLI opens). */
export interface CommitObjects {
  rawCommit(oid: string): Promise<Uint8Array>;
}

export class CommitVerifier {
  constructor(
    readonly mode: VerificationMode,
    readonly keys: TrustedKeys,
  ) {}

  static async load(mode: VerificationMode, files: TrustedKeyFiles): Promise<CommitVerifier> {
    return new CommitVerifier(mode, await loadTrustedKeys(files));
  }

  async verifyCommit(objects: CommitObjects, oid: string): Promise<SignatureVerdict> {
    return this.verifySplit(oid, splitSignedCommit(await objects.rawCommit(oid)));
  }

  async verifySplit(oid: string, commit: SignedCommit): Promise<SignatureVerdict> {
    const { signature, payload } = commit;
    if (signature === undefined) return { state: 'unsigned', oid };
    const kind = signatureKind(signature);
    if (kind === 'ssh') {
      const check = checkSshSignature(signature, payload, GIT_NAMESPACE);
      if (!check.ok) return { state: 'invalid', oid, reason: check.fingerprint ? `SSH key ${check.fingerprint}: ${check.reason}` : check.reason };
      const trust = findAllowedSigner(this.keys.ssh, check.signature.publicKeyBlob, { namespace: GIT_NAMESPACE, time: commit.committerTime });
      if (!trust.trusted) return { state: 'untrusted', oid, method: 'ssh', fingerprint: check.fingerprint, reason: trust.reason };
      return { state: 'verified', oid, signer: { method: 'ssh', fingerprint: check.fingerprint, identity: trust.identity } };
    }
    if (kind === 'openpgp') {
      const check = await checkOpenPgpSignature(signature, payload, this.keys.openpgp);
      if (!check.ok) {
        return check.untrusted
          ? { state: 'untrusted', oid, method: 'openpgp', fingerprint: check.fingerprint, reason: check.reason }
          : { state: 'invalid', oid, reason: `OpenPGP key ${check.fingerprint}: ${check.reason}` };
      }
      return { state: 'verified', oid, signer: { method: 'openpgp', fingerprint: check.fingerprint, identity: check.identity } };
    }
    return { state: 'invalid', oid, reason: kind === 'x509' ? 'X.509 (gpgsm) signatures are not supported' : 'the signature is of an unknown kind' };
  }

  /**
   * The commits a new head brings that must be verified: the head alone under `head` (and under
   * `all` when nothing was accepted before), else every commit reachable from `head` and not from
   * `base`, oldest first. `undefined` when there are more than `limit`.
   */
  async commitsToVerify(objects: CommitObjects, head: string, base: string | undefined, limit = MAX_COMMITS_VERIFIED): Promise<string[] | undefined> {
    if (this.mode !== 'all' || base === undefined || base === head) return [head];
    return commitsBetween(objects, head, base, limit);
  }

  /** Verifies what `commitsToVerify` names; the verdicts oldest first, or `tooMany`. */
  async verifyHead(objects: CommitObjects, head: string, base: string | undefined): Promise<{ verdicts: SignatureVerdict[]; tooMany: boolean }> {
    const oids = await this.commitsToVerify(objects, head, base);
    if (oids === undefined) return { verdicts: [], tooMany: true };
    const verdicts: SignatureVerdict[] = [];
    for (const oid of oids) verdicts.push(await this.verifyCommit(objects, oid));
    return { verdicts, tooMany: false };
  }
}

/**
 * `git rev-list head ^base`, oldest first: commits are visited newest first by committer time; a
 * commit reached from `base` is uninteresting, and so are its parents. Stops when only
 * uninteresting commits are left to visit, and a few more (as git does: commit times are trusted
 * to be roughly ordered). `undefined` when more than `limit` commits are found.
 */
const UNINTERESTING_SLOP = 5;

export async function commitsBetween(objects: CommitObjects, head: string, base: string, limit: number): Promise<string[] | undefined> {
  const read = new Map<string, SignedCommit>();
  const load = async (oid: string) => {
    let commit = read.get(oid);
    if (!commit) {
      commit = splitSignedCommit(await objects.rawCommit(oid));
      read.set(oid, commit);
    }
    return commit;
  };
  const uninteresting = new Set<string>([base]);
  const queued = new Set<string>([head, base]);
  const queue: Array<{ oid: string; time: number }> = [
    { oid: head, time: (await load(head)).committerTime },
    { oid: base, time: (await load(base).catch(() => ({ committerTime: 0 }))).committerTime },
  ];
  const found = new Set<string>();
  // Like git's `everybody_uninteresting` with its slop: once only uninteresting commits are left,
  // a few more are walked, so a parent committed "after" its child (a skewed clock) is still
  // reached from `base` and taken out of what is found.
  let slop = UNINTERESTING_SLOP;
  while (queue.length > 0) {
    if (!queue.some((entry) => !uninteresting.has(entry.oid)) && slop-- <= 0) break;
    queue.sort((a, b) => b.time - a.time);
    const { oid } = queue.shift()!;
    queued.delete(oid);
    let commit: SignedCommit;
    try {
      commit = await load(oid);
    } catch (error) {
      if (uninteresting.has(oid)) continue; // a base the branch no longer has: nothing to subtract
      throw error;
    }
    const down = uninteresting.has(oid);
    if (down) found.delete(oid);
    else {
      found.add(oid);
      if (found.size > limit) return undefined;
    }
    for (const parent of commit.parents) {
      if (down) uninteresting.add(parent);
      if (!queued.has(parent) && (down || !found.has(parent))) {
        queued.add(parent);
        queue.push({ oid: parent, time: (await load(parent).catch(() => undefined))?.committerTime ?? 0 });
      }
    }
  }
  // Oldest first: the order they were made in, for the operator reading the errors.
  return [...found].sort((a, b) => read.get(a)!.committerTime - read.get(b)!.committerTime);
}
