// Use-case: load one revision of a fleet repository (a working tree, or a commit of a Git
// repository), validate it, and compile the declared devices when it is valid. Called by
// `deployx validate`, `deployx plan` and the server's source reconciler alike.
import { createSchemaValidator, type SchemaValidator } from '../../../schemas/index.ts';
import { compileFleet } from '../core/compile/compile.ts';
import type { DesiredState } from '../core/model.ts';
import { declaredDevices, validateRevision, type ValidationResult } from '../core/validate/validate-revision.ts';
import { DirectoryReader } from '../edges/git/directory-reader.ts';
import { GitCommitReader } from '../edges/git/git-commit-reader.ts';
import { loadRevision } from '../edges/git/load-revision.ts';
import { ParseCache } from '../edges/git/parse-cache.ts';
import type { RevisionReader } from '../edges/git/revision-reader.ts';
import type { CommitVerifier } from '../edges/signatures/commit-verifier.ts';
import { reportSignatures, type SignatureReport } from './verify-signatures.ts';

export type RepositoryLocation =
  | { kind: 'directory'; root: string }
  | { kind: 'git'; dir: string; gitdir?: string; ref: string; path?: string };

export interface ValidateRepositoryOptions {
  location: RepositoryLocation;
  /** Reuse across calls (a server validates many revisions). */
  cache?: ParseCache;
  schema?: SchemaValidator;
  /** Report the commit's signature (a `git` location only). */
  verifier?: CommitVerifier;
}

export interface RepositoryValidation extends ValidationResult {
  /** Desired state of every declared device (before any has reported facts), when valid. */
  desired: Map<string, DesiredState> | undefined;
  /** The commit's signature state, when a verifier was given and a commit was read. */
  signatures?: SignatureReport;
}

export async function validateRepository(options: ValidateRepositoryOptions): Promise<RepositoryValidation> {
  const reader = await openReader(options.location);
  const loaded = await loadRevision(reader, { cache: options.cache ?? new ParseCache() });
  const schema = options.schema ?? createSchemaValidator();
  const result = validateRevision(loaded, schema.validators);
  const desired = result.model ? compileFleet(result.model, declaredDevices(result.model)) : undefined;
  const signatures =
    options.verifier && reader instanceof GitCommitReader ? await reportSignatures(options.verifier, reader, reader.oid) : undefined;
  return { ...result, desired, ...(signatures ? { signatures } : {}) };
}

export async function openReader(location: RepositoryLocation): Promise<RevisionReader> {
  if (location.kind === 'directory') return new DirectoryReader({ root: location.root });
  return GitCommitReader.open({
    dir: location.dir,
    ...(location.gitdir ? { gitdir: location.gitdir } : {}),
    ref: location.ref,
    ...(location.path ? { path: location.path } : {}),
  });
}
