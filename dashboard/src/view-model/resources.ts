// Desired beside observed, one row per resource key, with the fields that differ marked. Pure.
import type { ObservedResource } from '../../../schemas/protocol.ts';
import type { ChangeView, DesiredResourceView } from './wire.ts';

export interface Field {
  name: string;
  value: string;
}

export interface ResourceRow {
  key: string;
  type: string;
  desired: Field[] | null;
  observed: Field[] | null;
  /** Field names whose desired and observed values differ. */
  differs: string[];
  action: ChangeView['action'] | 'unmanaged';
  reason: string;
  /** Someone changed it on the device after DeployX applied it. */
  drift: boolean;
  /** Drift under `drift: report`: shown, not corrected. */
  reportOnly: boolean;
}

const short = (hash: string | undefined) => (hash ? hash.slice(0, 12) : undefined);

export function desiredFields(r: DesiredResourceView): Field[] {
  const fields: Array<[string, string | undefined]> = [['ensure', r.ensure]];
  if (r.type === 'package') {
    fields.push(['package', r.packageName ?? r.software], ['manager', r.manager], ['version', r.version]);
  } else if (r.type === 'file') {
    fields.push(['sha256', r.ensure === 'absent' ? undefined : short(r.sha256)], ['mode', r.mode], ['owner', r.owner], ['group', r.group]);
  } else {
    fields.push(['sha256', short(r.sha256)], ['interpreter', r.interpreter], ['run', typeof r.run === 'string' ? r.run : r.run ? JSON.stringify(r.run) : undefined]);
  }
  return fields.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== '').map(([name, value]) => ({ name, value }));
}

export function observedFields(o: ObservedResource): Field[] {
  const fields: Array<[string, string | undefined]> = [];
  if (o.type === 'package') {
    fields.push(['ensure', o.installed ? 'present' : 'absent'], ['package', o.name], ['manager', o.manager], ['version', o.version]);
  } else if (o.type === 'file') {
    fields.push(['ensure', o.exists ? 'present' : 'absent'], ['sha256', short(o.sha256)], ['mode', o.mode], ['owner', o.owner], ['group', o.group]);
  } else {
    fields.push(['sha256', short(o.appliedSha256)], ['last exit code', o.lastExitCode === undefined ? undefined : String(o.lastExitCode)], ['last run', o.lastRunAt]);
  }
  return fields.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== '').map(([name, value]) => ({ name, value }));
}

/** Fields present on both sides with different values (a desired `version: latest` matches any). */
export function differingFields(desired: Field[] | null, observed: Field[] | null): string[] {
  if (!desired || !observed) return [];
  const seen = new Map(observed.map((f) => [f.name, f.value]));
  return desired
    .filter((f) => {
      const o = seen.get(f.name);
      if (o === undefined) return f.name === 'sha256' || f.name === 'ensure';
      if (f.name === 'version' && (f.value === 'latest' || f.value === 'any' || (f.value.endsWith('*') && o.startsWith(f.value.slice(0, -1))))) return false;
      return o !== f.value;
    })
    .map((f) => f.name);
}

/**
 * One row per key in desired ∪ observed ∪ changes, sorted: drifted first, then pending changes,
 * then by key. A key only observed (kept in inventory, no longer desired) shows its delete change.
 */
export function pairResources(desired: readonly DesiredResourceView[], observed: readonly ObservedResource[], changes: readonly ChangeView[]): ResourceRow[] {
  const keys = new Set<string>([...desired.map((d) => d.key), ...observed.map((o) => o.key), ...changes.map((c) => c.key)]);
  const d = new Map(desired.map((r) => [r.key, r]));
  const o = new Map(observed.map((r) => [r.key, r]));
  const c = new Map(changes.map((r) => [r.key, r]));
  const rows: ResourceRow[] = [];
  for (const key of keys) {
    const want = d.get(key);
    const have = o.get(key);
    const change = c.get(key);
    const desiredF = want ? desiredFields(want) : null;
    const observedF = have ? observedFields(have) : null;
    rows.push({
      key,
      type: want?.type ?? have?.type ?? key.split('/', 1)[0] ?? '',
      desired: desiredF,
      observed: observedF,
      differs: change && change.action !== 'unchanged' ? differingFields(desiredF, observedF) : [],
      action: change?.action ?? (want ? 'unchanged' : 'unmanaged'),
      reason: change?.reason ?? '',
      drift: change?.drift ?? false,
      reportOnly: change?.reportOnly ?? false,
    });
  }
  const rank = (r: ResourceRow) => (r.drift ? 0 : r.action !== 'unchanged' && r.action !== 'unmanaged' ? 1 : 2);
  return rows.sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Flattens nested facts into dotted rows (`os.family = debian`), arrays joined. */
export function flattenFacts(facts: Record<string, unknown>, prefix = ''): Field[] {
  const rows: Field[] = [];
  for (const [k, v] of Object.entries(facts).sort((a, b) => a[0].localeCompare(b[0]))) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) rows.push({ name, value: v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') });
    else if (typeof v === 'object') rows.push(...flattenFacts(v as Record<string, unknown>, name));
    else rows.push({ name, value: String(v) });
  }
  return rows;
}
