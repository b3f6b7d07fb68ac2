// The events DeployX tells people about: a discriminated union keyed by `type`, whose keys are
// exactly `NOTIFIER_EVENTS` (the names a Fleet's `notifiers[].events` may list). The same objects
// go to notifiers (`notifier.ts`) and to the dashboard, so each carries its own one-line
// `summary`, made by the pure `summarize` from the other fields.
//
// Events are built by whoever observes the transition (the revision loader, the rollout
// scheduler, the job tracker) with `createEvent({ type, at, ... })`; `at` comes from their clock.
// Free text in them (commit messages, job output) is bounded with `outputTail` / `issueRefs`
// before it goes in: notifications are for people, not for transporting logs.
import type { NotifierEvent } from '../../../../schemas/kinds.ts';
import type { ValidationIssue } from '../../core/errors.ts';

/** `main@sha1:<oid>` (or `sha1:<oid>`, `worktree`), as carried by plans and jobs. */
type Revision = string;

/** One validation issue, as much of it as a notification shows. */
export interface IssueRef {
  /** Path relative to the fleet root. */
  file: string;
  line: number;
  /** The stable issue code, e.g. `schema.unknown-key`. */
  code: string;
  message: string;
}

/** Device counts of a wave or of a whole rollout. Offline devices are waiting, not failed. */
export interface RolloutCounts {
  succeeded: number;
  failed: number;
  offline: number;
  total: number;
}

export interface WaveRef {
  /** 0-based position in the rollout's waves. */
  index: number;
  /** The wave's name from the rollout policy, when it has one. */
  name?: string;
}

export interface FailedDevice {
  device: string;
  /** Short reason: `exit code 1`, `timeout`, the failing step. */
  error?: string;
  /** The last lines of the job's output (see `outputTail`). */
  output?: string;
}

interface EventBase<T extends NotifierEvent> {
  type: T;
  /** ISO 8601 time of the transition. */
  at: string;
  /** One line for people, `summarize(event)`. */
  summary: string;
}

interface RevisionFields {
  revision: Revision;
  /** The commit's author, `Name <email>` or just a name. */
  author?: string;
  /** The commit message; only its first line is shown in summaries. */
  message?: string;
}

export interface RevisionAcceptedEvent extends EventBase<'revision.accepted'>, RevisionFields {}

export interface RevisionRejectedEvent extends EventBase<'revision.rejected'>, RevisionFields {
  /** Every error of the revision, counted. */
  errorCount: number;
  /** The first errors in the documented issue order (at most `MAX_EVENT_ERRORS`). */
  errors: IssueRef[];
}

interface RolloutFields {
  rolloutId: string;
  /** The profile rolled out; absent for a rollout under the fleet-wide policy. */
  profile?: string;
  revision: Revision;
}

export interface RolloutWaveCompletedEvent extends EventBase<'rollout.wave.completed'>, RolloutFields {
  wave: WaveRef;
  /** Counts of this wave. */
  counts: RolloutCounts;
}

/** A rollout that reached its end: every device succeeded, some failed, or none succeeded. */
export interface RolloutEndedEvent extends EventBase<'rollout.completed' | 'rollout.partial' | 'rollout.failed'>, RolloutFields {
  /** Counts of the whole rollout. */
  counts: RolloutCounts;
}

export interface RolloutHaltedEvent extends EventBase<'rollout.halted'>, RolloutFields {
  /** The wave that crossed its failure threshold. */
  wave: WaveRef;
  /** Counts of the halting wave. */
  waveCounts: RolloutCounts;
  /** Counts of the whole rollout so far (devices of later waves are untouched, not counted as failed). */
  counts: RolloutCounts;
  /** The devices that failed in the halting wave (at most `MAX_EVENT_DEVICES`), with their output. */
  failedDevices: FailedDevice[];
}

export interface DeviceFailedEvent extends EventBase<'device.failed'>, FailedDevice {
  revision: Revision;
  profile?: string;
  rolloutId?: string;
  jobId?: string;
}

export type FleetEvent =
  | RevisionAcceptedEvent
  | RevisionRejectedEvent
  | RolloutWaveCompletedEvent
  | RolloutEndedEvent
  | RolloutHaltedEvent
  | DeviceFailedEvent;

export type FleetEventType = FleetEvent['type'];

// Every name a notifier can subscribe to has an event, and no event lacks a name.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const EVENT_NAMES_MATCH: Same<FleetEventType, NotifierEvent> = true;
void EVENT_NAMES_MATCH;

/** An event before its summary is made: what callers give `createEvent`. */
export type FleetEventInit = FleetEvent extends infer E ? (E extends FleetEvent ? Omit<E, 'summary'> : never) : never;

export const MAX_EVENT_ERRORS = 5;
export const MAX_EVENT_DEVICES = 20;
/** Names of failing devices shown in a halted rollout's summary before `+N more`. */
export const SUMMARY_DEVICES = 3;
const SUMMARY_TEXT_CHARS = 120;

/** The event with its summary. */
export function createEvent<E extends FleetEventInit>(init: E): E & { summary: string } {
  return { ...init, summary: summarize(init) };
}

/**
 * One line for people. Worked examples (also the rows of `events.test.ts`):
 *   revision.rejected       `revision main@abc1234 rejected: 3 errors (groups/web.yaml:12 schema.unknown-key …)`
 *   rollout.completed       `web-eu @ main@abc1234: 212/212 succeeded`
 *   rollout.partial         `web-eu @ main@abc1234 (partial): 210/212 succeeded, 2 failed`
 *   rollout.wave.completed  `web-eu @ main@abc1234: wave canary completed: 1/1 succeeded`
 *   rollout.halted          `rollout web-eu halted in wave canary: 2 of 5 failed (web-eu-03, web-eu-04)`
 */
export function summarize(event: FleetEventInit): string {
  switch (event.type) {
    case 'revision.accepted': {
      const subject = event.message === undefined ? '' : oneLine(event.message);
      const by = event.author === undefined ? '' : ` (${oneLine(event.author)})`;
      return `revision ${shortRevision(event.revision)} accepted${subject === '' ? '' : `: ${subject}`}${by}`;
    }
    case 'revision.rejected': {
      const head = `revision ${shortRevision(event.revision)} rejected`;
      if (event.errorCount <= 0) return head;
      const first = event.errors[0];
      const more = event.errorCount > 1 ? ' …' : '';
      const where = first === undefined ? '' : ` (${first.file}:${first.line} ${first.code}${more})`;
      return `${head}: ${plural(event.errorCount, 'error')}${where}`;
    }
    case 'rollout.wave.completed':
      return `${rolloutName(event)}: wave ${waveLabel(event.wave)} completed: ${countsPhrase(event.counts)}`;
    case 'rollout.completed':
      return `${rolloutName(event)}: ${countsPhrase(event.counts)}`;
    case 'rollout.partial':
      return `${rolloutName(event)} (partial): ${countsPhrase(event.counts)}`;
    case 'rollout.failed':
      return `${rolloutName(event)} (failed): ${countsPhrase(event.counts)}`;
    case 'rollout.halted': {
      const { failed, total } = event.waveCounts;
      const names = event.failedDevices.slice(0, SUMMARY_DEVICES).map((d) => d.device);
      const rest = Math.max(failed, event.failedDevices.length) - names.length;
      if (rest > 0) names.push(`+${rest} more`);
      const list = names.length === 0 ? '' : ` (${names.join(', ')})`;
      const name = event.profile === undefined ? '' : ` ${event.profile}`;
      return `rollout${name} halted in wave ${waveLabel(event.wave)}: ${failed} of ${total} failed${list}`;
    }
    case 'device.failed': {
      const on = event.profile === undefined ? '' : ` on ${event.profile}`;
      const why = event.error === undefined ? '' : `: ${oneLine(event.error)}`;
      return `device ${event.device} failed${on} @ ${shortRevision(event.revision)}${why}`;
    }
  }
}

/** `main@sha1:<40 hex>` → `main@abc1234`; `sha1:<oid>` → `abc1234`; anything else as is. */
export function shortRevision(revision: string): string {
  const m = /^(?:(.*)@)?sha1:([0-9a-f]{7,})$/i.exec(revision);
  if (m === null) return revision;
  const oid = m[2]!.slice(0, 7);
  return m[1] === undefined ? oid : `${m[1]}@${oid}`;
}

/** `canary`, or `#2` for the second wave when it has no name. */
export function waveLabel(wave: WaveRef): string {
  return wave.name ?? `#${wave.index + 1}`;
}

/** `210/212 succeeded, 2 failed, 1 offline`: failed and offline only when non-zero. */
export function countsPhrase(counts: RolloutCounts): string {
  let text = `${counts.succeeded}/${counts.total} succeeded`;
  if (counts.failed > 0) text += `, ${counts.failed} failed`;
  if (counts.offline > 0) text += `, ${counts.offline} offline`;
  return text;
}

/** The first `max` issues (already in the documented issue order), as events carry them. */
export function issueRefs(issues: ReadonlyArray<Pick<ValidationIssue, 'file' | 'line' | 'message'> & { code: string }>, max = MAX_EVENT_ERRORS): IssueRef[] {
  return issues.slice(0, max).map((i) => ({ file: i.file, line: i.line, code: i.code, message: i.message }));
}

/** The last `maxLines` lines of a job's output, at most `maxChars` characters, trailing blank lines dropped. */
export function outputTail(output: string, options: { maxLines?: number; maxChars?: number } = {}): string {
  const maxLines = options.maxLines ?? 20;
  const maxChars = options.maxChars ?? 2000;
  const lines = output.replace(/\r\n?/g, '\n').replace(/\s+$/, '').split('\n');
  let tail = lines.slice(-maxLines).join('\n');
  if (tail.length > maxChars) tail = '…' + tail.slice(tail.length - maxChars + 1);
  else if (lines.length > maxLines) tail = '…\n' + tail;
  return tail;
}

/** `web-eu @ main@abc1234`, or just the revision for a rollout without a profile. */
function rolloutName(event: RolloutFields): string {
  const revision = shortRevision(event.revision);
  return event.profile === undefined ? revision : `${event.profile} @ ${revision}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The first non-blank line, trimmed and bounded: summaries stay on one line. */
function oneLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  return line.length > SUMMARY_TEXT_CHARS ? line.slice(0, SUMMARY_TEXT_CHARS - 1) + '…' : line;
}
