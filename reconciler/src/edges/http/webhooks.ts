// Push webhooks from GitHub, GitLab and Gitea (Forgejo too): verify, then parse. Pure functions
// over headers and the raw body, no express. A verified push only tells the server "look again":
// the handler enqueues the source key and the pass fetches the branch itself, so nothing in the
// payload (not even `after`) is trusted as desired state.
//
// Verification, when a secret is configured (a request without the provider's signature or token
// is then refused; without a secret nothing is verified, which is safe for the same reason):
//   GitHub  `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`
//   Gitea   `X-Gitea-Signature: <hex HMAC-SHA256(secret, raw body)>`
//   GitLab  `X-Gitlab-Token: <secret>` (GitLab sends the secret itself)
// Gitea also sends GitHub's headers, so `X-Gitea-Event` is looked at first.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookProvider = 'github' | 'gitlab' | 'gitea';

export interface PushWebhook {
  provider: WebhookProvider;
  /** `refs/heads/main`, or a tag's ref. */
  ref: string;
  /** The commit the ref points to after the push (all zeros when it was deleted). */
  after: string;
  /** `owner/name` (GitLab: `group/subgroup/project`). */
  repository: string;
  /** The clone and web URLs the payload names, for matching against the configured source. */
  repositoryUrls: string[];
}

export type WebhookErrorCode =
  /** A secret is configured and the signature or token is missing or wrong. */
  | 'webhook.signature'
  /** A valid request for something other than a push (GitHub `ping`, a merge request, …): ignored. */
  | 'webhook.unsupported-event'
  /** A push whose body is not the JSON of a push event. */
  | 'webhook.bad-payload';

/** The HTTP status for each code, for the one place that maps errors to responses. */
export const WEBHOOK_ERROR_STATUS: Readonly<Record<WebhookErrorCode, number>> = {
  'webhook.signature': 401,
  'webhook.unsupported-event': 202,
  'webhook.bad-payload': 400,
};

export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  readonly code: WebhookErrorCode;

  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type WebhookHeaders = Record<string, string | string[] | undefined>;

/** Verifies and parses one webhook delivery; a typed `WebhookError` otherwise. */
export function parsePushWebhook(headers: WebhookHeaders, rawBody: Buffer, secret?: string): PushWebhook {
  const get = headerLookup(headers);
  const configured = secret !== undefined && secret !== '';

  const giteaEvent = get('x-gitea-event') ?? get('x-forgejo-event');
  const gitlabEvent = get('x-gitlab-event');
  const githubEvent = get('x-github-event');

  if (giteaEvent !== undefined) {
    if (configured) verifyHmac(get('x-gitea-signature') ?? get('x-forgejo-signature'), '', secret, rawBody, 'X-Gitea-Signature');
    requireEvent(giteaEvent, 'push', 'Gitea');
    return parseGitHubLike('gitea', headers, rawBody);
  }
  if (gitlabEvent !== undefined) {
    if (configured) verifyToken(get('x-gitlab-token'), secret);
    requireEvent(gitlabEvent, 'Push Hook', 'GitLab');
    return parseGitLab(rawBody);
  }
  if (githubEvent !== undefined) {
    if (configured) verifyHmac(get('x-hub-signature-256'), 'sha256=', secret, rawBody, 'X-Hub-Signature-256');
    requireEvent(githubEvent, 'push', 'GitHub');
    return parseGitHubLike('github', headers, rawBody);
  }
  if (configured) throw new WebhookError('webhook.signature', 'not a signed GitHub, GitLab or Gitea webhook');
  throw new WebhookError('webhook.unsupported-event', 'not a GitHub, GitLab or Gitea webhook');
}

/** `sha256=<hex>`: the `X-Hub-Signature-256` GitHub sends for `body` (for tests and senders). */
export function hubSignature256(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function verifyHmac(header: string | undefined, prefix: string, secret: string, body: Buffer, name: string): void {
  if (header === undefined) throw new WebhookError('webhook.signature', `${name} is missing`);
  const hex = header.trim().toLowerCase();
  if (!hex.startsWith(prefix) || !/^[0-9a-f]{64}$/.test(hex.slice(prefix.length))) {
    throw new WebhookError('webhook.signature', `${name} is not ${prefix}<hex HMAC-SHA256>`);
  }
  const given = Buffer.from(hex.slice(prefix.length), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WebhookError('webhook.signature', `${name} does not match the body`);
  }
}

function verifyToken(token: string | undefined, secret: string): void {
  if (token === undefined) throw new WebhookError('webhook.signature', 'X-Gitlab-Token is missing');
  // Digests first: equal lengths for timingSafeEqual, and the secret's length is not revealed.
  const given = createHash('sha256').update(token).digest();
  const expected = createHash('sha256').update(secret).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WebhookError('webhook.signature', 'X-Gitlab-Token does not match');
  }
}

function requireEvent(event: string, wanted: string, provider: string): void {
  if (event !== wanted) throw new WebhookError('webhook.unsupported-event', `${provider} event ${JSON.stringify(event)} is ignored`);
}

/** GitHub and Gitea push payloads: `ref`, `after`, `repository.full_name`. */
function parseGitHubLike(provider: 'github' | 'gitea', headers: WebhookHeaders, rawBody: Buffer): PushWebhook {
  const body = record(parseBody(headerLookup(headers)('content-type'), rawBody));
  const repository = record(body.repository);
  const fullName = repository.full_name;
  if (typeof fullName !== 'string') throw badPayload('repository.full_name');
  return {
    provider,
    ref: pushRef(body.ref),
    after: pushOid(body.after),
    repository: fullName,
    repositoryUrls: strings(repository.clone_url, repository.html_url, repository.ssh_url, repository.git_url),
  };
}

/** GitLab push payloads: `ref`, `after`, `project.path_with_namespace`. */
function parseGitLab(rawBody: Buffer): PushWebhook {
  const body = record(parseBody(undefined, rawBody));
  const project = record(body.project);
  const fullName = project.path_with_namespace;
  if (typeof fullName !== 'string') throw badPayload('project.path_with_namespace');
  return {
    provider: 'gitlab',
    ref: pushRef(body.ref),
    after: pushOid(body.after),
    repository: fullName,
    repositoryUrls: strings(project.git_http_url, project.web_url, project.git_ssh_url),
  };
}

/** JSON, or GitHub's `application/x-www-form-urlencoded` delivery (JSON in a `payload` field). */
function parseBody(contentType: string | undefined, rawBody: Buffer): unknown {
  let text = rawBody.toString('utf8');
  if (contentType !== undefined && /^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) throw badPayload('the payload form field');
    text = payload;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WebhookError('webhook.bad-payload', 'the body is not JSON');
  }
}

function pushRef(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('refs/')) throw badPayload('ref');
  return value;
}

function pushOid(value: unknown): string {
  if (typeof value !== 'string' || !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value)) throw badPayload('after');
  return value;
}

function record(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WebhookError('webhook.bad-payload', 'the payload is not a push event object');
  }
  return value as Record<string, unknown>;
}

function strings(...values: unknown[]): string[] {
  return values.filter((v): v is string => typeof v === 'string' && v !== '');
}

function badPayload(field: string): WebhookError {
  return new WebhookError('webhook.bad-payload', `the push payload has no valid ${field}`);
}

/** Case-insensitive lookup; a repeated header counts by its first value. */
function headerLookup(headers: WebhookHeaders): (name: string) => string | undefined {
  const lower = new Map<string, string | string[] | undefined>();
  for (const [key, value] of Object.entries(headers)) lower.set(key.toLowerCase(), value);
  return (name) => {
    const value = lower.get(name);
    return Array.isArray(value) ? value[0] : value;
  };
}
