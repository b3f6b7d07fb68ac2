// Request bodies per notifier type, pure. One table keyed by `Notifier['type']`: a type without a
// formatter does not compile.
//
//   webhook  the event itself: `{ type, at, summary, ...fields }`
//   slack    an incoming-webhook message: `text` (the summary, for notifications and fallbacks) and
//            Block Kit `blocks`: a header, a section with the summary and up to 10 fields, one
//            section per detail (errors, failing devices with their output), a context line.
//   teams    a message with one Adaptive Card 1.4 attachment (what Teams workflows and incoming
//            webhooks accept): a heading, the summary, a FactSet, one monospace block per detail.
// Slack text is mrkdwn, so `&`, `<`, `>` are escaped everywhere (an author's `<a@b>` would
// otherwise be read as a link). No colours: the wording carries the outcome. Slack's and Teams' size limits are kept by
// bounding every text (header 150, field 2000, section 3000 characters).
import type { Notifier } from '../../../../schemas/kinds.ts';
import { countsPhrase, type FleetEvent, type RolloutCounts, waveLabel } from './events.ts';

export type NotifierType = Notifier['type'];

/** What a chat message shows of an event, shared by the Slack and Teams formats. */
export interface EventView {
  title: string;
  facts: Array<[label: string, value: string]>;
  details: Array<{ heading: string; text?: string }>;
}

export const FORMATTERS: { readonly [T in NotifierType]: (event: FleetEvent) => unknown } = {
  webhook: webhookPayload,
  slack: slackPayload,
  teams: teamsPayload,
};

/** The exact bytes (as a string) POSTed to a notifier of this type. */
export function formatBody(type: NotifierType, event: FleetEvent): string {
  return JSON.stringify(FORMATTERS[type](event));
}

export function webhookPayload(event: FleetEvent): Record<string, unknown> {
  const { type, at, summary, ...fields } = event;
  return { type, at, summary, ...fields };
}

const SLACK_HEADER_CHARS = 150;
const SLACK_FIELD_CHARS = 2000;
const SLACK_SECTION_CHARS = 3000;
const SLACK_MAX_FIELDS = 10;
const MAX_DETAILS = 5;
const DETAIL_TEXT_CHARS = 1500;

export function slackPayload(event: FleetEvent): { text: string; blocks: unknown[] } {
  const view = viewEvent(event);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: bound(view.title, SLACK_HEADER_CHARS), emoji: false } },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: bound(slackEscape(event.summary), SLACK_SECTION_CHARS) },
      ...(view.facts.length === 0
        ? {}
        : {
            fields: view.facts.slice(0, SLACK_MAX_FIELDS).map(([label, value]) => ({
              type: 'mrkdwn',
              text: bound(`*${slackEscape(label)}*\n${slackEscape(value)}`, SLACK_FIELD_CHARS),
            })),
          }),
    },
  ];
  for (const detail of view.details.slice(0, MAX_DETAILS)) {
    const code = detail.text === undefined ? '' : '\n```' + bound(slackEscape(detail.text), DETAIL_TEXT_CHARS) + '```';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: bound(`*${slackEscape(detail.heading)}*${code}`, SLACK_SECTION_CHARS) } });
  }
  const more = view.details.length - MAX_DETAILS;
  const context = `DeployX · ${event.type} · ${event.at}${more > 0 ? ` · ${more} more not shown` : ''}`;
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(context) }] });
  return { text: slackEscape(event.summary), blocks };
}

export function teamsPayload(event: FleetEvent): { type: 'message'; attachments: unknown[] } {
  const view = viewEvent(event);
  const body: unknown[] = [
    { type: 'TextBlock', text: view.title, weight: 'Bolder', size: 'Medium', style: 'heading', wrap: true },
    { type: 'TextBlock', text: event.summary, wrap: true },
  ];
  if (view.facts.length > 0) body.push({ type: 'FactSet', facts: view.facts.map(([title, value]) => ({ title, value })) });
  for (const detail of view.details.slice(0, MAX_DETAILS)) {
    body.push({ type: 'TextBlock', text: detail.heading, weight: 'Bolder', wrap: true, spacing: 'Medium' });
    if (detail.text !== undefined) {
      body.push({ type: 'TextBlock', text: bound(detail.text, DETAIL_TEXT_CHARS), fontType: 'Monospace', wrap: true, spacing: 'Small' });
    }
  }
  const more = view.details.length - MAX_DETAILS;
  body.push({
    type: 'TextBlock',
    text: `DeployX · ${event.type} · ${event.at}${more > 0 ? ` · ${more} more not shown` : ''}`,
    isSubtle: true,
    size: 'Small',
    wrap: true,
  });
  return {
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
          body,
        },
      },
    ],
  };
}

/** Title, facts and details of an event, in the order a person reads them. */
export function viewEvent(event: FleetEvent): EventView {
  switch (event.type) {
    case 'revision.accepted':
    case 'revision.rejected': {
      const facts: EventView['facts'] = [['Revision', event.revision]];
      if (event.author !== undefined) facts.push(['Author', event.author]);
      if (event.message !== undefined) facts.push(['Commit', firstLine(event.message)]);
      if (event.type === 'revision.accepted') return { title: 'Revision accepted', facts, details: [] };
      facts.push(['Errors', String(event.errorCount)]);
      return {
        title: 'Revision rejected',
        facts,
        details: event.errors.map((e) => ({ heading: `${e.file}:${e.line} ${e.code}`, text: e.message })),
      };
    }
    case 'rollout.wave.completed':
      return {
        title: `Rollout wave ${waveLabel(event.wave)} completed${titleOf(event.profile)}`,
        facts: [...rolloutFacts(event), ['Wave', waveFact(event.wave)], ...countFacts(event.counts)],
        details: [],
      };
    case 'rollout.completed':
    case 'rollout.partial':
    case 'rollout.failed': {
      const outcome = { 'rollout.completed': 'completed', 'rollout.partial': 'partially completed', 'rollout.failed': 'failed' }[event.type];
      return { title: `Rollout ${outcome}${titleOf(event.profile)}`, facts: [...rolloutFacts(event), ...countFacts(event.counts)], details: [] };
    }
    case 'rollout.halted':
      return {
        title: `Rollout halted${titleOf(event.profile)}`,
        facts: [
          ...rolloutFacts(event),
          ['Wave', waveFact(event.wave)],
          ['Wave failed', `${event.waveCounts.failed} of ${event.waveCounts.total}`],
          ['Rollout so far', countsPhrase(event.counts)],
        ],
        details: event.failedDevices.map((d) => ({
          heading: d.error === undefined ? d.device : `${d.device}: ${firstLine(d.error)}`,
          ...(d.output === undefined || d.output === '' ? {} : { text: d.output }),
        })),
      };
    case 'device.failed': {
      const facts: EventView['facts'] = [['Device', event.device]];
      if (event.profile !== undefined) facts.push(['Profile', event.profile]);
      facts.push(['Revision', event.revision]);
      if (event.rolloutId !== undefined) facts.push(['Rollout', event.rolloutId]);
      if (event.jobId !== undefined) facts.push(['Job', event.jobId]);
      if (event.error !== undefined) facts.push(['Error', firstLine(event.error)]);
      const details = event.output === undefined || event.output === '' ? [] : [{ heading: 'Output', text: event.output }];
      return { title: `Device failed: ${event.device}`, facts, details };
    }
  }
}

function rolloutFacts(event: { profile?: string; revision: string; rolloutId: string }): EventView['facts'] {
  const facts: EventView['facts'] = event.profile === undefined ? [] : [['Profile', event.profile]];
  facts.push(['Revision', event.revision], ['Rollout', event.rolloutId]);
  return facts;
}

function titleOf(profile: string | undefined): string {
  return profile === undefined ? '' : `: ${profile}`;
}

function countFacts(counts: RolloutCounts): EventView['facts'] {
  return [
    ['Succeeded', `${counts.succeeded}/${counts.total}`],
    ['Failed', String(counts.failed)],
    ['Offline', String(counts.offline)],
  ];
}

function waveFact(wave: { index: number; name?: string }): string {
  return wave.name === undefined ? waveLabel(wave) : `${wave.name} (#${wave.index + 1})`;
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
}

/** Slack mrkdwn control characters; everything else is literal. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function bound(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}
