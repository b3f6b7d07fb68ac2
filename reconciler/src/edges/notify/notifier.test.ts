import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import type { Notifier as NotifierSpec } from '../../../../schemas/kinds.ts';
import { createLogger } from '../../../../schemas/log.ts';
import { slackPayload, teamsPayload, webhookPayload } from './formats.ts';
import { Notifier, type NotifierOptions } from './notifier.ts';
import { type Reply, startReceiver } from './test-receiver.ts';
import { deviceFailed, revisionRejected, rolloutEnded, rolloutHalted, waveCompleted } from './test-events.ts';

const FAST = { baseDelayMs: 5, maxDelayMs: 20 };

interface LogEntry {
  level: string;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

function captureLog() {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => lines.push(line) });
  const entries = () => lines.map((l) => JSON.parse(l) as LogEntry);
  const warnings = () => entries().filter((e) => e.level === 'warn' || e.level === 'error');
  return { log, lines, entries, warnings };
}

function start(t: TestContext, options: Omit<NotifierOptions, 'log' | 'resolveSecret'> & Partial<NotifierOptions>) {
  const logs = captureLog();
  const notifier = new Notifier({ resolveSecret: () => undefined, log: logs.log, retry: FAST, ...options });
  t.after(() => notifier.close());
  return { notifier, logs };
}

async function receiver(t: TestContext, respond?: (req: { path: string; headers: Record<string, unknown> }, i: number) => Reply | Promise<Reply>) {
  const r = await startReceiver(respond);
  t.after(() => r.close());
  return r;
}

describe('Notifier delivery', () => {
  it('POSTs a signed webhook: JSON body, headers, HMAC-SHA256 of the exact bytes', async (t) => {
    const rx = await receiver(t);
    const secrets: Record<string, string> = { 'hook-key': 's3cr3t-signing-key' };
    const { notifier, logs } = start(t, {
      notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/hooks/deployx`, signingSecret: 'hook-key' }],
      resolveSecret: (name) => secrets[name],
    });
    const event = rolloutHalted();
    notifier.notify(event);
    assert.equal(await notifier.flush(5000), true);

    assert.equal(rx.requests.length, 1);
    const req = rx.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hooks/deployx');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], 'deployx');
    assert.equal(req.headers['x-deployx-event'], 'rollout.halted');
    assert.match(String(req.headers['x-deployx-delivery']), /^[0-9a-f-]{36}$/);
    const expected = `sha256=${createHmac('sha256', 's3cr3t-signing-key').update(req.body).digest('hex')}`;
    assert.equal(req.headers['x-deployx-signature'], expected);
    assert.deepEqual(JSON.parse(req.body), webhookPayload(event));
    assert.equal(JSON.parse(req.body).summary, 'rollout web-server halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)');
    assert.deepEqual(logs.warnings(), []);
    assert.deepEqual(notifier.stats(), [{ name: 'ops', type: 'webhook', queued: 0, delivered: 1, failed: 0, dropped: 0, skipped: 0 }]);
  });

  it('sends Slack and Teams bodies, unsigned when no signing secret is set', async (t) => {
    const rx = await receiver(t);
    const { notifier } = start(t, {
      notifiers: [
        { name: 'chat', type: 'slack', url: `${rx.url}/slack` },
        { name: 'office', type: 'teams', url: `${rx.url}/teams` },
      ],
    });
    const event = rolloutEnded('rollout.completed');
    notifier.notify(event);
    assert.equal(await notifier.flush(5000), true);

    const [slack] = rx.at('/slack');
    const [teams] = rx.at('/teams');
    assert.deepEqual(JSON.parse(slack!.body), slackPayload(event));
    assert.equal(JSON.parse(slack!.body).text, 'web-eu @ main@abc1234: 212/212 succeeded');
    assert.deepEqual(JSON.parse(teams!.body), teamsPayload(event));
    assert.equal(JSON.parse(teams!.body).attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(slack!.headers['x-deployx-signature'], undefined);
    assert.equal(teams!.headers['x-deployx-event'], 'rollout.completed');
  });

  it('sends each notifier only the events it subscribes to, in order', async (t) => {
    const rx = await receiver(t);
    const { notifier } = start(t, {
      notifiers: [
        { name: 'halts', type: 'webhook', url: `${rx.url}/halts`, events: ['rollout.halted', 'revision.rejected'] },
        { name: 'all', type: 'webhook', url: `${rx.url}/all` },
        { name: 'none', type: 'webhook', url: `${rx.url}/none`, events: [] },
      ],
    });
    notifier.notify(waveCompleted());
    notifier.notify(rolloutHalted());
    notifier.notify(deviceFailed());
    notifier.notify(revisionRejected());
    assert.equal(await notifier.flush(5000), true);

    const types = (path: string) => rx.at(path).map((r) => JSON.parse(r.body).type);
    assert.deepEqual(types('/halts'), ['rollout.halted', 'revision.rejected']);
    assert.deepEqual(types('/all'), ['rollout.wave.completed', 'rollout.halted', 'device.failed', 'revision.rejected']);
    assert.deepEqual(types('/none'), []);
  });

  it('retries after a 503 with the same delivery id, then succeeds', async (t) => {
    const rx = await receiver(t, (_req, i) => (i === 0 ? { status: 503, body: 'busy' } : { status: 204 }));
    const { notifier, logs } = start(t, { notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }] });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);

    assert.equal(rx.requests.length, 2);
    const [first, second] = rx.requests;
    assert.equal(first!.body, second!.body);
    assert.equal(first!.headers['x-deployx-delivery'], second!.headers['x-deployx-delivery']);
    assert.ok(second!.receivedAt - first!.receivedAt < 1000, 'backoff base from the options, not 1 s');
    assert.deepEqual(logs.warnings(), []);
    assert.equal(notifier.stats()[0]!.delivered, 1);
  });

  it('honours Retry-After on a 429', async (t) => {
    const rx = await receiver(t, (_req, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const { notifier } = start(t, { notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }] });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);

    assert.equal(rx.requests.length, 2);
    const gap = rx.requests[1]!.receivedAt - rx.requests[0]!.receivedAt;
    assert.ok(gap >= 950, `waited ${gap} ms, Retry-After asked for 1000`);
    assert.equal(notifier.stats()[0]!.delivered, 1);
  });

  it('gives up after maxAttempts, warns with the code, and goes on with the next event', async (t) => {
    let healthy = false;
    const rx = await receiver(t, () => (healthy ? { status: 200 } : { status: 500, body: 'internal error' }));
    const { notifier, logs } = start(t, {
      notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }],
      retry: { ...FAST, maxAttempts: 3 },
    });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);
    assert.equal(rx.requests.length, 3);
    const [warning, ...others] = logs.warnings();
    assert.equal(others.length, 0);
    assert.equal(warning!.code, 'notify.gave-up');
    assert.equal(warning!.attempts, 3);
    assert.equal(warning!.status, 500);
    assert.equal(warning!.response, 'internal error');

    healthy = true;
    notifier.notify(deviceFailed());
    assert.equal(await notifier.flush(5000), true);
    assert.equal(JSON.parse(rx.requests[3]!.body).type, 'device.failed');
    assert.deepEqual(
      notifier.stats().map(({ delivered, failed }) => ({ delivered, failed })),
      [{ delivered: 1, failed: 1 }],
    );
  });

  it('does not retry a 4xx other than 408 and 429', async (t) => {
    const rx = await receiver(t, () => ({ status: 410, body: 'no_service' }));
    const { notifier, logs } = start(t, { notifiers: [{ name: 'chat', type: 'slack', url: `${rx.url}/services/x` }] });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);
    assert.equal(rx.requests.length, 1);
    assert.deepEqual(
      logs.warnings().map((w) => [w.code, w.status, w.response]),
      [['notify.rejected', 410, 'no_service']],
    );
  });

  it('counts a request that outlives requestTimeoutMs as a failed attempt', async (t) => {
    const rx = await receiver(t, () => 'hang');
    const { notifier, logs } = start(t, {
      notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }],
      retry: { ...FAST, maxAttempts: 2 },
      requestTimeoutMs: 100,
    });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);
    assert.equal(rx.requests.length, 2);
    assert.deepEqual(
      logs.warnings().map((w) => [w.code, w.error]),
      [['notify.gave-up', 'timeout']],
    );
  });
});

describe('Notifier never blocks its caller', () => {
  it('returns from notify() synchronously while the receiver hangs; close() aborts the request', async (t) => {
    const rx = await receiver(t, () => 'hang');
    const { notifier } = start(t, { notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }] });

    const started = performance.now();
    const returned = notifier.notify(rolloutHalted());
    assert.equal(returned, undefined, 'not a promise');
    assert.equal(rx.requests.length, 0, 'nothing is sent inside the call');
    await rx.waitFor(1);

    // With the first request hanging, more events still queue at once.
    const before = performance.now();
    for (let i = 0; i < 500; i++) notifier.notify(deviceFailed({ jobId: `job-${i}` }));
    assert.ok(performance.now() - before < 500, 'queueing 500 events is immediate');
    assert.ok(performance.now() - started < 5000);
    assert.equal(notifier.stats()[0]!.queued, 500);

    assert.equal(await notifier.flush(50), false, 'flush reports the timeout');
    const closing = performance.now();
    await notifier.close();
    assert.ok(performance.now() - closing < 1000, 'close does not wait for the hanging request');
    assert.equal(rx.requests.length, 1);
    assert.doesNotThrow(() => notifier.notify(rolloutHalted()), 'notify after close is a no-op');
  });

  it('never throws, even for an event that cannot be copied', (t) => {
    const { notifier, logs } = start(t, { notifiers: [{ name: 'ops', type: 'webhook', url: 'http://127.0.0.1:9/h' }] });
    const bad = { ...rolloutHalted(), extra: () => 0 } as unknown as Parameters<Notifier['notify']>[0];
    assert.doesNotThrow(() => notifier.notify(bad));
    assert.deepEqual(
      logs.warnings().map((w) => w.code),
      ['notify.internal'],
    );
  });

  it('drops the oldest waiting events when a queue is full', async (t) => {
    let release!: () => void;
    const gate = new Promise<Reply>((resolve) => (release = () => resolve({ status: 200 })));
    const rx = await receiver(t, (_req, i) => (i === 0 ? gate : { status: 200 }));
    const { notifier, logs } = start(t, { notifiers: [{ name: 'ops', type: 'webhook', url: `${rx.url}/h` }], queueLimit: 3 });

    notifier.notify(deviceFailed({ jobId: 'job-1' }));
    await rx.waitFor(1); // job-1 is in flight, not waiting
    for (const n of [2, 3, 4, 5, 6]) notifier.notify(deviceFailed({ jobId: `job-${n}` }));
    assert.equal(notifier.stats()[0]!.queued, 3);
    release();
    assert.equal(await notifier.flush(5000), true);

    assert.deepEqual(
      rx.requests.map((r) => JSON.parse(r.body).jobId),
      ['job-1', 'job-4', 'job-5', 'job-6'],
    );
    const full = logs.warnings().filter((w) => w.code === 'notify.queue-full');
    assert.equal(full.length, 2, 'one warning when dropping starts, one with the total when there is room again');
    assert.equal(full[0]!.queueLimit, 3);
    assert.equal(full[1]!.dropped, 2);
    assert.equal(notifier.stats()[0]!.dropped, 2);
  });
});

describe('Notifier secrets', () => {
  it('never logs a secret URL, its path, query or userinfo', async (t) => {
    const rx = await receiver(t, (req) =>
      req.path.startsWith('/services/')
        ? { status: 404, body: `no webhook at ${req.path} (${String(req.headers.authorization)})` }
        : { status: 503, body: 'try later' },
    );
    const closed = await startReceiver();
    await closed.close(); // a port nobody listens on: connection refused
    const secretUrls: Record<string, string> = {
      'slack-url': `http://hookuser:hookpass123@127.0.0.1:${rx.port}/services/T0SECRET/B0SECRET/XSECRETTOKEN`,
      'teams-url': `http://127.0.0.1:${rx.port}/workflows/SECRETWORKFLOW/invoke?api-version=1&sig=QSECRETSIG`,
      'gone-url': `http://127.0.0.1:${closed.port}/services/GONESECRET?token=GONESECRETTOKEN`,
    };
    const { notifier, logs } = start(t, {
      notifiers: [
        { name: 'chat', type: 'slack', urlSecret: 'slack-url' },
        { name: 'office', type: 'teams', urlSecret: 'teams-url' },
        { name: 'gone', type: 'webhook', urlSecret: 'gone-url' },
      ],
      resolveSecret: (name) => secretUrls[name],
      retry: { ...FAST, maxAttempts: 2 },
    });
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);

    const slack = rx.at('/services/T0SECRET/B0SECRET/XSECRETTOKEN');
    assert.equal(slack.length, 1, 'rejected with 404, not retried');
    assert.equal(slack[0]!.headers.authorization, `Basic ${Buffer.from('hookuser:hookpass123').toString('base64')}`);
    assert.equal(rx.at('/workflows/SECRETWORKFLOW/invoke')[0]!.query, '?api-version=1&sig=QSECRETSIG');

    const byNotifier = Object.fromEntries(logs.warnings().map((w) => [w.notifier, w]));
    assert.equal(byNotifier.chat!.code, 'notify.rejected');
    assert.equal(byNotifier.chat!.target, rx.url);
    assert.equal(byNotifier.office!.code, 'notify.gave-up');
    assert.equal(byNotifier.office!.target, rx.url);
    assert.equal(byNotifier.gone!.code, 'notify.gave-up');
    assert.equal(byNotifier.gone!.error, 'ECONNREFUSED');

    const all = logs.lines.join('\n');
    assert.ok(logs.entries().some((e) => e.level === 'debug'), 'debug lines (retries) are checked too');
    for (const secret of ['SECRET', 'hookuser', 'hookpass123', 'sig=', 'token=', 'aG9va3']) {
      assert.ok(!all.includes(secret), `log mentions ${secret}:\n${all}`);
    }
  });

  it('skips a notifier whose secret is missing, warning once, and keeps serving the others', async (t) => {
    const rx = await receiver(t);
    const { notifier, logs } = start(t, {
      notifiers: [
        { name: 'no-url', type: 'slack', urlSecret: 'slack-url' },
        { name: 'no-key', type: 'webhook', url: `${rx.url}/unsigned`, signingSecret: 'hook-key' },
        { name: 'bad-url', type: 'webhook', url: 'ftp://example.com/x' },
        { name: 'ok', type: 'webhook', url: `${rx.url}/ok` },
      ],
      resolveSecret: () => undefined,
    });
    notifier.notify(rolloutHalted());
    notifier.notify(deviceFailed());
    assert.equal(await notifier.flush(5000), true);

    assert.deepEqual(
      rx.requests.map((r) => r.path),
      ['/ok', '/ok'],
    );
    assert.deepEqual(
      logs.warnings().map((w) => [w.notifier, w.code, w.field, w.missing]),
      [
        ['no-url', 'notify.secret-missing', 'urlSecret', 'slack-url'],
        ['no-key', 'notify.secret-missing', 'signingSecret', 'hook-key'],
        ['bad-url', 'notify.url-invalid', undefined, undefined],
      ],
    );
    assert.deepEqual(
      notifier.stats().map((s) => [s.name, s.skipped, s.delivered]),
      [
        ['no-url', 2, 0],
        ['no-key', 2, 0],
        ['bad-url', 2, 0],
        ['ok', 0, 2],
      ],
    );
  });

  it('resolves secrets at delivery, so a secret added later is used', async (t) => {
    const rx = await receiver(t);
    const secrets: Record<string, string> = {};
    const { notifier } = start(t, {
      notifiers: [{ name: 'ops', type: 'webhook', urlSecret: 'ops-url' }],
      resolveSecret: (name) => secrets[name],
    });
    notifier.notify(waveCompleted());
    assert.equal(await notifier.flush(5000), true);
    secrets['ops-url'] = `${rx.url}/later`;
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);
    assert.deepEqual(
      rx.requests.map((r) => [r.path, JSON.parse(r.body).type]),
      [['/later', 'rollout.halted']],
    );
  });
});

describe('Notifier.setNotifiers', () => {
  it('adds, updates and removes notifiers by name', async (t) => {
    const rx = await receiver(t);
    const list = (...specs: NotifierSpec[]) => specs;
    const { notifier } = start(t, {
      notifiers: list({ name: 'a', type: 'webhook', url: `${rx.url}/a1` }, { name: 'b', type: 'webhook', url: `${rx.url}/b` }),
    });
    notifier.notify(waveCompleted());
    assert.equal(await notifier.flush(5000), true);

    notifier.setNotifiers(list({ name: 'a', type: 'webhook', url: `${rx.url}/a2` }, { name: 'c', type: 'webhook', url: `${rx.url}/c` }));
    notifier.notify(rolloutHalted());
    assert.equal(await notifier.flush(5000), true);

    assert.deepEqual(
      rx.requests.map((r) => `${r.path} ${JSON.parse(r.body).type}`).sort(),
      ['/a1 rollout.wave.completed', '/a2 rollout.halted', '/b rollout.wave.completed', '/c rollout.halted'],
    );
    assert.deepEqual(
      notifier.stats().map((s) => s.name),
      ['a', 'c'],
    );
  });
});
