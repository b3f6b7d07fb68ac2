// Delivers fleet events to the Fleet's notifiers, in the background.
//
// Contract:
// - `notify(event)` copies the event into the queue of every notifier subscribed to its type (all
//   types when `events` is omitted) and returns; it never awaits, never throws. The reconcile loop
//   calls it inline.
// - Each notifier has its own queue (bounded: when full the OLDEST waiting event is dropped, with
//   one warning per overflow episode) and one worker, so events reach a target in order and a
//   slow or dead target delays only itself.
// - A delivery is one POST of `formatBody(type, event)` with `content-type: application/json`,
//   `user-agent: deployx`, `X-DeployX-Event: <type>`, `X-DeployX-Delivery: <uuid>` (the same on
//   every attempt, for receivers that dedupe) and, when `signingSecret` is set,
//   `X-DeployX-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
// - Network errors, timeouts, 408, 429 and 5xx are retried (`delivery-policy.ts`: jittered
//   exponential backoff, `Retry-After` honoured); any other non-2xx (redirects included) is final.
//   After the last attempt the event is given up with a warning.
// - Secrets are resolved at delivery, so a rotated secret is used at once. A secret that does not
//   resolve skips the event (an unsigned body would be refused anyway): warned once per notifier
//   and secret, then debug-logged.
// - Logs never carry a target URL's path, query or userinfo (`target-url.ts`). Every warning has
//   a `code` from `NotifyLogCode`.
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Notifier as NotifierSpec } from '../../../../schemas/kinds.ts';
import type { Logger } from '../../../../schemas/log.ts';
import { DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter, type RetryPolicy, retryDelayMs } from './delivery-policy.ts';
import type { FleetEvent } from './events.ts';
import { formatBody } from './formats.ts';
import { resolveTarget, type ResolvedTarget, safeResolve, scrub } from './target-url.ts';

/** The `code` of every notification warning; tests and alerts match on these. */
export type NotifyLogCode =
  /** `urlSecret` or `signingSecret` names a secret the server does not have: events skipped. */
  | 'notify.secret-missing'
  /** The target is not an absolute http(s) URL: events skipped. */
  | 'notify.url-invalid'
  /** The queue was full: the oldest waiting events were dropped. */
  | 'notify.queue-full'
  /** The target answered a status that retrying will not change (4xx, 3xx): event given up. */
  | 'notify.rejected'
  /** Every attempt failed with a retryable error: event given up. */
  | 'notify.gave-up'
  /** A bug: formatting or signing threw. The event is given up. */
  | 'notify.internal';

export interface NotifierOptions {
  /** `Fleet.spec.notifiers` of the revision being served. */
  notifiers: readonly NotifierSpec[];
  /** A server-side secret by name; `undefined` when there is none. */
  resolveSecret: (name: string) => string | undefined;
  log: Logger;
  fetch?: typeof globalThis.fetch;
  /** The clock, for `Retry-After` dates. */
  now?: () => Date;
  /** In [0, 1), for backoff jitter. */
  random?: () => number;
  /** Backoff and attempts; `DEFAULT_RETRY_POLICY` for what is not given. Tests shorten the delays. */
  retry?: Partial<RetryPolicy>;
  /** Events waiting per notifier (the one being delivered not counted). Default 1,000. */
  queueLimit?: number;
  /** Time allowed for one request, response included. Default 10 s. */
  requestTimeoutMs?: number;
  /** Also given every event, whatever the notifiers (the dashboard's `/ui` feed). Must not throw. */
  listener?: (event: FleetEvent) => void;
}

export interface NotifierStats {
  name: string;
  type: NotifierSpec['type'];
  /** Events waiting (not counting one being delivered). */
  queued: number;
  delivered: number;
  /** Given up: rejected or out of attempts. */
  failed: number;
  /** Dropped from a full queue, or waiting when the notifier was removed or closed. */
  dropped: number;
  /** Not sent because a secret or the URL was missing or invalid. */
  skipped: number;
}

export const DEFAULT_QUEUE_LIMIT = 1_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const RESPONSE_SNIPPET_CHARS = 200;

type AttemptResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; status?: number; error?: string; retryAfterMs?: number; response?: string }
  | { outcome: 'rejected'; status: number; response?: string }
  | { outcome: 'aborted' };

/** One configured notifier: its spec, queue, worker and counters. */
class Channel {
  spec: NotifierSpec;
  readonly queue: FleetEvent[] = [];
  readonly abort = new AbortController();
  worker: Promise<void> | undefined;
  /**
   * Events dropped in the current overflow episode; >0 means its warning was given. The episode
   * ends when the queue is down to half its limit, so a target that stays slow warns once, not
   * once per delivered event.
   */
  overflow = 0;
  readonly stats: Omit<NotifierStats, 'name' | 'type' | 'queued'> = { delivered: 0, failed: 0, dropped: 0, skipped: 0 };

  constructor(spec: NotifierSpec) {
    this.spec = spec;
  }
}

export class Notifier {
  private readonly channels = new Map<string, Channel>();
  private readonly warned = new Set<string>();
  private readonly resolveSecret: (name: string) => string | undefined;
  private readonly log: Logger;
  private readonly fetch: typeof globalThis.fetch;
  private readonly now: () => Date;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;
  private readonly queueLimit: number;
  private readonly requestTimeoutMs: number;
  private readonly listener: ((event: FleetEvent) => void) | undefined;
  private closed = false;

  constructor(options: NotifierOptions) {
    this.listener = options.listener;
    this.resolveSecret = options.resolveSecret;
    this.log = options.log;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.retry.maxAttempts = Math.max(1, Math.floor(this.retry.maxAttempts));
    this.queueLimit = Math.max(1, Math.floor(options.queueLimit ?? DEFAULT_QUEUE_LIMIT));
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.setNotifiers(options.notifiers);
  }

  /** Queues `event` for every subscribed notifier and returns at once. Never throws. */
  notify(event: FleetEvent): void {
    try {
      if (this.closed) return;
      this.listener?.(event);
      let copy: FleetEvent | undefined;
      for (const channel of this.channels.values()) {
        const events = channel.spec.events;
        if (events !== undefined && !events.includes(event.type)) continue;
        copy ??= Object.freeze(structuredClone(event));
        this.enqueue(channel, copy);
      }
    } catch (err) {
      this.log.error('notification not queued', { code: 'notify.internal' satisfies NotifyLogCode, event: event?.type, error: err });
    }
  }

  /**
   * Replaces the notifier list (a new revision was accepted). Notifiers are matched by name: a kept
   * one keeps its queue and uses the new settings from its next event; a removed one is stopped
   * and its waiting events are dropped.
   */
  setNotifiers(list: readonly NotifierSpec[]): void {
    if (this.closed) return;
    const next = new Map(list.map((spec) => [spec.name, spec]));
    for (const [name, channel] of this.channels) {
      if (next.has(name)) continue;
      this.stop(channel, 'notifier removed');
      this.channels.delete(name);
    }
    for (const spec of next.values()) {
      const channel = this.channels.get(spec.name);
      if (channel === undefined) {
        this.channels.set(spec.name, new Channel(spec));
        continue;
      }
      if (JSON.stringify(channel.spec) !== JSON.stringify(spec)) this.forgetWarnings(spec.name);
      channel.spec = spec;
    }
  }

  /** Resolves `true` once every queue is empty and nothing is in flight, `false` after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
    });
    try {
      for (;;) {
        const busy = [...this.channels.values()].filter((c) => c.worker !== undefined || c.queue.length > 0);
        if (busy.length === 0) return true;
        // A channel with a queue but no worker gets one on the next microtask; wait a turn for it.
        const turn = busy.map((c) => c.worker ?? new Promise<void>((resolve) => setImmediate(resolve)));
        if ((await Promise.race([Promise.all(turn), timedOut])) === 'timeout') return false;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops every worker (in-flight requests and retry waits are aborted) and drops what waits. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.channels.values()].map((c) => {
      this.stop(c, 'notifier closed');
      return c.worker;
    });
    this.channels.clear();
    await Promise.all(workers);
  }

  /** Counters per notifier, for metrics and the dashboard. */
  stats(): NotifierStats[] {
    return [...this.channels.values()].map((c) => ({ name: c.spec.name, type: c.spec.type, queued: c.queue.length, ...c.stats }));
  }

  private enqueue(channel: Channel, event: FleetEvent): void {
    channel.queue.push(event);
    if (channel.queue.length > this.queueLimit) {
      const dropped = channel.queue.shift()!;
      channel.stats.dropped++;
      if (channel.overflow++ === 0) {
        this.log.warn('notification queue full, dropping the oldest events', {
          code: 'notify.queue-full' satisfies NotifyLogCode,
          notifier: channel.spec.name,
          queueLimit: this.queueLimit,
          event: dropped.type,
          at: dropped.at,
        });
      }
    }
    if (channel.worker === undefined) queueMicrotask(() => this.startWorker(channel));
  }

  private endOverflow(channel: Channel): void {
    if (channel.overflow > 1) {
      this.log.warn('notification queue has room again', {
        code: 'notify.queue-full' satisfies NotifyLogCode,
        notifier: channel.spec.name,
        dropped: channel.overflow,
      });
    }
    channel.overflow = 0;
  }

  private startWorker(channel: Channel): void {
    if (channel.worker !== undefined || channel.abort.signal.aborted || channel.queue.length === 0) return;
    channel.worker = this.drain(channel).finally(() => {
      channel.worker = undefined;
      if (channel.queue.length > 0) this.startWorker(channel);
    });
  }

  private async drain(channel: Channel): Promise<void> {
    for (let event = channel.queue.shift(); event !== undefined; event = channel.queue.shift()) {
      if (channel.overflow > 0 && channel.queue.length <= this.queueLimit / 2) this.endOverflow(channel);
      try {
        await this.deliver(channel, event);
      } catch (err) {
        channel.stats.failed++;
        this.log.error('notification not delivered', {
          code: 'notify.internal' satisfies NotifyLogCode,
          notifier: channel.spec.name,
          event: event.type,
          error: err,
        });
      }
      if (channel.abort.signal.aborted) return;
    }
  }

  private async deliver(channel: Channel, event: FleetEvent): Promise<void> {
    const spec = channel.spec;
    const fields = { notifier: spec.name, type: spec.type, event: event.type };

    const target = resolveTarget(spec, this.resolveSecret);
    if ('code' in target) {
      channel.stats.skipped++;
      const detail = target.code === 'notify.secret-missing' ? { field: target.field, missing: target.missing } : { reason: target.reason };
      this.warnOnce(spec.name, `${target.code}:${JSON.stringify(detail)}`, 'notification target unusable, skipping its events', {
        code: target.code,
        ...fields,
        ...detail,
      });
      return;
    }
    let signingKey: string | undefined;
    if (spec.signingSecret !== undefined) {
      signingKey = safeResolve(this.resolveSecret, spec.signingSecret);
      if (signingKey === undefined || signingKey === '') {
        channel.stats.skipped++;
        this.warnOnce(spec.name, `signingSecret:${spec.signingSecret}`, 'notification signing secret missing, skipping its events', {
          code: 'notify.secret-missing' satisfies NotifyLogCode,
          ...fields,
          field: 'signingSecret',
          missing: spec.signingSecret,
        });
        return;
      }
    }

    const body = formatBody(spec.type, event);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'deployx',
      'x-deployx-event': event.type,
      'x-deployx-delivery': randomUUID(),
    };
    if (signingKey !== undefined) headers['x-deployx-signature'] = `sha256=${createHmac('sha256', signingKey).update(body).digest('hex')}`;
    if (target.authorization !== undefined) headers['authorization'] = target.authorization;
    const logFields = { ...fields, target: target.redacted, delivery: headers['x-deployx-delivery'] };

    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(channel, target, headers, body);
      if (result.outcome === 'aborted') return;
      if (result.outcome === 'delivered') {
        channel.stats.delivered++;
        this.log.debug('notification delivered', { ...logFields, status: result.status, attempts: attempt });
        return;
      }
      if (result.outcome === 'rejected') {
        channel.stats.failed++;
        this.log.warn('notification rejected by its target, giving up', {
          code: 'notify.rejected' satisfies NotifyLogCode,
          ...logFields,
          attempts: attempt,
          status: result.status,
          response: result.response,
        });
        return;
      }
      if (attempt >= this.retry.maxAttempts) {
        channel.stats.failed++;
        this.log.warn('notification delivery failed, giving up', {
          code: 'notify.gave-up' satisfies NotifyLogCode,
          ...logFields,
          attempts: attempt,
          status: result.status,
          error: result.error,
          response: result.response,
        });
        return;
      }
      const delayMs = retryDelayMs(attempt, result.retryAfterMs, this.retry, this.random);
      this.log.debug('notification delivery failed, retrying', { ...logFields, attempt, status: result.status, error: result.error, delayMs });
      try {
        await sleep(delayMs, undefined, { signal: channel.abort.signal, ref: false });
      } catch {
        return; // aborted: the notifier was removed or closed
      }
    }
  }

  private async attempt(channel: Channel, target: ResolvedTarget, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const signal = AbortSignal.any([channel.abort.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
    try {
      const res = await this.fetch(target.url, { method: 'POST', headers, body, redirect: 'manual', signal });
      if (res.status >= 200 && res.status < 300) {
        await res.body?.cancel().catch(() => {});
        return { outcome: 'delivered', status: res.status };
      }
      const response = await readSnippet(res, target);
      if (isRetryableStatus(res.status)) {
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.now().getTime());
        return { outcome: 'retry', status: res.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), ...(response === undefined ? {} : { response }) };
      }
      return { outcome: 'rejected', status: res.status, ...(response === undefined ? {} : { response }) };
    } catch (err) {
      if (channel.abort.signal.aborted) return { outcome: 'aborted' };
      return { outcome: 'retry', error: describeError(err, target) };
    }
  }

  private stop(channel: Channel, reason: string): void {
    const waiting = channel.queue.length;
    channel.queue.length = 0;
    channel.stats.dropped += waiting;
    channel.abort.abort();
    if (waiting > 0) this.log.info('notifications dropped', { notifier: channel.spec.name, reason, dropped: waiting });
  }

  private warnOnce(notifier: string, key: string, msg: string, fields: Record<string, unknown>): void {
    const id = `${notifier}\u0000${key}`;
    if (this.warned.has(id)) {
      this.log.debug(msg, fields);
      return;
    }
    this.warned.add(id);
    this.log.warn(msg, fields);
  }

  private forgetWarnings(notifier: string): void {
    for (const id of this.warned) if (id.startsWith(`${notifier}\u0000`)) this.warned.delete(id);
  }
}

/** The start of an error response body, one line, scrubbed of the target's secrets. */
async function readSnippet(res: Response, target: ResolvedTarget): Promise<string | undefined> {
  try {
    const text = (await res.text()).replace(/\s+/g, ' ').trim();
    if (text === '') return undefined;
    const snippet = text.length > RESPONSE_SNIPPET_CHARS ? text.slice(0, RESPONSE_SNIPPET_CHARS) + '…' : text;
    return scrub(snippet, target);
  } catch {
    return undefined;
  }
}

/** `timeout`, `ECONNREFUSED`, …: a network error named without quoting the URL. */
function describeError(err: unknown, target: ResolvedTarget): string {
  if (typeof err !== 'object' || err === null) return 'error';
  const { name, message, cause } = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; name?: unknown } };
  if (name === 'TimeoutError') return 'timeout';
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.name === 'string' && cause.name !== 'Error') return cause.name;
  return scrub(`${String(name)}: ${String(message)}`, target);
}
