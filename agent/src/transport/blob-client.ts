// Downloads content-addressed blobs: `GET <server>/api/v1/blobs/sha256/<hex>` with the device's
// Basic credential (protocol.ts deviceAuthorization), via the global fetch.
//
// The bytes are verified against the requested SHA-256 before anyone sees them: a mismatch is
// retried (a truncated or corrupted transfer) and then fails with `blob.hash-mismatch`.
// Transient failures — network errors, per-attempt timeouts, 408, 425, 429, 5xx — are retried
// with full-jitter backoff; a `Retry-After` in seconds is honoured as a minimum. Other 4xx
// (401 wrong credential, 404 unknown blob) fail at once with `blob.fetch`.
import { createHash } from 'node:crypto';
import { blobPath, deviceAuthorization } from '../../../schemas/protocol.ts';
import { AgentError, describeError, isAgentError } from '../errors.ts';
import type { FetchBlob } from '../executors/context.ts';
import type { Credentials } from '../state/credentials.ts';
import { Backoff, type BackoffPolicy } from './backoff.ts';
import { sleep, systemClock, type Clock } from './clock.ts';
import { silentLogger, type Logger } from './logger.ts';

export interface BlobFetcherOptions {
  server: string;
  /** The current device identity; a fetch before enrollment fails. */
  identity: () => Credentials | undefined;
  fetch?: typeof globalThis.fetch;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Attempts in all (default 5). */
  attempts?: number;
  backoff?: BackoffPolicy;
  /** One attempt's time limit (default 5 min). */
  attemptTimeoutMs?: number;
}

export const BLOB_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 15_000 };
const SHA256 = /^[0-9a-f]{64}$/;

class TransientBlobError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function createBlobFetcher(options: BlobFetcherOptions): FetchBlob {
  const doFetch = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const attempts = Math.max(1, options.attempts ?? 5);
  const base = options.server.replace(/\/+$/, '');

  return async (sha256, { signal } = {}) => {
    if (!SHA256.test(sha256)) throw new AgentError('blob.fetch', `not a SHA-256: ${JSON.stringify(sha256)}`);
    const backoff = new Backoff(options.backoff ?? BLOB_BACKOFF, options.random);
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      signal?.throwIfAborted();
      const identity = options.identity();
      if (identity === undefined) throw new AgentError('blob.fetch', 'the agent has no device credential yet');
      try {
        return await fetchOnce(doFetch, `${base}${blobPath(sha256)}`, sha256, identity, signal, options.attemptTimeoutMs ?? 300_000);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof TransientBlobError) && !isAgentError(error, 'blob.hash-mismatch')) throw error;
        last = error;
        if (attempt === attempts) break;
        const delay = Math.max(backoff.next(), error instanceof TransientBlobError ? (error.retryAfterMs ?? 0) : 0);
        logger.warn('blob fetch failed, retrying', { sha256, attempt, retryInMs: delay, error: describeError(error) });
        await sleep(clock, delay, signal);
      }
    }
    if (isAgentError(last, 'blob.hash-mismatch')) throw last;
    throw new AgentError('blob.fetch', `blob ${sha256}: ${describeError(last)} (after ${attempts} attempts)`, { cause: last });
  };
}

async function fetchOnce(
  doFetch: typeof globalThis.fetch,
  url: string,
  sha256: string,
  identity: Credentials,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await doFetch(url, {
      headers: { authorization: deviceAuthorization(identity.deviceId, identity.credential), accept: 'application/octet-stream' },
      signal: combined,
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new TransientBlobError(timeout.aborted ? `timed out after ${timeoutMs} ms` : describeError(error));
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status === 408 || status === 425 || status === 429 || status >= 500) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new TransientBlobError(`HTTP ${status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    throw new AgentError('blob.fetch', `GET ${new URL(url).pathname}: HTTP ${status}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new TransientBlobError(`body: ${describeError(error)}`);
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw new AgentError('blob.hash-mismatch', `blob ${sha256}: received ${bytes.length} bytes with sha256 ${actual}`);
  }
  return bytes;
}
