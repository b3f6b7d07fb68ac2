// The order of a device's observations (ObservationOrder in schemas/protocol.ts): which of two
// stamped observations is newer, and what a well-formed stamp is. Store implementations apply the
// same rule in their own query language (sqlite-reports.ts `newerSql`) and must agree with this.
import type { ObservationOrder } from '../../../schemas/protocol.ts';

/**
 * Whether an observation stamped `incoming` replaces one stamped `stored` (undefined: no stamp).
 * Unstamped on either side (an agent older than stamps) → yes, as before stamps existed; another
 * epoch (the agent's state dir is new, its counter restarted) → yes; same epoch → a larger seq.
 * Store implementations repeat this rule inside the write that stores a stamp.
 */
export function isNewerObservation(incoming: ObservationOrder | undefined, stored: ObservationOrder | undefined): boolean {
  if (incoming === undefined || stored === undefined) return true;
  return incoming.epoch !== stored.epoch || incoming.seq > stored.seq;
}

/** Agents make 22-character epochs; the bound keeps a device row small. */
const MAX_EPOCH = 64;

/**
 * The stamp of a report or result; undefined when it has none; 'invalid' when it has a malformed
 * one (only one of the two fields, an epoch that is empty or longer than 64 characters, a seq that
 * is not a non-negative safe integer).
 */
export function observationOrder(message: { epoch?: unknown; seq?: unknown }): ObservationOrder | undefined | 'invalid' {
  const { epoch, seq } = message;
  if (epoch === undefined && seq === undefined) return undefined;
  if (typeof epoch !== 'string' || epoch === '' || epoch.length > MAX_EPOCH || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return 'invalid';
  return { epoch, seq };
}
