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
}

/** A usage error: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  readonly code = 'cli.usage';
}
