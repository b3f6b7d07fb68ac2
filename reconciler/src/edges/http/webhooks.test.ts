import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { hubSignature256, parsePushWebhook, WebhookError, type WebhookErrorCode, type WebhookHeaders } from './webhooks.ts';

const SECRET = 'webhook-secret';
const AFTER = '0123456789abcdef0123456789abcdef01234567';

const githubBody = Buffer.from(
  JSON.stringify({
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: AFTER,
    repository: { full_name: 'contoso/fleet', clone_url: 'https://github.com/contoso/fleet.git', html_url: 'https://github.com/contoso/fleet' },
  }),
);
const gitlabBody = Buffer.from(
  JSON.stringify({
    object_kind: 'push',
    ref: 'refs/heads/main',
    after: AFTER,
    project: { path_with_namespace: 'it/fleet', git_http_url: 'https://gitlab.example/it/fleet.git' },
  }),
);

function github(body: Buffer, event = 'push', secret: string | null = SECRET): WebhookHeaders {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': 'd1',
    ...(secret === null ? {} : { 'x-hub-signature-256': hubSignature256(secret, body) }),
  };
}

function code(fn: () => unknown): WebhookErrorCode {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WebhookError, String(err));
    return err.code;
  }
  assert.fail('expected a WebhookError');
}

describe('parsePushWebhook', () => {
  it("matches GitHub's documented signature test vector", () => {
    const body = Buffer.from('Hello, World!');
    const secret = "It's a Secret to Everybody";
    const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    assert.equal(hubSignature256(secret, body), expected);
    // Verification passes (the body is then refused as a payload, not as a signature).
    const headers = { 'x-github-event': 'push', 'x-hub-signature-256': expected };
    assert.equal(code(() => parsePushWebhook(headers, body, secret)), 'webhook.bad-payload');
    const tampered = { ...headers, 'x-hub-signature-256': expected.replace(/7$/, '8') };
    assert.equal(code(() => parsePushWebhook(tampered, body, secret)), 'webhook.signature');
  });

  it('parses a signed GitHub push', () => {
    assert.deepEqual(parsePushWebhook(github(githubBody), githubBody, SECRET), {
      provider: 'github',
      ref: 'refs/heads/main',
      after: AFTER,
      repository: 'contoso/fleet',
      repositoryUrls: ['https://github.com/contoso/fleet.git', 'https://github.com/contoso/fleet'],
    });
  });

  it('refuses a wrong, malformed or missing signature when a secret is set', () => {
    assert.equal(code(() => parsePushWebhook(github(githubBody, 'push', 'other-secret'), githubBody, SECRET)), 'webhook.signature');
    const altered = Buffer.from(githubBody.toString().replace('main', 'evil'));
    assert.equal(code(() => parsePushWebhook(github(githubBody), altered, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook({ ...github(githubBody), 'x-hub-signature-256': 'sha256=abc' }, githubBody, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook(github(githubBody, 'push', null), githubBody, SECRET)), 'webhook.signature');
    // The legacy SHA-1 header alone is not enough.
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(githubBody).digest('hex')}`;
    assert.equal(code(() => parsePushWebhook({ 'x-github-event': 'push', 'x-hub-signature': sha1 }, githubBody, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook({ 'content-type': 'application/json' }, githubBody, SECRET)), 'webhook.signature');
  });

  it('accepts an unsigned push when no secret is configured', () => {
    assert.equal(parsePushWebhook(github(githubBody, 'push', null), githubBody).repository, 'contoso/fleet');
    assert.equal(parsePushWebhook(github(githubBody, 'push', null), githubBody, '').ref, 'refs/heads/main');
  });

  it('ignores a GitHub ping and other events, after verifying them', () => {
    const ping = Buffer.from(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }));
    assert.equal(code(() => parsePushWebhook(github(ping, 'ping'), ping, SECRET)), 'webhook.unsupported-event');
    assert.equal(code(() => parsePushWebhook(github(ping, 'ping', 'wrong'), ping, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook(github(githubBody, 'pull_request'), githubBody, SECRET)), 'webhook.unsupported-event');
    assert.equal(code(() => parsePushWebhook({}, githubBody)), 'webhook.unsupported-event');
  });

  it('refuses malformed JSON and payloads without the push fields', () => {
    const broken = Buffer.from('{"ref": "refs/heads/main",');
    assert.equal(code(() => parsePushWebhook(github(broken), broken, SECRET)), 'webhook.bad-payload');
    const noAfter = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'a/b' } }));
    assert.equal(code(() => parsePushWebhook(github(noAfter), noAfter, SECRET)), 'webhook.bad-payload');
    const array = Buffer.from('[]');
    assert.equal(code(() => parsePushWebhook(github(array), array, SECRET)), 'webhook.bad-payload');
  });

  it("parses GitHub's form-encoded delivery", () => {
    const form = Buffer.from(new URLSearchParams({ payload: githubBody.toString() }).toString());
    const headers = { ...github(form), 'content-type': 'application/x-www-form-urlencoded' };
    assert.equal(parsePushWebhook(headers, form, SECRET).after, AFTER);
  });

  it('checks the GitLab token', () => {
    const headers = { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': SECRET };
    assert.deepEqual(parsePushWebhook(headers, gitlabBody, SECRET), {
      provider: 'gitlab',
      ref: 'refs/heads/main',
      after: AFTER,
      repository: 'it/fleet',
      repositoryUrls: ['https://gitlab.example/it/fleet.git'],
    });
    assert.equal(code(() => parsePushWebhook({ ...headers, 'X-Gitlab-Token': 'wrong' }, gitlabBody, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook({ 'X-Gitlab-Event': 'Push Hook' }, gitlabBody, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook({ ...headers, 'X-Gitlab-Event': 'Merge Request Hook' }, gitlabBody, SECRET)), 'webhook.unsupported-event');
  });

  it('checks the Gitea signature (hex, no prefix), before the GitHub headers Gitea also sends', () => {
    const signature = createHmac('sha256', SECRET).update(githubBody).digest('hex');
    const headers = {
      'x-gitea-event': 'push',
      'x-gitea-signature': signature,
      'x-github-event': 'push',
      'x-gogs-event': 'push',
    };
    const push = parsePushWebhook(headers, githubBody, SECRET);
    assert.equal(push.provider, 'gitea');
    assert.equal(push.repository, 'contoso/fleet');
    assert.equal(code(() => parsePushWebhook({ ...headers, 'x-gitea-signature': `sha256=${signature}` }, githubBody, SECRET)), 'webhook.signature');
    assert.equal(code(() => parsePushWebhook({ ...headers, 'x-gitea-signature': signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, githubBody, SECRET)), 'webhook.signature');
    const { 'x-gitea-signature': _, ...unsigned } = headers;
    assert.equal(code(() => parsePushWebhook(unsigned, githubBody, SECRET)), 'webhook.signature');
  });

  it('reads header arrays and any header case', () => {
    const headers = { 'X-GitHub-Event': ['push'], 'X-Hub-Signature-256': [hubSignature256(SECRET, githubBody)] };
    assert.equal(parsePushWebhook(headers, githubBody, SECRET).provider, 'github');
  });
});
