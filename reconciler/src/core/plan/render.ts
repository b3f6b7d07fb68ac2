// Renderings of a FleetPlan: text for a terminal, Markdown for a pull-request comment, JSON for
// tools. Pure: the plan is data, these only print it (terraform's `plan` / `show` split).
//
// Symbols, as the plan's actions: `+` create, `~` update, `-` delete, `=` left in place (forget).
// Text and Markdown group the changes by profile, then device: a device two profiles touch shows
// under both, each time with the changes that profile put there. Each returns its text without a
// trailing newline.
import { canonicalJson } from '../compile/fingerprint.ts';
import type { ChangeCounts, DeviceChanges, FieldChange, FleetPlan, PlanAction, ProfilePlan, ResourceChange } from './plan-fleet.ts';

const SYMBOL: Record<PlanAction, string> = { create: '+', update: '~', delete: '-', forget: '=' };

/** Reasons that say no more than the symbol does; the fields say it better. */
const PLAIN_REASONS = new Set(['not on the device yet', 'desired state changed']);

// ---- text ----

export function renderText(plan: FleetPlan): string {
  const out: string[] = [];
  out.push(`deployx plan  ${plan.base ?? '(empty fleet)'} → ${plan.head}`);
  out.push(`fleet: ${fleetLine(plan)}`);
  for (const note of plan.notes) out.push(`note: ${note}`);

  const byDevice = new Map(plan.devices.map((d) => [d.device, d]));
  for (const profile of plan.profiles) {
    out.push('');
    out.push(`profile ${profile.name}${documentNote(profile.document)}: ${profileLine(profile)}`);
    for (const name of profile.devices) {
      const device = byDevice.get(name)!;
      out.push(`  ${name}${deviceNote(device, profile.name)}`);
      for (const change of changesOf(device, profile.name)) out.push(`    ${changeLine(change)}`);
    }
  }

  if (plan.groups.length > 0) {
    out.push('', 'groups');
    for (const group of plan.groups) out.push(`  ${groupLine(group, Infinity)}`);
  }
  if (plan.emptyGroups.length > 0) {
    out.push('', 'groups that match no device');
    for (const group of plan.emptyGroups) out.push(`  ${emptyGroupLine(group)}`);
  }
  const issues = plan.devices.filter((d) => d.issues.length > 0);
  if (issues.length > 0) {
    out.push('', 'compile issues (new in head)');
    for (const device of issues) {
      for (const issue of device.issues) out.push(`  ${device.device}: ${issue.code} ${issue.subject}: ${issue.message}`);
    }
  }
  const offline = plan.devices.filter((d) => d.status === 'offline' && d.changes.length > 0);
  if (offline.length > 0) {
    out.push('', 'offline devices (the change waits for them)');
    for (const device of offline) out.push(`  ${device.device}  last seen ${device.lastSeenAt ?? 'never'}`);
  }
  out.push('', summaryLine(plan), `digest: ${plan.digest}`);
  return out.join('\n');
}

function fleetLine(plan: FleetPlan): string {
  const { devices, online, offline, notEnrolled } = plan.fleet;
  return `${plural(devices, 'device')} (${online} online, ${offline} offline, ${notEnrolled} not enrolled)`;
}

function documentNote(document: ProfilePlan['document']): string {
  return document === 'unchanged' ? '' : ` (${document})`;
}

function profileLine(profile: ProfilePlan): string {
  const parts = [`${plural(profile.devices.length, 'device')}`, countsShort(profile.counts)];
  if (profile.joined.length > 0) parts.push(`${profile.joined.length} joining`);
  if (profile.left.length > 0) parts.push(`${profile.left.length} leaving`);
  if (profile.offline > 0) parts.push(`${profile.offline} offline`);
  if (profile.notEnrolled > 0) parts.push(`${profile.notEnrolled} not enrolled`);
  return `${parts.join(', ')}; waves: ${wavesText(profile)}`;
}

function wavesText(profile: ProfilePlan): string {
  return profile.waves.length === 0 ? 'none' : profile.waves.map((w) => `${w.name} ${w.devices.length}`).join(', ');
}

function countsShort(counts: ChangeCounts): string {
  return `+${counts.create} ~${counts.update} -${counts.delete} =${counts.forget}`;
}

function deviceNote(device: DeviceChanges, profile: string): string {
  const notes: string[] = [];
  if (device.profiles.joined.includes(profile)) notes.push(`joins ${profile}`);
  if (device.profiles.left.includes(profile)) notes.push(`leaves ${profile}`);
  if (device.status === 'offline') {
    notes.push(`${device.lastSeenAt === undefined ? 'offline, never seen' : `offline since ${device.lastSeenAt}`}: the change waits for it`);
  }
  if (device.status === 'not-enrolled') notes.push('not enrolled: applies when it enrolls');
  return notes.length === 0 ? '' : `  (${notes.join('; ')})`;
}

function changesOf(device: DeviceChanges, profile: string): ResourceChange[] {
  return device.changes.filter((c) => c.profiles.includes(profile));
}

function changeLine(change: ResourceChange): string {
  const fields = change.fields.map(fieldText).join(', ');
  const reason = change.action === 'create' || change.action === 'update' ? (PLAIN_REASONS.has(change.reason) ? '' : change.reason) : change.reason;
  const text = [fields, reason].filter((s) => s !== '').join(' — ');
  return `${SYMBOL[change.action]} ${change.key}${text === '' ? '' : `  ${text}`}`;
}

function fieldText(field: FieldChange): string {
  if (field.from === undefined) return `${field.field} ${value(field.to)}`;
  return `${field.field} ${value(field.from)} → ${value(field.to)}`;
}

/** Hex digests shortened to 12 digits: enough to tell contents apart in review. */
function value(v: string | undefined): string {
  if (v === undefined) return '(unset)';
  return /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : v;
}

function groupLine(group: FleetPlan['groups'][number], maxNames: number): string {
  const size = (n: number | null) => (n === null ? '—' : String(n));
  const what = group.document === 'unchanged' ? '' : ` (${group.document})`;
  const parts = [`${group.name}${what}: ${size(group.before)} → ${size(group.after)} devices`];
  if (group.joined.length > 0) parts.push(`joined: ${names(group.joined, maxNames)}`);
  if (group.left.length > 0) parts.push(`left: ${names(group.left, maxNames)}`);
  return parts.join('; ');
}

function emptyGroupLine(group: FleetPlan['emptyGroups'][number]): string {
  const before = group.before === null ? 'new group' : `${group.before} before`;
  const targeted = group.targetedBy.length === 0 ? 'no profile targets it' : `targeted by ${group.targetedBy.join(', ')}`;
  return `${group.name} (${before}; ${targeted})`;
}

function names(list: readonly string[], max: number): string {
  if (list.length <= max) return list.join(', ');
  return `${list.slice(0, max).join(', ')} … and ${list.length - max} more`;
}

function summaryLine(plan: FleetPlan): string {
  const t = plan.totals;
  if (t.touched === 0) {
    return plan.groups.length === 0 ? 'No changes.' : 'No resource changes; group membership changes only.';
  }
  return (
    `Plan: ${t.create} to create, ${t.update} to update, ${t.delete} to delete, ${t.forget} left in place, ` +
    `on ${plural(t.touched, 'device')} (${t.offline} offline, ${t.notEnrolled} not enrolled).`
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---- markdown ----

export interface MarkdownOptions {
  /** Upper bound of the output's UTF-8 size; device details beyond it are counted, not shown. */
  maxBytes?: number;
}

/** Group member names listed inline before "… and N more". */
const GROUP_NAMES = 10;

/**
 * For a pull-request comment: the summary table first, then one collapsed section per profile
 * with each device's changes, then the digest. Device sections stop where `maxBytes` would be
 * exceeded; every device left out is counted ("… and N more devices").
 */
export function renderMarkdown(plan: FleetPlan, options: MarkdownOptions = {}): string {
  const maxBytes = options.maxBytes ?? 60_000;
  const foot = `\n<sub>deployx plan · digest \`${plan.digest}\`</sub>`;
  const head = markdownHead(plan, Math.floor(maxBytes / 2) - utf8Length(foot));

  // Room for one "… and N more devices in K profiles" line at the end, whatever happens.
  const reserve = 120;
  let budget = maxBytes - utf8Length(head) - utf8Length(foot) - reserve;
  const sections: string[] = [];
  /** Devices cut from a section that is shown, and devices of the sections left out whole. */
  let cut = 0;
  let skippedDevices = 0;
  let skippedProfiles = 0;
  const byDevice = new Map(plan.devices.map((d) => [d.device, d]));

  for (const profile of plan.profiles) {
    if (profile.devices.length === 0) continue;
    const open = `<details><summary><b>${escapeHtml(profile.name)}</b>${documentNote(profile.document)}: ${profileSummary(profile)}</summary>\n\n\`\`\`diff\n`;
    const close = '```\n\n</details>\n';
    const more = (n: number) => `… and ${plural(n, 'more device')}\n`;
    const fixed = utf8Length(open) + utf8Length(close) + utf8Length(more(profile.devices.length));
    if (fixed > budget) {
      skippedDevices += profile.devices.length;
      skippedProfiles++;
      continue;
    }
    let body = '';
    let used = fixed;
    let shown = 0;
    for (const name of profile.devices) {
      const device = byDevice.get(name)!;
      const lines = [`@@ ${name}${deviceNote(device, profile.name)} @@`, ...changesOf(device, profile.name).map(changeLine)];
      const block = `${fence(lines.join('\n'))}\n`;
      const size = utf8Length(block);
      if (used + size > budget) break;
      body += block;
      used += size;
      shown++;
    }
    const hidden = profile.devices.length - shown;
    if (hidden > 0) {
      body += more(hidden);
      cut += hidden;
    }
    const section = `${open}${body}${close}`;
    budget -= utf8Length(section);
    sections.push(section);
  }

  const out = [head, ...sections];
  if (skippedProfiles > 0) {
    out.push(`… and ${plural(skippedDevices, 'more device')} in ${plural(skippedProfiles, 'more profile')} (size limit; \`deployx plan --format text\` shows all)\n`);
  } else if (cut > 0) {
    out.push(`(size limit: the details leave out ${plural(cut, 'device')}; \`deployx plan --format text\` shows all)\n`);
  }
  return `${out.join('\n')}${foot}`;
}

function markdownHead(plan: FleetPlan, maxBytes: number): string {
  const t = plan.totals;
  const lines: string[] = [];
  lines.push('### DeployX plan', '');
  lines.push(`\`${plan.base ?? '(empty fleet)'}\` → \`${plan.head}\``, '');
  lines.push(`**${summaryLine(plan)}**`);
  lines.push(`Fleet: ${fleetLine(plan)}.`, '');
  for (const note of plan.notes) lines.push(`> **Note:** ${escapeMarkdown(note)}`, '');

  if (plan.profiles.length > 0) {
    lines.push('| profile | devices | + | ~ | - | = | offline | waves |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    const rows = plan.profiles.map((p) => {
      const waves = p.waves.length === 0 ? '—' : p.waves.map((w) => `${escapeMarkdown(w.name)} ${w.devices.length}`).join(' → ');
      return `| \`${p.name}\`${documentNote(p.document)} | ${p.devices.length} | ${p.counts.create} | ${p.counts.update} | ${p.counts.delete} | ${p.counts.forget} | ${p.offline} | ${waves} |`;
    });
    const total = `| **all profiles** | **${t.touched}** | **${t.create}** | **${t.update}** | **${t.delete}** | **${t.forget}** | **${t.offline}** | |`;
    let used = utf8Length(lines.join('\n')) + utf8Length(total) + 200;
    let shown = 0;
    for (const row of rows) {
      if (used + utf8Length(row) + 1 > maxBytes) break;
      lines.push(row);
      used += utf8Length(row) + 1;
      shown++;
    }
    if (shown < rows.length) lines.push(`| … and ${plural(rows.length - shown, 'more profile')} | | | | | | | |`);
    lines.push(total, '');
  }

  const groupLines: string[] = [];
  for (const group of plan.groups) groupLines.push(`- ${escapeMarkdown(groupLine(group, GROUP_NAMES))}`);
  const emptyLines = plan.emptyGroups.map((g) => `- ${escapeMarkdown(emptyGroupLine(g))}`);
  const issueLines = plan.devices.flatMap((d) => d.issues.map((i) => `- \`${d.device}\`: ${i.code} ${escapeMarkdown(i.subject)}: ${escapeMarkdown(i.message)}`));
  const sections: Array<[string, string[]]> = [
    ['Groups that change', groupLines],
    ['Groups that match no device', emptyLines],
    ['Compile issues (new in head)', issueLines],
  ];
  for (const [title, list] of sections) {
    if (list.length === 0) continue;
    lines.push(`**${title}**`, '');
    let used = utf8Length(lines.join('\n'));
    let shown = 0;
    for (const line of list) {
      if (used + utf8Length(line) + 1 > maxBytes) break;
      lines.push(line);
      used += utf8Length(line) + 1;
      shown++;
    }
    if (shown < list.length) lines.push(`- … and ${list.length - shown} more`);
    lines.push('');
  }
  return lines.join('\n');
}

function profileSummary(profile: ProfilePlan): string {
  const parts = [plural(profile.devices.length, 'device'), countsShort(profile.counts)];
  if (profile.offline > 0) parts.push(`${profile.offline} offline`);
  return parts.join(', ');
}

/** A code fence must not be closed by the text inside it. */
function fence(text: string): string {
  return text.replaceAll('```', '`\u200b``');
}

function escapeHtml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Characters that would start Markdown or HTML inside a line of prose. */
function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

// ---- json ----

/** The plan as pretty JSON with object keys sorted: the canonical JSON its digest covers, indented. */
export function renderJson(plan: FleetPlan): string {
  return JSON.stringify(JSON.parse(canonicalJson(plan)), null, 2);
}
