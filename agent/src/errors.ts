// Typed agent errors. Codes are stable: tests, the transport and the reconciler's job view match
// on `code`, never on message text. Messages name the offending value but never carry secrets.

export const AGENT_ERROR_CODES = {
  'exec.not-found': 'The program (or the working directory) does not exist.',
  'exec.spawn': 'The program could not be started.',
  'exec.invalid': 'Invalid arguments to exec (NUL byte in an argument, bad option).',
  'path.nul': 'A device path contains a NUL byte.',
  'path.relative': 'A device path is not absolute.',
  'path.invalid': 'A device path is not valid for the device platform.',
  'path.outside-allowed': 'A device path is not under one of the allowed roots.',
  'path.escape': 'A path leaves the sandbox root or its allowed root (via a symlink).',
  'package.invalid-name': 'A package name or id fails validation; nothing was run.',
  'package.invalid-version': 'A version rule fails validation; nothing was run.',
  'package.version-unsupported': 'The package manager cannot select versions by this rule.',
  'package.manager-unsupported': 'No adapter for this package manager on this agent.',
  'package.query-failed': 'The package manager could not say whether a package is installed.',
  'package.install-failed': 'The install command failed or the result does not satisfy the rule.',
  'package.remove-failed': 'The remove command failed or the package is still installed.',
  'blob.fetch': 'The blob could not be fetched.',
  'blob.hash-mismatch': 'A fetched blob does not have the expected SHA-256 (or size).',
  'file.not-a-file': 'The managed path exists but is not a regular file.',
  'file.mode': 'The requested mode is not an octal mode.',
  'file.owner-unknown': 'The requested owner or group does not exist on the device.',
  'script.interpreter': 'The interpreter is not on the allow-list for this platform.',
  'script.env': 'A script environment variable name or value is invalid.',
  'script.run-policy': 'The run policy (e.g. an `every` duration) is invalid.',
  'script.timeout': 'The script (or its check) ran past timeoutSeconds and was killed.',
  'script.exit-code': 'The script exited with a code outside successExitCodes.',
  'script.interrupted': 'The agent stopped while the script ran and the script ended without an exit status; it is not run again unless the Script declares onInterrupt: rerun.',
  'job.aborted': 'The job was cancelled or timed out.',
  'state.corrupt': 'A local state file exists but cannot be parsed.',
  'state.invalid': 'A value to be stored in the local state is invalid.',
  'transport.refused': 'The server refused the handshake (credential or enrollment token), and there is nothing else to try.',
  'transport.not-enrolled': 'No stored credential and no enrollment token: the agent cannot identify itself.',
  'transport.stopped': 'The agent was stopped before the operation completed.',
  'trust.no-pin': 'No server key to trust: neither a stored one nor a fingerprint in the enrollment token.',
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERROR_CODES;

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}

export function isAgentError(error: unknown, code?: AgentErrorCode): error is AgentError {
  return error instanceof AgentError && (code === undefined || error.code === code);
}

/** A message for a step result: the code when there is one, never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof AgentError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
