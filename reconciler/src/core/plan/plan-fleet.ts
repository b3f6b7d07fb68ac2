// planFleet: what merging a change does to the fleet, before it is merged (`deployx plan`).
//
// Pure and synchronous. Base and head are compiled for the same devices, each device's two
// desired states are paired and diffed, and everything is sorted by a documented total order, so a
// plan is deterministic, snapshot-testable and carries a digest.
//
// Devices. Per revision, the devices compiled are the inventory's devices (enrolled: they have
// reported facts) together with the revision's declared devices. A device is compiled exactly as
// the server compiles it (`deviceInput` in loop/reconciler.ts): the inventory's facts, and its
// enrollment labels overlaid with the labels of the revision's Device document, Git winning — so a
// label edited in Git shows in the plan. A declared device the inventory does not hold has no
// facts and is `not-enrolled`: its changes apply when it enrolls.
//
// Resources. The diff is the device planner's (`planDevice`), so the plan a reviewer reads is the
// one the server would send: head's desired state is planned against base's resources taken as
// what DeployX applied (a device converged on base), with nothing observed. Hence, per key:
//   + create  in head, not in base
//   ~ update  fingerprint differs (`fields` says what: content, mode, version, …); also a
//             `run: always` script riding along with a job that runs anyway
//   - delete  in base, not in head, with prune (files by default); or head says `ensure: absent`
//             and base did not
//   = forget  in base, not in head, without prune: left in place (packages, scripts), or it was
//             `ensure: absent` (nothing to remove)
// One departure from planDevice: a package on a device that has not reported its package manager
// is "unchanged, waiting" to the planner; the plan still shows it as + or ~ when its desired
// fingerprint changed, with the planner's reason, since the reviewer is changing it.
//
// Order: devices, profiles and groups by name, a device's changes by resource key, a change's
// profiles by name (UTF-16 code units, `compareStrings`). `digest` is `sha256:` + the SHA-256 of
// the canonical JSON of the plan without its digest; only offline devices carry `lastSeenAt`
// (online ones move it every heartbeat), so the digest is stable while the fleet's online set is.
import type { Facts } from '../../../../schemas/facts.ts';
import type { AnyDoc, RolloutPolicy } from '../../../../schemas/kinds.ts';
import { compileDevice, createCompileContext, membershipOf, mergeRollout } from '../compile/compile.ts';
import { canonicalJson } from '../compile/fingerprint.ts';
import { compareStrings, groupsByDevice, resolveGroupMembers } from '../compile/groups.ts';
import type { CompileIssue, DesiredResource, DesiredState, DeviceInput, FleetModel, ScriptResource } from '../model.ts';
import { sha256Hex } from '../sha256.ts';
import { planDevice, type AppliedResource, type ChangeAction } from './plan-device.ts';

/** A device of the inventory: `declared` is recomputed per revision (the revision's Device documents). */
export type PlanDeviceInput = DeviceInput & { online: boolean; lastSeenAt?: string };

/** A device as the rollout scheduler sees it: head's labels, facts and groups. */
export interface DeviceRef {
  name: string;
  labels: Readonly<Record<string, string>>;
  facts: Facts | undefined;
  /** Head's groups holding the device, sorted. */
  groups: readonly string[];
  online: boolean;
}

export interface Wave {
  name: string;
  /** Sorted by name. */
  devices: string[];
}

/** Splits the devices a profile touches into rollout waves (the scheduler's arithmetic). */
export type WavePlanner = (profile: string, policy: RolloutPolicy, devices: DeviceRef[]) => Array<{ name: string; devices: string[] }>;

export interface PlanFleetInput {
  /** Undefined: plan against an empty fleet (no base, or an invalid one; say why in `notes`). */
  base: FleetModel | undefined;
  head: FleetModel;
  /** The inventory: enrolled devices, their last reported facts and whether they are online. */
  devices: readonly PlanDeviceInput[];
  /** Default: one wave `all` holding every enrolled device the profile touches. */
  waves?: WavePlanner;
  /** Shown with the plan and covered by its digest. */
  notes?: readonly string[];
}

export type PlanAction = Exclude<ChangeAction, 'unchanged'>;

/** One field of a resource: `from` is base's value, `to` head's; a create has only `to`. */
export interface FieldChange {
  field: string;
  from?: string;
  to?: string;
}

export interface ResourceChange {
  key: string;
  action: PlanAction;
  /** The planner's reason. */
  reason: string;
  /** Update: the fields that differ. Create: what the resource holds. Otherwise empty. */
  fields: FieldChange[];
  /** Profiles that put the resource on the device: head's, or base's for one no longer desired. */
  profiles: string[];
}

export type DeviceStatus = 'online' | 'offline' | 'not-enrolled';

export interface DeviceChanges {
  device: string;
  status: DeviceStatus;
  /** Offline devices only. */
  lastSeenAt?: string;
  profiles: { joined: string[]; left: string[] };
  groups: { joined: string[]; left: string[] };
  /** Sorted by key. */
  changes: ResourceChange[];
  /** Head's compile issues that base did not have (`package.manager-unknown` aside: the changes say it). */
  issues: CompileIssue[];
}

export interface ChangeCounts {
  create: number;
  update: number;
  delete: number;
  forget: number;
}

export type DocumentStatus = 'added' | 'removed' | 'modified' | 'unchanged';

export interface ProfilePlan {
  name: string;
  /** The Profile document itself; `unchanged` when only what it lists or targets changed. */
  document: DocumentStatus;
  /** Devices with a change this profile put there, or that join or leave it. */
  devices: string[];
  joined: string[];
  left: string[];
  /** Changes attributed to this profile (a resource two profiles share counts for both). */
  counts: ChangeCounts;
  /** Of `devices`. */
  offline: number;
  notEnrolled: number;
  /** Enrolled devices of `devices`, in rollout order; a not-enrolled device is in no wave. */
  waves: Wave[];
}

export interface GroupChange {
  name: string;
  document: DocumentStatus;
  /** Member counts; null when the group does not exist in that revision. */
  before: number | null;
  after: number | null;
  joined: string[];
  left: string[];
}

export interface EmptyGroup {
  name: string;
  /** Members in base; null when the group is new. */
  before: number | null;
  /** Head's profiles targeting it. */
  targetedBy: string[];
}

export interface FleetPlan {
  format: 'deployx.plan/v1';
  /** Revision strings; base null when planned against an empty fleet. */
  base: string | null;
  head: string;
  notes: string[];
  /** Head's devices. */
  fleet: { devices: number; online: number; offline: number; notEnrolled: number };
  totals: ChangeCounts & {
    /** Devices with at least one resource change. */
    touched: number;
    /** Of the touched devices. */
    offline: number;
    notEnrolled: number;
  };
  profiles: ProfilePlan[];
  /** Groups whose members or document changed. */
  groups: GroupChange[];
  /** Head's groups that match no device. */
  emptyGroups: EmptyGroup[];
  /** Devices with a resource change, a profile or group joined or left, or a new compile issue. */
  devices: DeviceChanges[];
  /** `sha256:<hex>` of the canonical JSON of everything above. */
  digest: string;
}

// The planner reads `now` only for schedules it compares with observed run times; a plan has
// nothing observed, so any fixed instant gives the same answer.
const NO_OBSERVATION_TIME = new Date(0);

export function planFleet(input: PlanFleetInput): FleetPlan {
  const { base, head } = input;
  const inventory = new Map<string, PlanDeviceInput>();
  for (const device of input.devices) inventory.set(device.name, device);

  const baseSide = base === undefined ? emptySide() : compileSide(base, inventory);
  const headSide = compileSide(head, inventory);

  const names = new Set<string>([...baseSide.inputs.keys(), ...headSide.inputs.keys()]);
  const sortedNames = [...names].sort(compareStrings);
  const statusOf = (name: string): DeviceStatus => {
    const entry = inventory.get(name);
    return entry === undefined ? 'not-enrolled' : entry.online ? 'online' : 'offline';
  };

  const diffCache = new Map<string, ResourceChange[]>();
  const devices: DeviceChanges[] = [];
  for (const name of sortedNames) {
    const before = baseSide.states.get(name);
    const after = headSide.states.get(name);
    const beforeProfiles = (before?.profiles ?? []).map((p) => p.name);
    const afterProfiles = (after?.profiles ?? []).map((p) => p.name);
    const changes = diffDevice(diffCache, before, after, beforeProfiles, afterProfiles);
    const profiles = setDiff(beforeProfiles, afterProfiles);
    const groups = setDiff(baseSide.groupsOf.get(name) ?? [], headSide.groupsOf.get(name) ?? []);
    const issues = newIssues(before?.issues ?? [], after?.issues ?? []);
    const nothing =
      changes.length === 0 && profiles.joined.length + profiles.left.length + groups.joined.length + groups.left.length + issues.length === 0;
    if (nothing) continue;
    const status = statusOf(name);
    const lastSeenAt = status === 'offline' ? inventory.get(name)?.lastSeenAt : undefined;
    devices.push({ device: name, status, ...(lastSeenAt !== undefined ? { lastSeenAt } : {}), profiles, groups, changes, issues });
  }

  const profiles = planProfiles(input, devices, headSide);
  const { groups, emptyGroups } = planGroups(base, head, baseSide.membership, headSide.membership);

  const totals = { touched: 0, create: 0, update: 0, delete: 0, forget: 0, offline: 0, notEnrolled: 0 };
  for (const device of devices) {
    if (device.changes.length === 0) continue;
    totals.touched++;
    if (device.status === 'offline') totals.offline++;
    if (device.status === 'not-enrolled') totals.notEnrolled++;
    for (const change of device.changes) totals[change.action]++;
  }
  const fleet = { devices: 0, online: 0, offline: 0, notEnrolled: 0 };
  for (const name of headSide.inputs.keys()) {
    fleet.devices++;
    const status = statusOf(name);
    if (status === 'online') fleet.online++;
    else if (status === 'offline') fleet.offline++;
    else fleet.notEnrolled++;
  }

  const plan: Omit<FleetPlan, 'digest'> = {
    format: 'deployx.plan/v1',
    base: base?.revision ?? null,
    head: head.revision,
    notes: [...(input.notes ?? [])],
    fleet,
    totals,
    profiles,
    groups,
    emptyGroups,
    devices,
  };
  return { ...plan, digest: `sha256:${sha256Hex(canonicalJson(plan))}` };
}

// ---- compile one side ----

interface Side {
  /** Device name → the input compiled for it, in no particular order. */
  inputs: Map<string, DeviceInput>;
  states: Map<string, DesiredState>;
  membership: ReadonlyMap<string, ReadonlySet<string>>;
  /** Device name → its groups, sorted. */
  groupsOf: Map<string, string[]>;
}

function emptySide(): Side {
  return { inputs: new Map(), states: new Map(), membership: new Map(), groupsOf: new Map() };
}

function compileSide(model: FleetModel, inventory: ReadonlyMap<string, PlanDeviceInput>): Side {
  const inputs = new Map<string, DeviceInput>();
  for (const entry of inventory.values()) {
    const declared = model.devices.get(entry.name);
    inputs.set(entry.name, {
      name: entry.name,
      labels: declared?.doc.metadata.labels ? { ...entry.labels, ...declared.doc.metadata.labels } : entry.labels,
      facts: entry.facts,
      declared: declared !== undefined,
    });
  }
  for (const [name, { doc }] of model.devices) {
    if (!inputs.has(name)) inputs.set(name, { name, labels: doc.metadata.labels ?? {}, facts: undefined, declared: true });
  }
  const list = [...inputs.values()];
  const membership = resolveGroupMembers(model, list);
  const groupsOf = groupsByDevice(membership);
  const context = createCompileContext(model);
  const states = new Map<string, DesiredState>();
  for (const device of list) {
    const groups = groupsOf.get(device.name) ?? [];
    states.set(device.name, compileDevice(model, device, membershipOf(device.name, groups), context));
  }
  return { inputs, states, membership, groupsOf };
}

// ---- one device: pair → diff ----

/**
 * The device's changes. Two devices with the same base and head state fingerprints and profile
 * lists get the same answer (the fingerprints cover everything the planner reads, the profile lists
 * the attribution), so each distinct pair is planned once.
 */
function diffDevice(
  cache: Map<string, ResourceChange[]>,
  before: DesiredState | undefined,
  after: DesiredState | undefined,
  beforeProfiles: readonly string[],
  afterProfiles: readonly string[],
): ResourceChange[] {
  if (before !== undefined && after !== undefined && before.fingerprint === after.fingerprint) return [];
  const key = `${before?.fingerprint ?? '-'}\u0000${after?.fingerprint ?? '-'}\u0000${beforeProfiles.join('\u0001')}\u0000${afterProfiles.join('\u0001')}`;
  let changes = cache.get(key);
  if (changes === undefined) {
    changes = diffStates(before, after);
    cache.set(key, changes);
  }
  return changes;
}

function diffStates(before: DesiredState | undefined, after: DesiredState | undefined): ResourceChange[] {
  const baseResources = before?.resources ?? [];
  const applied: AppliedResource[] = baseResources.map((resource) => ({ key: resource.key, fingerprint: resource.fingerprint, resource }));
  const baseByKey = new Map(baseResources.map((r) => [r.key, r]));
  const desired: DesiredState = after ?? {
    device: before?.device ?? '',
    revision: '',
    groups: [],
    profiles: [],
    resources: [],
    issues: [],
    fingerprint: '',
  };
  const planned = planDevice(desired, undefined, applied, { now: NO_OBSERVATION_TIME });
  const desiredNow = new Set<DesiredResource>(desired.resources);

  const result: ResourceChange[] = [];
  for (const change of planned.changes) {
    const resource = change.resource;
    if (resource === undefined) continue;
    const was = baseByKey.get(change.key);
    let action: PlanAction;
    if (change.action === 'unchanged') {
      // Only a package waiting for its device's manager can be "unchanged" with a new fingerprint.
      if (resource.type !== 'package' || resource.manager !== undefined || was?.fingerprint === resource.fingerprint) continue;
      action = resource.ensure === 'absent' ? 'delete' : was === undefined ? 'create' : 'update';
    } else {
      action = change.action;
    }
    result.push({
      key: change.key,
      action,
      reason: change.reason,
      fields: desiredNow.has(resource) ? fieldsOf(action, was, resource) : [],
      profiles: [...new Set(resource.sources.map((s) => s.profile))].sort(compareStrings),
    });
  }
  return result;
}

/** What a reviewer needs to read about a resource change, field by field. */
function fieldsOf(action: PlanAction, was: DesiredResource | undefined, now: DesiredResource): FieldChange[] {
  const after = describe(now);
  if (was === undefined || was.type !== now.type) {
    if (action !== 'create') return [];
    // What a new resource holds; `ensure present` goes without saying.
    return after
      .filter(([field, value]) => value !== undefined && !(field === 'ensure' && value === 'present'))
      .map(([field, to]) => ({ field, to: to! }));
  }
  const before = new Map(describe(was));
  const fields: FieldChange[] = [];
  for (const [field, to] of after) {
    const from = before.get(field);
    if (from === to) continue;
    fields.push({ field, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  }
  return fields;
}

/** A resource's reviewable fields in display order; undefined = unset. */
function describe(r: DesiredResource): Array<[string, string | undefined]> {
  switch (r.type) {
    case 'package':
      return [
        ['manager', r.manager],
        ['package', r.packageName],
        ['version', r.version],
        ['ensure', r.ensure],
      ];
    case 'file':
      return [
        ['content', r.sha256],
        ['size', r.size === undefined ? undefined : `${r.size} B`],
        ['source', r.origin.kind === 'repo' ? r.origin.path : r.origin.kind === 'url' ? r.origin.url : 'inline'],
        ['mode', r.mode],
        ['owner', r.owner],
        ['group', r.group],
        ['ensure', r.ensure],
      ];
    case 'script':
      return [
        ['content', r.sha256],
        ['source', r.origin.kind === 'repo' ? r.origin.path : 'inline'],
        ['interpreter', r.interpreter],
        ['run', runText(r.run)],
        ['on interrupt', r.onInterrupt],
        ['check', r.check],
        ['timeout', `${r.timeoutSeconds}s`],
        ['exit codes', r.successExitCodes.join(',')],
        ['env', Object.keys(r.env).length === 0 ? undefined : canonicalJson(r.env)],
      ];
  }
}

function runText(run: ScriptResource['run']): string {
  return typeof run === 'string' ? run : `every ${run.every}`;
}

function newIssues(before: readonly CompileIssue[], after: readonly CompileIssue[]): CompileIssue[] {
  if (after.length === 0) return [];
  const known = new Set(before.map((i) => `${i.code}\u0000${i.subject}`));
  return after.filter((i) => i.code !== 'package.manager-unknown' && !known.has(`${i.code}\u0000${i.subject}`)).map((i) => ({ ...i }));
}

/** Sorted lists of what `after` has that `before` lacks, and the reverse. */
function setDiff(before: readonly string[], after: readonly string[]): { joined: string[]; left: string[] } {
  if (before.length === after.length && before.every((x, i) => x === after[i])) return { joined: [], left: [] };
  const was = new Set(before);
  const is = new Set(after);
  return {
    joined: after.filter((x) => !was.has(x)).sort(compareStrings),
    left: before.filter((x) => !is.has(x)).sort(compareStrings),
  };
}

// ---- profiles ----

function planProfiles(input: PlanFleetInput, devices: readonly DeviceChanges[], headSide: Side): ProfilePlan[] {
  const { base, head } = input;
  interface Acc {
    devices: Set<string>;
    joined: string[];
    left: string[];
    counts: ChangeCounts;
  }
  const byProfile = new Map<string, Acc>();
  const acc = (name: string): Acc => {
    let entry = byProfile.get(name);
    if (entry === undefined) {
      entry = { devices: new Set(), joined: [], left: [], counts: { create: 0, update: 0, delete: 0, forget: 0 } };
      byProfile.set(name, entry);
    }
    return entry;
  };
  const statusByDevice = new Map(devices.map((d) => [d.device, d.status]));
  for (const device of devices) {
    for (const name of device.profiles.joined) acc(name).joined.push(device.device);
    for (const name of device.profiles.left) acc(name).left.push(device.device);
    for (const name of [...device.profiles.joined, ...device.profiles.left]) acc(name).devices.add(device.device);
    for (const change of device.changes) {
      for (const name of change.profiles) {
        const entry = acc(name);
        entry.devices.add(device.device);
        entry.counts[change.action]++;
      }
    }
  }
  // Profiles whose document changed are listed even when they touch no device.
  const names = new Set([...(base?.profiles.keys() ?? []), ...head.profiles.keys()]);
  for (const name of names) {
    if (documentStatus(base?.profiles.get(name)?.doc, head.profiles.get(name)?.doc) !== 'unchanged') acc(name);
  }

  const inventory = new Map(input.devices.map((d) => [d.name, d]));
  const result: ProfilePlan[] = [];
  for (const name of [...byProfile.keys()].sort(compareStrings)) {
    const entry = byProfile.get(name)!;
    const touched = [...entry.devices].sort(compareStrings);
    let offline = 0;
    let notEnrolled = 0;
    const refs: DeviceRef[] = [];
    for (const device of touched) {
      const status = statusByDevice.get(device);
      if (status === 'offline') offline++;
      if (status === 'not-enrolled') {
        notEnrolled++;
        continue;
      }
      const compiled = headSide.inputs.get(device);
      const inv = inventory.get(device)!;
      refs.push({
        name: device,
        labels: compiled?.labels ?? inv.labels,
        facts: inv.facts,
        groups: headSide.groupsOf.get(device) ?? [],
        online: inv.online,
      });
    }
    const located = head.profiles.get(name) ?? base?.profiles.get(name);
    const model = head.profiles.has(name) ? head : base!;
    const policy = mergeRollout(model.fleet?.doc.spec.rollout, located?.doc.spec.rollout);
    const waves = refs.length === 0 ? [] : input.waves ? input.waves(name, policy, refs) : [{ name: 'all', devices: refs.map((r) => r.name) }];
    result.push({
      name,
      document: documentStatus(base?.profiles.get(name)?.doc, head.profiles.get(name)?.doc),
      devices: touched,
      joined: entry.joined.sort(compareStrings),
      left: entry.left.sort(compareStrings),
      counts: entry.counts,
      offline,
      notEnrolled,
      waves: waves.map((wave) => ({ name: wave.name, devices: [...wave.devices].sort(compareStrings) })),
    });
  }
  return result;
}

function documentStatus(before: AnyDoc | undefined, after: AnyDoc | undefined): DocumentStatus {
  if (before === undefined) return after === undefined ? 'unchanged' : 'added';
  if (after === undefined) return 'removed';
  return canonicalJson(before) === canonicalJson(after) ? 'unchanged' : 'modified';
}

// ---- groups ----

function planGroups(
  base: FleetModel | undefined,
  head: FleetModel,
  baseMembership: ReadonlyMap<string, ReadonlySet<string>>,
  headMembership: ReadonlyMap<string, ReadonlySet<string>>,
): { groups: GroupChange[]; emptyGroups: EmptyGroup[] } {
  const names = [...new Set([...(base?.groups.keys() ?? []), ...head.groups.keys()])].sort(compareStrings);
  const targetedBy = new Map<string, string[]>();
  for (const [profile, { doc }] of head.profiles) {
    for (const group of new Set(doc.spec.targets)) {
      const list = targetedBy.get(group);
      if (list === undefined) targetedBy.set(group, [profile]);
      else list.push(profile);
    }
  }
  const groups: GroupChange[] = [];
  const emptyGroups: EmptyGroup[] = [];
  for (const name of names) {
    const inBase = base?.groups.has(name) === true;
    const inHead = head.groups.has(name);
    const before = baseMembership.get(name) ?? new Set<string>();
    const after = headMembership.get(name) ?? new Set<string>();
    const joined = [...after].filter((d) => !before.has(d)).sort(compareStrings);
    const left = [...before].filter((d) => !after.has(d)).sort(compareStrings);
    const document = documentStatus(base?.groups.get(name)?.doc, head.groups.get(name)?.doc);
    if (joined.length > 0 || left.length > 0 || document !== 'unchanged') {
      groups.push({ name, document, before: inBase ? before.size : null, after: inHead ? after.size : null, joined, left });
    }
    if (inHead && after.size === 0) {
      emptyGroups.push({ name, before: inBase ? before.size : null, targetedBy: (targetedBy.get(name) ?? []).sort(compareStrings) });
    }
  }
  return { groups, emptyGroups };
}
