/** Where a command writes; tests pass one that records. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  cwd: string;
}

/** A usage error: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  readonly code = 'cli.usage';
}
