// Where a notifier's requests go, and how that place may be named in logs.
//
// A notifier gives its URL inline (`url`, committed to the fleet repository) or as the name of a
// server-side secret (`urlSecret`). Slack and Teams webhook URLs are credentials in their path,
// Power Automate's in their query string, so a URL is never logged whole: logs name the origin
// only, plus the path for a generic webhook whose URL is inline (it is in the repository anyway).
// Userinfo (`https://user:pass@host/hook`) becomes a Basic `authorization` header: fetch refuses
// URLs with credentials, and its error would quote the URL.
import type { Notifier } from '../../../../schemas/kinds.ts';

export interface ResolvedTarget {
  /** The URL to POST to, without userinfo. */
  url: string;
  /** `Basic …` when the URL carried userinfo. */
  authorization?: string;
  /** What logs may say about the target. */
  redacted: string;
  /** Substrings of the URL that must not appear in logs (path, query, credentials). */
  secrets: string[];
}

export type TargetProblem =
  | { code: 'notify.secret-missing'; field: 'urlSecret'; missing: string }
  | { code: 'notify.url-invalid'; reason: string };

export function resolveTarget(spec: Notifier, resolveSecret: (name: string) => string | undefined): ResolvedTarget | TargetProblem {
  let raw: string | undefined;
  if (spec.urlSecret !== undefined) {
    raw = safeResolve(resolveSecret, spec.urlSecret);
    if (raw === undefined || raw.trim() === '') return { code: 'notify.secret-missing', field: 'urlSecret', missing: spec.urlSecret };
    raw = raw.trim();
  } else {
    raw = spec.url;
  }
  if (raw === undefined) return { code: 'notify.url-invalid', reason: 'neither url nor urlSecret' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { code: 'notify.url-invalid', reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { code: 'notify.url-invalid', reason: `${url.protocol} is not http(s)` };

  const secrets = [raw, url.href];
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    const token = Buffer.from(`${user}:${password}`).toString('base64');
    authorization = `Basic ${token}`;
    secrets.push(url.username, url.password, user, password, token);
    url.username = '';
    url.password = '';
  }
  if (url.search !== '') secrets.push(url.search, url.search.slice(1));
  const pathIsSecret = spec.urlSecret !== undefined || spec.type !== 'webhook';
  if (pathIsSecret && url.pathname.length > 1) secrets.push(url.pathname);
  const redacted = pathIsSecret ? url.origin : url.origin + url.pathname;
  return {
    url: url.href,
    ...(authorization === undefined ? {} : { authorization }),
    redacted,
    secrets: secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length),
  };
}

/** `text` with every secret part of the target replaced: for response snippets and error text. */
export function scrub(text: string, target: Pick<ResolvedTarget, 'secrets'>): string {
  let out = text;
  for (const secret of target.secrets) out = out.split(secret).join('[redacted]');
  return out;
}

export function safeResolve(resolveSecret: (name: string) => string | undefined, name: string): string | undefined {
  try {
    const value = resolveSecret(name);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
