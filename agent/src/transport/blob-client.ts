// Downloads content-addressed blobs: `GET <server>/api/v1/blobs/sha256/<hex>`, each attempt with a
// fresh statement signed by the device key (schemas/device-auth.ts), via the global fetch.
//
// Contract:
// - The bytes are verified against the requested SHA-256 before anyone sees them: a mismatch
//   drops what was received, is retried, and then fails with `blob.hash-mismatch`.
// - What arrived is kept in a part file (`partDir/<hex>.part`, or in memory for this call when no
//   dir is given): a download cut in the middle — by the network, a server restart or an agent
//   restart — resumes with `Range: bytes=<received>-` instead of starting again.
// - Transient failures are retried with the project's backoff (transport/backoff.ts) for as long as
//   the caller's signal allows (the step or job timeout): connection refused/reset, a stalled
//   transfer, 408, 425, 429, 5xx, and 404 for `notFoundGraceMs` after the first one (a restarted
//   server that has not accepted its revision yet). A `Retry-After` in seconds is a minimum. The
//   backoff starts again after an attempt that received bytes. Without a signal, retrying ends
//   after `giveUpAfterMs` without progress. 401 and other 4xx fail at once with `blob.fetch`.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { blobPath } from '../../../schemas/protocol.ts';
import { blobRequestAuthorization } from '../../../schemas/device-auth.ts';
import { AgentError, describeError, isAgentError } from '../errors.ts';
import type { FetchBlob } from '../executors/context.ts';
import { deviceSigningKey, type Credentials } from '../state/credentials.ts';
import { Backoff, type BackoffPolicy } from './backoff.ts';
import { sleep, systemClock, type Clock } from './clock.ts';
import { silentLogger, type Logger } from '../../../schemas/log.ts';

export interface BlobFetcherOptions {
  server: string;
  /** The Authorization header of one download attempt; undefined before enrollment (the fetch fails). */
  authorize: (sha256: string) => string | undefined;
  fetch?: typeof globalThis.fetch;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Attempts in all; default: no limit (the signal or `giveUpAfterMs` ends the retries). */
  attempts?: number;
  backoff?: BackoffPolicy;
  /** An attempt that receives nothing for this long is abandoned and resumed (default 60 s). */
  stallTimeoutMs?: number;
  /** Where part files are kept across attempts and agent restarts (`<state>/downloads`). */
  partDir?: string;
  /** How long 404 answers are retried after the first one (default 60 s). */
  notFoundGraceMs?: number;
  /** Retrying ends after this long without receiving a byte (default 1 h). */
  giveUpAfterMs?: number;
}

export const BLOB_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 15_000 };
const SHA256 = /^[0-9a-f]{64}$/;

class TransientBlobError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly notFound = false,
  ) {
    super(message);
  }
}

/** Received bytes of one blob, kept between attempts. */
interface Part {
  size(): Promise<number>;
  /** Appends `chunks`, each written before the next is read; resolves with the bytes written. */
  append(chunks: AsyncIterable<Uint8Array>): Promise<number>;
  bytes(): Promise<Uint8Array>;
  discard(): Promise<void>;
}

/**
 * Signs each download with the device key, for the blob and addressed to the server key the agent
 * trusts (`serverKey`); undefined before enrollment.
 */
export function deviceBlobAuthorizer(
  identity: () => Credentials | undefined,
  serverKey: () => string | undefined,
  now: () => Date = () => new Date(),
): (sha256: string) => string | undefined {
  return (sha256) => {
    const id = identity();
    const server = serverKey();
    if (id === undefined || server === undefined) return undefined;
    return blobRequestAuthorization({ deviceId: id.deviceId, serverKey: server, sha256, key: deviceSigningKey(id), now: now() });
  };
}

export function createBlobFetcher(options: BlobFetcherOptions): FetchBlob {
  const doFetch = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const attempts = options.attempts === undefined ? Infinity : Math.max(1, options.attempts);
  const notFoundGraceMs = options.notFoundGraceMs ?? 60_000;
  const giveUpAfterMs = options.giveUpAfterMs ?? 3_600_000;
  const base = options.server.replace(/\/+$/, '');
  // One download per blob at a time: two would write the same part file.
  const busy = new Map<string, Promise<unknown>>();

  const download = async (sha256: string, signal: AbortSignal | undefined): Promise<Uint8Array> => {
    const part = options.partDir === undefined ? memoryPart() : filePart(path.join(options.partDir, `${sha256}.part`));
    const backoff = new Backoff(options.backoff ?? BLOB_BACKOFF, options.random);
    let lastProgress = clock.now().getTime();
    let firstNotFound: number | undefined;
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const authorization = options.authorize(sha256);
      if (authorization === undefined) throw new AgentError('blob.fetch', 'the agent has no device key yet');
      let received = 0;
      try {
        return await fetchOnce({
          doFetch,
          url: `${base}${blobPath(sha256)}`,
          sha256,
          authorization,
          signal,
          stallMs: options.stallTimeoutMs ?? 60_000,
          clock,
          part,
          onBytes: (n) => (received += n),
        });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof TransientBlobError) && !isAgentError(error, 'blob.hash-mismatch')) throw error;
        last = error;
        const now = clock.now().getTime();
        if (received > 0) {
          backoff.reset();
          lastProgress = now;
        }
        if (error instanceof TransientBlobError && error.notFound) {
          firstNotFound ??= now;
          if (now - firstNotFound >= notFoundGraceMs) throw new AgentError('blob.fetch', `${error.message}; the server does not have it`);
        } else {
          firstNotFound = undefined;
        }
        if (attempt >= attempts || now - lastProgress >= giveUpAfterMs) break;
        const delay = Math.max(backoff.next(), error instanceof TransientBlobError ? (error.retryAfterMs ?? 0) : 0);
        logger.warn('blob fetch failed, retrying', { sha256, attempt, retryInMs: delay, received, error: describeError(error) });
        await sleep(clock, delay, signal);
      }
    }
    if (isAgentError(last, 'blob.hash-mismatch')) throw last;
    const tries = Number.isFinite(attempts) ? `${attempts} attempts` : `${Math.round(giveUpAfterMs / 1000)} s without progress`;
    throw new AgentError('blob.fetch', `blob ${sha256}: ${describeError(last)} (after ${tries})`, { cause: last });
  };

  return async (sha256, { signal } = {}) => {
    if (!SHA256.test(sha256)) throw new AgentError('blob.fetch', `not a SHA-256: ${JSON.stringify(sha256)}`);
    while (busy.has(sha256)) {
      await busy.get(sha256)!.catch(() => undefined);
      signal?.throwIfAborted();
    }
    const running = download(sha256, signal);
    busy.set(sha256, running);
    try {
      return await running;
    } finally {
      busy.delete(sha256);
    }
  };
}

interface AttemptInput {
  doFetch: typeof globalThis.fetch;
  url: string;
  sha256: string;
  authorization: string;
  signal: AbortSignal | undefined;
  stallMs: number;
  clock: Clock;
  part: Part;
  onBytes: (n: number) => void;
}

async function fetchOnce(input: AttemptInput): Promise<Uint8Array> {
  const { url, sha256, signal, part, clock, stallMs } = input;
  const stalled = new AbortController();
  let timer = clock.setTimeout(() => stalled.abort(), stallMs);
  const alive = (): void => {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(() => stalled.abort(), stallMs);
  };
  const combined = signal ? AbortSignal.any([signal, stalled.signal]) : stalled.signal;
  const transient = (error: unknown): TransientBlobError => {
    if (signal?.aborted) throw signal.reason;
    return new TransientBlobError(stalled.signal.aborted ? `nothing received for ${stallMs} ms` : describeError(error));
  };
  try {
    const have = await part.size();
    const headers: Record<string, string> = {
      authorization: input.authorization,
      accept: 'application/octet-stream',
    };
    if (have > 0) headers.range = `bytes=${have}-`;
    let response: Response;
    try {
      response = await input.doFetch(url, { headers, signal: combined });
    } catch (error) {
      throw transient(error);
    }
    const status = response.status;
    if (status === 416 && have > 0) {
      // The part already holds the whole blob (or more: then it is wrong and the hash says so).
      await response.body?.cancel().catch(() => undefined);
      return await verified(part, sha256);
    }
    if (status !== 200 && status !== 206) {
      await response.body?.cancel().catch(() => undefined);
      if (status === 404) throw new TransientBlobError(`GET ${new URL(url).pathname}: HTTP 404`, undefined, true);
      if (status === 408 || status === 425 || status === 429 || status >= 500) {
        const retryAfter = Number(response.headers.get('retry-after'));
        throw new TransientBlobError(`HTTP ${status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
      }
      throw new AgentError('blob.fetch', `GET ${new URL(url).pathname}: HTTP ${status}`);
    }
    if (status === 206 && rangeStart(response.headers.get('content-range')) !== have) {
      await response.body?.cancel().catch(() => undefined);
      await part.discard();
      throw new TransientBlobError(`the server answered a different range (${response.headers.get('content-range')}) than bytes=${have}-`);
    }
    // 200: the whole blob, whatever was asked.
    if (status === 200 && have > 0) await part.discard();
    const body = response.body;
    if (body) {
      try {
        await part.append(
          (async function* () {
            for await (const chunk of body) {
              alive();
              input.onBytes(chunk.byteLength);
              yield chunk;
            }
          })(),
        );
      } catch (error) {
        if (error instanceof AgentError) throw error;
        throw transient(`body: ${describeError(error)}`);
      }
    }
    return await verified(part, sha256);
  } finally {
    clock.clearTimeout(timer);
  }
}

/** The part's bytes when they hash to `sha256` (the part is then removed); otherwise discarded. */
async function verified(part: Part, sha256: string): Promise<Uint8Array> {
  const bytes = await part.bytes();
  const actual = createHash('sha256').update(bytes).digest('hex');
  await part.discard();
  if (actual !== sha256) {
    throw new AgentError('blob.hash-mismatch', `blob ${sha256}: received ${bytes.length} bytes with sha256 ${actual}`);
  }
  return bytes;
}

function rangeStart(contentRange: string | null): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function memoryPart(): Part {
  let chunks: Uint8Array[] = [];
  let size = 0;
  return {
    size: async () => size,
    append: async (source) => {
      let n = 0;
      for await (const chunk of source) {
        chunks.push(chunk);
        size += chunk.byteLength;
        n += chunk.byteLength;
      }
      return n;
    },
    bytes: async () => Buffer.concat(chunks),
    discard: async () => {
      chunks = [];
      size = 0;
    },
  };
}

function filePart(file: string): Part {
  return {
    size: () =>
      stat(file).then(
        (s) => s.size,
        () => 0,
      ),
    append: async (source) => {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const handle = await open(file, 'a', 0o600);
      let n = 0;
      try {
        for await (const chunk of source) {
          await handle.write(chunk);
          n += chunk.byteLength;
        }
      } finally {
        await handle.close();
      }
      return n;
    },
    bytes: async () => new Uint8Array(await readFile(file).catch(() => Buffer.alloc(0))),
    discard: () => rm(file, { force: true }),
  };
}

/**
 * Removes part files not written to for `maxAgeMs` (default 7 days): downloads of jobs that were
 * cancelled or superseded and will not resume. Run at agent start; returns how many were removed.
 */
export async function removeStaleParts(partDir: string, now: Date, maxAgeMs = 7 * 24 * 3_600_000): Promise<number> {
  let removed = 0;
  for (const name of await readdir(partDir).catch(() => [] as string[])) {
    if (!name.endsWith('.part')) continue;
    const file = path.join(partDir, name);
    const modified = await stat(file).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (modified === undefined || now.getTime() - modified < maxAgeMs) continue;
    await rm(file, { force: true });
    removed++;
  }
  return removed;
}
