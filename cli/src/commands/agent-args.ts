// Option values shared by `deployx agent` and `deployx simulate`. Pure; a bad value throws a
// UsageError (exit 2).
import { readDuration } from '../../../schemas/duration.ts';
import { UsageError } from '../io.ts';

/** A duration flag (`250ms`, `30s`, `1m30s`; schemas/duration.ts) → milliseconds; `0s` allowed. */
export function parseInterval(option: string, text: string): number {
  const ms = readDuration(text, { zero: true });
  if (ms === undefined) throw new UsageError(`--${option}: not a duration (e.g. 500ms, 30s, 5m, 1h30m): ${JSON.stringify(text)}`);
  return ms;
}

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** `role=web,site=lab` → `{role: 'web', site: 'lab'}` (Kubernetes-style keys and values). */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? undefined : pair.slice(eq + 1);
    if (value === undefined || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
      throw new UsageError(`--labels: expected key=value[,key=value…], got ${JSON.stringify(pair)}`);
    }
    labels[key] = value;
  }
  return labels;
}

export function parseList(text: string): string[] {
  return text.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

export function parseServerUrl(text: string | undefined): string {
  if (text === undefined || text === '') throw new UsageError('--server URL is required');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--server: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--server: use an http:// or https:// URL');
  return url.toString().replace(/\/+$/, '');
}

/**
 * The one-line warning for a plain http:// server that is not this machine: the socket and blob
 * downloads would cross the network unencrypted. Undefined for https:// and for loopback
 * (localhost, 127.0.0.0/8, ::1). Pure.
 */
export function plainHttpWarning(server: string): string | undefined {
  const url = new URL(server);
  if (url.protocol !== 'http:') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (loopback) return undefined;
  return `warning: ${url.origin} is plain HTTP: traffic to it is not encrypted and anyone on the path can read or answer it; use https:// (with --ca FILE for a private CA)`;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export function parseLogLevel(text: string): LogLevelName {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new UsageError(`--log-level: one of ${LOG_LEVELS.join(', ')}`);
  return text as LogLevelName;
}

/**
 * Resolves on the first SIGINT/SIGTERM; `onSecond` runs on a second one (hurry up). `dispose`
 * removes the handlers.
 */
export function onTermination(onSecond: () => void): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let count = 0;
  let resolve: (s: NodeJS.Signals) => void = () => {};
  const signal = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (name: NodeJS.Signals): void => {
    count++;
    if (count === 1) resolve(name);
    else onSecond();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
