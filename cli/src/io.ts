/** Where a command writes; tests pass one that records. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  cwd: string;
  /**
   * A secret typed at a prompt without echo when stdin is a terminal, else the first line of
   * stdin. Tests pass one that returns a fixed value.
   */
  readSecret?: (prompt: string) => Promise<string>;
  /** `--debug` was given: an unexpected error is printed with its stack. */
  debug?: boolean;
}

/** A usage error: the command prints it as one line (usageLine) and exits 2. */
export class UsageError extends Error {
  readonly code = 'cli.usage';
}

/** A usage error as one line: what is wrong, and where the command's options are listed. */
export function usageLine(command: string, message: string): string {
  return `deployx ${command}: ${message} (see "deployx ${command} --help")`;
}

/**
 * An error as the one line a person reads. A store's own text (SQL, driver messages) never is:
 * it is named by its code, and --debug prints the rest.
 */
export function errorLine(command: string, error: unknown, debug = false): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  // Opening the store failed: its message is written for people (what, why, what to do).
  if (code === 'store.open') return `deployx ${command}: ${message}`;
  const hint = debug ? '' : '; run again with --debug for details';
  if (typeof code === 'string' && (code.startsWith('store.') || code.startsWith('SQLITE_'))) {
    const what = code === 'store.unavailable' || code === 'SQLITE_BUSY' ? 'the store is busy or cannot be reached' : 'the store refused the operation';
    return `deployx ${command}: ${what} (${code})${hint}`;
  }
  return `deployx ${command}: ${message.split('\n', 1)[0]!.trim() || 'failed'}`;
}
