// Custom string formats of the fleet-repository schemas (`"format": "duration"` etc.), as pure
// predicates. `createSchemaValidator()` registers them with Ajv; the rollout scheduler and the
// agent use `readDuration` (duration.ts) directly. Format names are part of the error contract: validation
// maps an Ajv `format` error to an error code by `params.format`.

import { readDuration } from './duration.ts';

/** A string format: a regular expression the whole string must match, or a predicate. */
export type FormatCheck = RegExp | ((s: string) => boolean);

/** Format name → check. The names are used verbatim as `format` in the schemas. */
export const FORMATS = {
  /** Six hex pairs with one separator throughout, `:` or `-`, any case. */
  mac: /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$/,
  /** POSIX mode, 3 or 4 octal digits (`644`, `0644`, `2755`). */
  'octal-mode': /^[0-7]{3,4}$/,
  /** 64 lowercase hex digits. */
  sha256: /^[0-9a-f]{64}$/,
  /** See duration.ts. */
  duration: (s: string): boolean => readDuration(s) !== undefined,
  /** `HH:MM`, 24-hour, `00:00`..`23:59`. */
  'clock-time': /^(?:[01]\d|2[0-3]):[0-5]\d$/,
} as const satisfies Record<string, FormatCheck>;

export type FormatName = keyof typeof FORMATS;

/** Whether `s` satisfies the named format. */
export function checkFormat(name: FormatName, s: string): boolean {
  const check: FormatCheck = FORMATS[name];
  return typeof check === 'function' ? check(s) : check.test(s);
}

/** Formats from ajv-formats that the schemas also use. */
export const STANDARD_FORMATS = ['uri', 'hostname', 'uuid'] as const;
