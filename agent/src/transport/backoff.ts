// The agent's retry policies. The arithmetic is the project's one backoff helper
// (schemas/backoff.ts); this file only says how long each kind of wait may grow.
import type { BackoffPolicy, ReconnectPolicy } from '../../../schemas/backoff.ts';

export { Backoff, backoffDelay, ReconnectBackoff, type BackoffPolicy, type ReconnectPolicy } from '../../../schemas/backoff.ts';

/**
 * Connection attempts: 0.5 s doubling, at most 5 s apart for the first minute of an outage (a
 * server restart), then up to 60 s. A session of 10 s starts the count over.
 */
export const CONNECT_BACKOFF: ReconnectPolicy = { baseMs: 500, capMs: 60_000, outageCapMs: 5_000, outageMs: 60_000, stableSessionMs: 10_000 };

/**
 * After the server refused the handshake (bad credential, expired token): something a human or
 * the server's state must change, so retrying often only adds load. 15 s floor, 10 min ceiling.
 */
export const REFUSED_BACKOFF: BackoffPolicy = { baseMs: 30_000, capMs: 600_000, minMs: 15_000 };

/** Re-sending a job result whose ack did not come: 1 s doubling to 60 s. */
export const RESULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/** Re-sending a report the server did not acknowledge: 2 s doubling, never later than the heartbeat. */
export const REPORT_BACKOFF: BackoffPolicy = { baseMs: 2_000, capMs: 60_000 };
