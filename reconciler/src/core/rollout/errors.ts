// Typed errors of the rollout scheduler. Only operator commands (promote, pause, resume) and a
// malformed device list throw; recording observations and scheduling never do. Tests and the HTTP
// layer match on `code`, never on message text.

export const ROLLOUT_ERROR_CODES = {
  'rollout.finished':
    'The rollout is halted, completed, partial or failed: it accepts no command; a new revision starts a new rollout.',
  'rollout.nothing-to-promote':
    'No wave is waiting for promotion: the current wave is still running, or the next wave does not need promotion.',
  'rollout.duplicate-device': 'Two devices given to one rollout share a name.',
  'rollout.nothing-to-start':
    'No wave is held by a maintenance window or a pause between waves: the current wave is running, or waits for something start now does not override (an operator pause, promotion, offline devices).',
} as const;

export type RolloutErrorCode = keyof typeof ROLLOUT_ERROR_CODES;

export class RolloutError extends Error {
  override readonly name = 'RolloutError';
  readonly code: RolloutErrorCode;

  constructor(code: RolloutErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function isRolloutError(err: unknown, code?: RolloutErrorCode): err is RolloutError {
  return err instanceof RolloutError && (code === undefined || err.code === code);
}
