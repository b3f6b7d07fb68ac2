// Typed errors of the Git source (GitSource, resolveLocalGitdir). Callers and tests match on
// `code`; `disposition` says what the reconcile loop does next:
//   transient → retry with backoff (the network, the server, a full disk);
//   stalled   → a human must act (credentials, URL, a branch that is not there); requeue on the
//               next poll or webhook and keep serving the last good revision meanwhile.
// Messages never carry credentials: URLs in them go through `redactUrl`.

export type GitSourceErrorCode =
  /** The remote or the local repository could not be read; a retry may succeed. */
  | 'git.fetch-failed'
  /** The server refused the credentials (HTTP 401/403), or asked for some and none are configured. */
  | 'git.auth-failed'
  /** The branch does not exist in the source repository (or the repository has no commits). */
  | 'git.branch-missing'
  /** Nothing is a repository at the URL (HTTP 404) or the local path. */
  | 'git.repository-not-found'
  /**
   * The configuration is unusable: the URL is neither http(s), file:// nor a local path (ssh and
   * scp-style URLs are not supported), or the branch name is not a valid ref name.
   */
  | 'git.config-invalid';

export type ErrorDisposition = 'transient' | 'stalled';

export const GIT_SOURCE_ERROR_DISPOSITION: Readonly<Record<GitSourceErrorCode, ErrorDisposition>> = {
  'git.fetch-failed': 'transient',
  'git.auth-failed': 'stalled',
  'git.branch-missing': 'stalled',
  'git.repository-not-found': 'stalled',
  'git.config-invalid': 'stalled',
};

export class GitSourceError extends Error {
  override readonly name = 'GitSourceError';
  readonly code: GitSourceErrorCode;
  readonly disposition: ErrorDisposition;

  constructor(code: GitSourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.disposition = GIT_SOURCE_ERROR_DISPOSITION[code];
  }
}

/**
 * `https://user:secret@host/x.git` → `https://host/x.git`; any other string (a local path) as is.
 * Also hides credentials inside free text (an error message that quotes a URL).
 */
export function redactUrl(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}
