import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NOTIFIER_EVENTS } from '../../../../schemas/kinds.ts';
import type { FleetEvent } from './events.ts';
import { formatBody, FORMATTERS, slackPayload, teamsPayload, webhookPayload } from './formats.ts';
import { AT, deviceFailed, REVISION, revisionAccepted, revisionRejected, rolloutEnded, rolloutHalted, waveCompleted } from './test-events.ts';

const ALL: FleetEvent[] = [
  revisionAccepted(),
  revisionRejected(),
  waveCompleted(),
  rolloutEnded('rollout.completed'),
  rolloutEnded('rollout.partial', { succeeded: 210, failed: 2, offline: 0, total: 212 }),
  rolloutEnded('rollout.failed', { succeeded: 0, failed: 212, offline: 0, total: 212 }),
  rolloutHalted(),
  deviceFailed(),
];

describe('webhook format', () => {
  it('is the event itself, type, at and summary first', () => {
    const event = rolloutHalted();
    const body = JSON.parse(formatBody('webhook', event));
    assert.deepEqual(Object.keys(body).slice(0, 3), ['type', 'at', 'summary']);
    assert.deepEqual(body, {
      type: 'rollout.halted',
      at: AT,
      summary: 'rollout web-server halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)',
      rolloutId: 'ro-42',
      profile: 'web-server',
      revision: REVISION,
      wave: { index: 0, name: 'canary' },
      waveCounts: { succeeded: 3, failed: 2, offline: 0, total: 5 },
      counts: { succeeded: 3, failed: 2, offline: 0, total: 50 },
      failedDevices: event.failedDevices,
    });
  });

  it('round-trips every event type', () => {
    assert.deepEqual(new Set(ALL.map((e) => e.type)), new Set(NOTIFIER_EVENTS));
    for (const event of ALL) assert.deepEqual(JSON.parse(formatBody('webhook', event)), webhookPayload(event));
    for (const event of ALL) assert.deepEqual(JSON.parse(formatBody('webhook', event)), JSON.parse(JSON.stringify(event)));
  });
});

describe('slack format', () => {
  it('renders a halted rollout: text, header, fields, one section per failing device, context', () => {
    assert.deepEqual(slackPayload(rolloutHalted()), {
      text: 'rollout web-server halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Rollout halted: web-server', emoji: false } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: 'rollout web-server halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)' },
          fields: [
            { type: 'mrkdwn', text: '*Profile*\nweb-server' },
            { type: 'mrkdwn', text: `*Revision*\n${REVISION}` },
            { type: 'mrkdwn', text: '*Rollout*\nro-42' },
            { type: 'mrkdwn', text: '*Wave*\ncanary (#1)' },
            { type: 'mrkdwn', text: '*Wave failed*\n2 of 5' },
            { type: 'mrkdwn', text: '*Rollout so far*\n3/50 succeeded, 2 failed' },
          ],
        },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: '*web-eu-03: exit code 1*\n```nginx: [emerg] unknown directive "gzip_foo"\nnginx: configuration file test failed```',
          },
        },
        { type: 'section', text: { type: 'mrkdwn', text: '*web-eu-04: exit code 1*\n```nginx: [emerg] unknown directive "gzip_foo"```' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `DeployX · rollout.halted · ${AT}` }] },
      ],
    });
  });

  it('escapes mrkdwn control characters and lists rejected-revision errors', () => {
    assert.equal(slackPayload(revisionAccepted()).text, 'revision main@abc1234 accepted: Bump nginx to 1.24 (Ada Lovelace &lt;ada@example.com&gt;)');
    const payload = slackPayload(revisionRejected());
    assert.equal(payload.text, 'revision main@abc1234 rejected: 3 errors (groups/web.yaml:12 schema.unknown-key …)');
    const json = JSON.stringify(payload.blocks);
    assert.ok(json.includes('*Author*\\nAda Lovelace &lt;ada@example.com&gt;'), json);
    assert.ok(json.includes('*groups/web.yaml:12 schema.unknown-key*'));
    assert.ok(!json.includes('<ada@'));
    assert.ok(!json.includes('"color"'), 'colour-free');
  });

  it('keeps within Block Kit limits', () => {
    const many = rolloutHalted({
      failedDevices: Array.from({ length: 20 }, (_, i) => ({ device: `d${i}`, error: 'x'.repeat(400), output: 'y'.repeat(5000) })),
      profile: 'p'.repeat(300),
    });
    const { blocks } = slackPayload(many) as { blocks: Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> }> };
    assert.ok(blocks.length <= 50);
    assert.ok(blocks[0]!.text!.text.length <= 150);
    for (const b of blocks) {
      if (b.type === 'section') assert.ok(b.text!.text.length <= 3000);
      for (const f of b.fields ?? []) assert.ok(f.text.length <= 2000);
      assert.ok((b.fields ?? []).length <= 10);
    }
    assert.match(blocks.at(-1)!.elements![0]!.text, /15 more not shown$/);
  });
});

describe('teams format', () => {
  it('renders a message with one Adaptive Card', () => {
    assert.deepEqual(teamsPayload(rolloutEnded('rollout.partial', { succeeded: 210, failed: 2, offline: 0, total: 212 })), {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            msteams: { width: 'Full' },
            body: [
              { type: 'TextBlock', text: 'Rollout partially completed: web-eu', weight: 'Bolder', size: 'Medium', style: 'heading', wrap: true },
              { type: 'TextBlock', text: 'web-eu @ main@abc1234 (partial): 210/212 succeeded, 2 failed', wrap: true },
              {
                type: 'FactSet',
                facts: [
                  { title: 'Profile', value: 'web-eu' },
                  { title: 'Revision', value: REVISION },
                  { title: 'Rollout', value: 'ro-42' },
                  { title: 'Succeeded', value: '210/212' },
                  { title: 'Failed', value: '2' },
                  { title: 'Offline', value: '0' },
                ],
              },
              { type: 'TextBlock', text: `DeployX · rollout.partial · ${AT}`, isSubtle: true, size: 'Small', wrap: true },
            ],
          },
        },
      ],
    });
  });

  it('shows device output in a monospace block', () => {
    const body = (teamsPayload(deviceFailed()).attachments[0] as { content: { body: unknown[] } }).content.body;
    assert.deepEqual(body.slice(-3, -1), [
      { type: 'TextBlock', text: 'Output', weight: 'Bolder', wrap: true, spacing: 'Medium' },
      { type: 'TextBlock', text: 'E: Unable to locate package nginx-full', fontType: 'Monospace', wrap: true, spacing: 'Small' },
    ]);
    assert.ok(!JSON.stringify(body).includes('"color"'), 'colour-free');
  });
});

describe('every format', () => {
  it('formats every event type as JSON carrying its summary', () => {
    for (const event of ALL) {
      assert.equal(JSON.parse(formatBody('webhook', event)).summary, event.summary);
      const slack = JSON.parse(formatBody('slack', event));
      assert.equal(slack.text, event.summary.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
      const teams = JSON.parse(formatBody('teams', event));
      assert.equal(teams.attachments[0].content.body[1].text, event.summary);
    }
    assert.deepEqual(Object.keys(FORMATTERS).sort(), ['slack', 'teams', 'webhook']);
  });
});
