// The one duration grammar of the project: the fleet repository (`format: duration`, script
// `run.every`, rollout pauses), the server's options (`--poll`) and every CLI flag (`--expires`,
// `--heartbeat`, `--duration`). Pure.
//
//   duration := part+        part := digits unit        unit := d | h | m | s | ms
//   units in that order (days first), each at most once; no sign, no decimals, no spaces.
//   `30s` 30,000 · `1h30m` 5,400,000 · `7d` 604,800,000 · `250ms` 250 · `1s500ms` 1,500
// A total of zero is refused (`duration.zero`) unless the caller allows it (`{zero: true}`, for
// "never" switches such as `--stats-every 0s`); a total beyond Number.MAX_SAFE_INTEGER is
// `duration.too-large`; anything else outside the grammar `duration.invalid`.

export type DurationErrorCode = 'duration.invalid' | 'duration.zero' | 'duration.too-large';

export class DurationError extends Error {
  constructor(
    readonly code: DurationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DurationError';
  }
}

const GRAMMAR = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1_000, 1] as const;

export interface DurationOptions {
  /** Accept a total of zero (`0s`). */
  zero?: boolean;
}

/** Milliseconds of `text`; throws DurationError (one line: what, why, an example). */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const m = typeof text === 'string' && text !== '' ? GRAMMAR.exec(text) : null;
  if (m === null) {
    throw new DurationError('duration.invalid', `${JSON.stringify(text)} is not a duration: write digits and units d, h, m, s, ms in that order, e.g. 30s, 5m, 1h30m, 7d`);
  }
  let total = 0;
  for (let i = 0; i < UNIT_MS.length; i++) {
    const digits = m[i + 1];
    if (digits !== undefined) total += Number(digits) * UNIT_MS[i]!;
  }
  if (!Number.isSafeInteger(total)) throw new DurationError('duration.too-large', `duration ${text} is too large: keep it below 100,000 years`);
  if (total === 0 && !options.zero) throw new DurationError('duration.zero', `duration ${text} is zero: give a positive duration, e.g. 30s`);
  return total;
}

/** Like parseDuration, but undefined where it would throw (schema formats, optional settings). */
export function readDuration(text: string, options: DurationOptions = {}): number | undefined {
  try {
    return parseDuration(text, options);
  } catch (error) {
    if (error instanceof DurationError) return undefined;
    throw error;
  }
}
