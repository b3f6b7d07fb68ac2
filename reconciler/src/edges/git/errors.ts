// Typed errors of the revision loader. Callers and tests match on `code`, never on message text.
//
// What the loop does next: `revision.ref-not-found`, `revision.root-not-found` and
// `revision.not-a-commit` are stalled until someone changes the repository or the configuration
// (requeue on the next poll, keep serving the last good revision); `revision.file-not-found` and
// `revision.path-invalid` answer a request for one file (HTTP 404 / 400), not a failed load.

export type RevisionErrorCode =
  /** The ref (branch, tag, oid) does not exist in the repository. */
  | 'revision.ref-not-found'
  /** The ref names an object that does not peel to a commit. */
  | 'revision.not-a-commit'
  /** The fleet root (a directory, or a subdirectory of the commit) does not exist or is a file. */
  | 'revision.root-not-found'
  /** The path is not a file of this revision. */
  | 'revision.file-not-found'
  /** The path is absolute, leaves the fleet root, or is empty. */
  | 'revision.path-invalid';

export class RevisionError extends Error {
  override readonly name = 'RevisionError';
  readonly code: RevisionErrorCode;

  constructor(code: RevisionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** isomorphic-git errors carry a string `code` (`NotFoundError`, `ObjectTypeError`, ...). */
export function gitErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}
