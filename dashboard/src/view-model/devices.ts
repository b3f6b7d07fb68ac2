// Device rows: summaries, filters, sorting and the filter choices offered. Pure.
import type { DeviceState, DeviceSummary } from '../../../schemas/protocol.ts';
import { percent } from './format.ts';

/** Worst first: the order states are listed in and sorted by. */
export const DEVICE_STATES: readonly DeviceState[] = ['failed', 'drifted', 'converging', 'unknown', 'awaiting_enrollment', 'in_sync'];

export const STATE_LABELS: Record<DeviceState, string> = {
  in_sync: 'In sync',
  drifted: 'Drifted',
  converging: 'Converging',
  failed: 'Failed',
  unknown: 'Never reported',
  awaiting_enrollment: 'Awaiting enrollment',
};

export interface FleetSummary {
  total: number;
  online: number;
  offline: number;
  byState: Record<DeviceState, number>;
  /** Share of devices in sync, 0–100 with one decimal. */
  convergedPercent: number;
}

export function summarizeDevices(rows: Iterable<DeviceSummary>): FleetSummary {
  const byState: Record<DeviceState, number> = { in_sync: 0, drifted: 0, converging: 0, failed: 0, unknown: 0, awaiting_enrollment: 0 };
  let total = 0;
  let online = 0;
  for (const row of rows) {
    total++;
    if (row.online) online++;
    byState[row.state in byState ? row.state : 'unknown']++;
  }
  return { total, online, offline: total - online, byState, convergedPercent: percent(byState.in_sync, total) };
}

export interface DeviceFilter {
  state: DeviceState | 'all';
  connection: 'all' | 'online' | 'offline';
  /** A group name, or '' for any. */
  group: string;
  /** `key=value` or `key` (has the label), or '' for any. */
  label: string;
  /** Whitespace-separated words; every word must occur in the row's text (case-insensitive). */
  text: string;
}

export const EMPTY_FILTER: DeviceFilter = { state: 'all', connection: 'all', group: '', label: '', text: '' };

export function isFilterEmpty(filter: DeviceFilter): boolean {
  return filter.state === 'all' && filter.connection === 'all' && filter.group === '' && filter.label.trim() === '' && filter.text.trim() === '';
}

/** Everything free text matches against, lower-cased. */
export function searchText(row: DeviceSummary): string {
  const labels = Object.entries(row.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [row.name, row.id, row.os?.name, row.os?.family, row.os?.version, row.revision, row.agentVersion, row.reason, ...row.profiles, ...row.groups, ...labels]
    .filter((x): x is string => typeof x === 'string' && x !== '')
    .join(' ')
    .toLowerCase();
}

export function parseLabelFilter(label: string): { key: string; value?: string } | undefined {
  const text = label.trim();
  if (text === '') return undefined;
  const eq = text.indexOf('=');
  return eq < 0 ? { key: text } : { key: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim() };
}

export function matchesFilter(row: DeviceSummary, filter: DeviceFilter, text = searchText(row)): boolean {
  if (filter.state !== 'all' && row.state !== filter.state) return false;
  if (filter.connection === 'online' && !row.online) return false;
  if (filter.connection === 'offline' && row.online) return false;
  if (filter.group !== '' && !row.groups.includes(filter.group)) return false;
  const label = parseLabelFilter(filter.label);
  if (label) {
    const value = row.labels?.[label.key];
    if (value === undefined) return false;
    if (label.value !== undefined && value !== label.value) return false;
  }
  const words = filter.text.toLowerCase().split(/\s+/).filter((w) => w !== '');
  return words.every((w) => text.includes(w));
}

export function filterDevices(rows: readonly DeviceSummary[], filter: DeviceFilter): DeviceSummary[] {
  if (isFilterEmpty(filter)) return rows.slice();
  return rows.filter((row) => matchesFilter(row, filter));
}

export type SortKey = 'name' | 'state' | 'lastSeen' | 'os' | 'revision' | 'profiles' | 'groups';
export interface DeviceSort {
  key: SortKey;
  direction: 'asc' | 'desc';
}

export const DEFAULT_SORT: DeviceSort = { key: 'state', direction: 'asc' };

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
const stateRank = new Map(DEVICE_STATES.map((s, i) => [s, i]));

function compareBy(key: SortKey): (a: DeviceSummary, b: DeviceSummary) => number {
  switch (key) {
    case 'name':
      return (a, b) => collator.compare(a.name, b.name);
    case 'state':
      return (a, b) => (stateRank.get(a.state) ?? 99) - (stateRank.get(b.state) ?? 99);
    case 'lastSeen':
      // Most recent first reads as "ascending" for people; never-seen devices sort last.
      return (a, b) => (b.lastSeenAt ? Date.parse(b.lastSeenAt) : -Infinity) - (a.lastSeenAt ? Date.parse(a.lastSeenAt) : -Infinity) || 0;
    case 'os':
      return (a, b) => collator.compare(osLabel(a), osLabel(b));
    case 'revision':
      return (a, b) => collator.compare(a.revision ?? '\uffff', b.revision ?? '\uffff');
    case 'profiles':
      return (a, b) => collator.compare(a.profiles.join(','), b.profiles.join(','));
    case 'groups':
      return (a, b) => collator.compare(a.groups.join(','), b.groups.join(','));
  }
}

/** A sorted copy; ties fall back to name then id, so the order is total and stable across updates. */
export function sortDevices(rows: readonly DeviceSummary[], sort: DeviceSort): DeviceSummary[] {
  const primary = compareBy(sort.key);
  const sign = sort.direction === 'asc' ? 1 : -1;
  const byName = compareBy('name');
  return rows.slice().sort((a, b) => sign * primary(a, b) || byName(a, b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Clicking a column header: same key flips the direction, another key starts ascending. */
export function toggleSort(current: DeviceSort, key: SortKey): DeviceSort {
  return current.key === key ? { key, direction: current.direction === 'asc' ? 'desc' : 'asc' } : { key, direction: 'asc' };
}

export function osLabel(row: Pick<DeviceSummary, 'os'>): string {
  const os = row.os;
  if (!os) return '';
  return [os.name ?? os.family, os.version].filter(Boolean).join(' ');
}

/** Groups and label pairs present in the fleet, sorted, with counts: the filter's choices. */
export function filterChoices(rows: Iterable<DeviceSummary>): { groups: Array<[string, number]>; labels: Array<[string, number]> } {
  const groups = new Map<string, number>();
  const labels = new Map<string, number>();
  for (const row of rows) {
    for (const g of row.groups) groups.set(g, (groups.get(g) ?? 0) + 1);
    for (const [k, v] of Object.entries(row.labels ?? {})) {
      const pair = `${k}=${v}`;
      labels.set(pair, (labels.get(pair) ?? 0) + 1);
    }
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => collator.compare(a[0], b[0]));
  return { groups: sorted(groups), labels: sorted(labels) };
}

/** Applies a batch of upserted rows and removed ids to a map keyed by id; returns whether anything changed. */
export function applyDeviceDelta(rows: Map<string, DeviceSummary>, upserts: readonly DeviceSummary[], removed: readonly string[] = []): boolean {
  let changed = false;
  for (const row of upserts) {
    rows.set(row.id, row);
    changed = true;
  }
  for (const id of removed) changed = rows.delete(id) || changed;
  return changed;
}

/** `?state=drifted&group=web&label=site%3Dpar&q=nginx&connection=offline` ⇄ DeviceFilter. */
export function filterFromQuery(search: string): DeviceFilter {
  const q = new URLSearchParams(search);
  const state = q.get('state');
  const connection = q.get('connection');
  return {
    state: state !== null && (DEVICE_STATES as readonly string[]).includes(state) ? (state as DeviceState) : 'all',
    connection: connection === 'online' || connection === 'offline' ? connection : 'all',
    group: q.get('group') ?? '',
    label: q.get('label') ?? '',
    text: q.get('q') ?? '',
  };
}

export function filterToQuery(filter: DeviceFilter): string {
  const q = new URLSearchParams();
  if (filter.state !== 'all') q.set('state', filter.state);
  if (filter.connection !== 'all') q.set('connection', filter.connection);
  if (filter.group) q.set('group', filter.group);
  if (filter.label.trim()) q.set('label', filter.label.trim());
  if (filter.text.trim()) q.set('q', filter.text.trim());
  const s = q.toString();
  return s ? `?${s}` : '';
}
