// Time zones as fleet documents name them (rollout windows, the installed system's zone): an IANA
// name spelt as the tz database spells it. A name the platform does not know would leave a
// rollout window that never opens; a name in the wrong case works in Intl but not as a path under
// /usr/share/zoneinfo on the installed system. Pure: Intl answers from the ICU data built into
// Node, with no I/O.
import { didYouMean } from './did-you-mean.ts';

export interface TimeZoneProblem {
  message: string;
  /** The zone the author most likely meant, when one is near. */
  suggestion: string | undefined;
}

let known: readonly string[] | undefined;

/** Canonical zone names, `UTC` included. */
function knownZones(): readonly string[] {
  known ??= [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])];
  return known;
}

/** What is wrong with `zone` as a time zone name; undefined when it is one. */
export function timeZoneProblem(zone: string): TimeZoneProblem | undefined {
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return { message: `"${zone}" is not an IANA time zone`, suggestion: didYouMean(zone, knownZones()) };
  }
  if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) {
    return { message: `"${zone}" is spelt "${resolved}" in the time zone database`, suggestion: resolved };
  }
  return undefined;
}
