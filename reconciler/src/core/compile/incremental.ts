// Validate again after a change: the conflict check (two profiles putting different content at
// one path, two versions of one package) runs only over the devices whose desired state can have
// changed; every other device keeps the conflicts it had. The answer is the one findConflicts
// gives (incremental.test.ts compares the two, change by change). The server runs this on every
// push, through validateRevision's ValidationCache (validation-cache.ts).
//
// What one device's desired state depends on (compile.ts): its input (name, labels, facts,
// declared); its groups, i.e. the Group documents and its input; the Profiles targeting those
// groups; the Software, FileDeployment and Script documents those profiles list; the repository
// files those name as `source`; the Fleet document (drift and rollout defaults). So, from one
// revision (and device list) to the next:
//   - the Fleet document changed            → every device;
//   - a device is new, or its labels, or a fact compile reads (the package manager, a path some
//     selector names) changed                → that device;
//   - a group's members changed             → the devices that joined or left it;
//   - a profile changed, appeared or went   → the members of its targets, before and after;
//   - a Software, FileDeployment or Script document, or the source file of one, changed
//                                           → as if each profile listing it had changed;
//   - anything else (Device documents, OSImages, the revision) → nobody.
// A document "changed" when its value is not the previous one: the loader's ParseCache hands out
// the same object for unchanged content, so an identity check decides almost always, and a value
// comparison decides the rest (a cache that was cleared costs time, never correctness). Device
// inputs are compared the same way, facts only at the paths compile reads.
//
// Group membership is updated the same way: groups that changed are resolved again over every
// device, devices that changed are tested against every group, the other sets are kept (the sets
// of a GroupMembership are never modified, only replaced).
import type { DesiredState, DeviceInput, FleetModel, Located, RepoFile } from '../model.ts';
import type { AnyDoc } from '../../../../schemas/kinds.ts';
import { normaliseRepoPath } from '../validate/semantic-check.ts';
import {
  compileDeviceInGroups,
  createCompileContext,
  deviceConflicts,
  type CompileContext,
  type CompileContextReuse,
  type ResourceConflict,
} from './compile.ts';
import { compareStrings, groupsByDevice, resolveGroupMembers, type GroupMembership } from './groups.ts';
import { compileSelector, lookupFactPath, type SelectorPredicate } from './selectors.ts';

/** The devices a fleet was compiled for. Never modified once compiled for. */
export interface DeviceList {
  devices: readonly DeviceInput[];
  /** The same devices by name, when they have distinct names (saves the next recompile a pass). */
  devicesByName?: ReadonlyMap<string, DeviceInput> | undefined;
}

/** Group membership of a device list, both ways. */
export interface Grouping {
  /** `resolveGroupMembers(model, devices)`. */
  membership: GroupMembership;
  /** `groupsByDevice(membership)`: each device's groups, sorted; devices in no group are absent. */
  groupsOf: ReadonlyMap<string, readonly string[]>;
}

/** The conflicts of a fleet (findConflicts), kept per device so the next check can start from them. */
export interface ConflictCheck extends DeviceList, Grouping {
  model: FleetModel;
  /** The compile context of `model`: resolved documents the next check may take over. */
  context: CompileContext;
  /** Devices that have conflicts → their conflicts; devices without any are absent. */
  byDevice: ReadonlyMap<string, ResourceConflict[]>;
  /** `findConflicts(model, devices)`: every conflict, by device name, then as findConflicts sorts them. */
  conflicts: ResourceConflict[];
}

/** `findConflicts(model, devices)`, checking only the devices a change since `prev` can reach. */
export function findConflictsSince(prev: ConflictCheck | undefined, model: FleetModel, devices: readonly DeviceInput[]): ConflictCheck {
  let context: CompileContext;
  const byDevice = new Map<string, ResourceConflict[]>();
  let membership: GroupMembership;
  let groupsOf: ReadonlyMap<string, readonly string[]>;
  let devicesByName: ReadonlyMap<string, DeviceInput> | undefined;
  if (prev === undefined) {
    context = createCompileContext(model);
    devicesByName = byName(devices);
    membership = resolveGroupMembers(model, devices);
    groupsOf = groupsByDevice(membership);
    for (const device of devices) setConflicts(byDevice, device.name, deviceConflicts(context, device, groupsOf.get(device.name) ?? []));
  } else {
    const change = analyseFleetChange(prev, model, devices);
    context = createCompileContext(model, reuseOf(prev.context, change));
    ({ membership, groupsOf } = change);
    devicesByName = change.after;
    const names = change.after ?? new Set(devices.map((device) => device.name));
    for (const [name, conflicts] of prev.byDevice) {
      if (names.has(name) && !change.affected.has(name)) byDevice.set(name, conflicts.map((c) => ({ ...c })));
    }
    for (const device of devices) {
      if (change.affected.has(device.name)) setConflicts(byDevice, device.name, deviceConflicts(context, device, groupsOf.get(device.name) ?? []));
    }
  }
  const conflicts: ResourceConflict[] = [];
  for (const name of [...byDevice.keys()].sort(compareStrings)) conflicts.push(...byDevice.get(name)!);
  return { model, context, devices, devicesByName, membership, groupsOf, byDevice, conflicts };
}

// ---- the desired state of every device, again after a change ----

/** Every device of a list compiled at one model: what the next compile may start from. */
export interface FleetCompile extends DeviceList, Grouping {
  model: FleetModel;
  context: CompileContext;
  /** Each device's desired-state fingerprint (devices with a name another device shares: the last). */
  fingerprints: ReadonlyMap<string, string>;
  /** The desired states compiled by this call: every device without `prev`, else the affected ones. */
  compiled: ReadonlyMap<string, DesiredState>;
}

/**
 * The fingerprint of every device at `model` (`context` created for it), compiling only the
 * devices a change since `prev` can reach (analyseFleetChange); every other device keeps its
 * fingerprint. Equal to compiling every device (incremental.test.ts). The server runs this when a
 * revision is accepted, to find the devices whose desired state changed (the rollout diff): a
 * one-file commit in a fleet of 10,000 devices and 500 groups compiled 20,000 devices over every
 * group selector before.
 */
export function compileFleetSince(prev: FleetCompile | undefined, model: FleetModel, context: CompileContext, devices: readonly DeviceInput[]): FleetCompile {
  const compiled = new Map<string, DesiredState>();
  const compile = (device: DeviceInput, groups: readonly string[]): DesiredState => {
    const desired = compileDeviceInGroups(context, device, groups);
    compiled.set(device.name, desired);
    return desired;
  };
  if (prev === undefined || prev.devicesByName === undefined) {
    const membership = resolveGroupMembers(model, devices);
    const groupsOf = groupsByDevice(membership);
    const fingerprints = new Map<string, string>();
    for (const device of devices) fingerprints.set(device.name, compile(device, groupsOf.get(device.name) ?? []).fingerprint);
    return { model, context, devices, devicesByName: byName(devices), membership, groupsOf, fingerprints, compiled };
  }
  const change = analyseFleetChange(prev, model, devices);
  const fingerprints = new Map<string, string>();
  for (const device of devices) {
    const kept = change.affected.has(device.name) ? undefined : prev.fingerprints.get(device.name);
    fingerprints.set(device.name, kept ?? compile(device, change.groupsOf.get(device.name) ?? []).fingerprint);
  }
  return { model, context, devices, devicesByName: change.after, membership: change.membership, groupsOf: change.groupsOf, fingerprints, compiled };
}

/** The two sides of a revision change, over the same devices (diffRevisions). */
export interface RevisionDiff {
  /** Every device at the previous revision, with its current inputs. */
  before: FleetCompile;
  /** Every device at the new revision. */
  after: FleetCompile;
  /** Devices whose desired-state fingerprint differs between the two. */
  changed: string[];
}

/**
 * What a new revision changes for the devices as they are now: the previous revision compiled
 * again for the devices whose inputs changed since `base` (its last compile), then the new one for
 * the devices the change of documents can reach. A device whose labels or facts changed between
 * the two revisions is compared with itself, so it counts only when the revision changes it.
 */
export function diffRevisions(
  base: FleetCompile | undefined,
  previous: { model: FleetModel; context: CompileContext; devices: readonly DeviceInput[] },
  next: { model: FleetModel; context: CompileContext; devices: readonly DeviceInput[] },
): RevisionDiff {
  const before = compileFleetSince(base?.model === previous.model ? base : undefined, previous.model, previous.context, previous.devices);
  const after = compileFleetSince(before, next.model, next.context, next.devices);
  const changed: string[] = [];
  for (const [name, print] of after.fingerprints) if (before.fingerprints.get(name) !== print) changed.push(name);
  return { before, after, changed };
}

/** What the new context may take over from the previous one (see CompileContextReuse). */
function reuseOf(context: CompileContext, change: FleetChange): CompileContextReuse | undefined {
  return change.changedProfiles === undefined ? undefined : { context, changedProfiles: change.changedProfiles };
}

function setConflicts(byDevice: Map<string, ResourceConflict[]>, device: string, conflicts: ResourceConflict[]): void {
  if (conflicts.length > 0) byDevice.set(device, conflicts);
}

// ---- what a change reaches ----

/** Above this many changed devices or groups, membership is resolved again from scratch. */
const RESOLVE_ALL_FROM = 2_000;
/** Above this many devices whose groups changed, every device's group list is made again (one pass over the membership). */
const REGROUP_ALL_FROM = 200;

export interface FleetChange extends Grouping {
  /** Devices (of the new list) whose compile result may differ from the previous one. */
  affected: ReadonlySet<string>;
  /** Devices of the previous list that are not in the new one, sorted. */
  removed: string[];
  /** How many devices of the new list were not in the previous one. */
  added: number;
  /** The new devices by name; undefined when two share a name. */
  after: ReadonlyMap<string, DeviceInput> | undefined;
  /**
   * The profiles that changed, when nothing else a compile context holds did (the Fleet, Software,
   * FileDeployment and Script documents and their sources): then the new context may take over
   * the previous one's resolved documents and unchanged profiles. Undefined otherwise.
   */
  changedProfiles: ReadonlySet<string> | undefined;
}

/** What changed from (`prev.model`, `prev.devices`) to (`model`, `devices`), per the rules above. */
export function analyseFleetChange(
  prev: DeviceList & Grouping & { model: FleetModel },
  model: FleetModel,
  devices: readonly DeviceInput[],
): FleetChange {
  const before = prev.devicesByName ?? byName(prev.devices);
  // The same DeviceInput objects as last time (a caller that keeps them): nothing to compare.
  const same = devices.length === prev.devices.length && devices.every((device, i) => device === prev.devices[i]);
  const after = same ? before : byName(devices);
  let added = 0;
  if (after !== undefined && !same) for (const name of after.keys()) if (!before?.has(name)) added++;
  // Names of `before` not in `after`: as many as `before` has beyond the names both have.
  const gone = before === undefined || after === undefined ? 0 : before.size - (after.size - added);
  const removed = gone === 0 || before === undefined ? [] : [...before.keys()].filter((name) => !after?.has(name)).sort(compareStrings);
  const everyone = (): FleetChange => {
    const membership = resolveGroupMembers(model, devices);
    return {
      membership,
      groupsOf: groupsByDevice(membership),
      affected: new Set(devices.map((device) => device.name)),
      removed,
      added,
      after,
      changedProfiles: undefined,
    };
  };
  // Two devices with one name: compileFleet keeps the last; not worth reasoning about.
  if (before === undefined || after === undefined) return everyone();
  if (!sameDocument(prev.model.fleet, model.fleet)) return everyone();

  const changedDevices = same ? new Set<string>(removed) : changedDeviceNames(before, after, removed, model);

  const groups = changedDocuments(prev.model.groups, model.groups);
  const membership =
    groups.size + changedDevices.size >= RESOLVE_ALL_FROM
      ? resolveGroupMembers(model, devices)
      : updateMembership(prev.membership, model, devices, after, groups, changedDevices);

  const affected = new Set<string>();
  for (const name of changedDevices) if (after.has(name)) affected.add(name);
  const addMembers = (members: ReadonlySet<string> | undefined): void => {
    if (members !== undefined) for (const name of members) if (after.has(name)) affected.add(name);
  };
  const regrouped = regroupedDevices(prev.membership, membership, removed);
  for (const name of regrouped) if (after.has(name)) affected.add(name);

  // Members of the targets of every profile that changed or lists a changed document.
  const { profiles, documentsChanged } = changedProfiles(prev.model, model);
  for (const name of profiles) {
    for (const target of prev.model.profiles.get(name)?.doc.spec.targets ?? []) addMembers(prev.membership.get(target));
    for (const target of model.profiles.get(name)?.doc.spec.targets ?? []) addMembers(membership.get(target));
  }
  return {
    membership,
    groupsOf: regroup(prev.groupsOf, membership, regrouped, after),
    affected,
    removed,
    added,
    after,
    changedProfiles: documentsChanged ? undefined : profiles,
  };
}

/** Gone devices and devices whose input changed (labels, `declared`, a fact compile reads). */
function changedDeviceNames(
  before: ReadonlyMap<string, DeviceInput>,
  after: ReadonlyMap<string, DeviceInput>,
  removed: readonly string[],
  model: FleetModel,
): Set<string> {
  const changed = new Set<string>(removed);
  const factPaths = relevantFactPaths(model);
  for (const [name, device] of after) {
    const old = before.get(name);
    if (old === undefined || !sameDeviceInput(old, device, factPaths)) changed.add(name);
  }
  return changed;
}

/** Devices that joined or left a group (gone ones included): their group lists are made again. */
function regroupedDevices(prev: GroupMembership, next: GroupMembership, removed: readonly string[]): Set<string> {
  const regrouped = new Set<string>(removed);
  for (const [group, members] of next) {
    const old = prev.get(group);
    if (old === members) continue;
    for (const name of members) if (old === undefined || !old.has(name)) regrouped.add(name);
    if (old !== undefined) for (const name of old) if (!members.has(name)) regrouped.add(name);
  }
  for (const [group, old] of prev) if (!next.has(group)) for (const name of old) regrouped.add(name);
  return regrouped;
}

/** `prev` with the group lists of the devices in `regrouped` made again from `membership` (gone devices dropped). */
function regroup(
  prev: ReadonlyMap<string, readonly string[]>,
  membership: GroupMembership,
  regrouped: ReadonlySet<string>,
  after: ReadonlyMap<string, DeviceInput>,
): ReadonlyMap<string, readonly string[]> {
  if (regrouped.size === 0) return prev;
  if (regrouped.size > REGROUP_ALL_FROM) return groupsByDevice(membership);
  const groupsOf = new Map(prev);
  for (const name of regrouped) groupsOf.delete(name);
  for (const [group, members] of membership) {
    for (const name of regrouped) {
      if (!members.has(name) || !after.has(name)) continue;
      const list = groupsOf.get(name) as string[] | undefined;
      if (list === undefined) groupsOf.set(name, [group]);
      else list.push(group);
    }
  }
  return groupsOf;
}

/**
 * The profiles that changed or list a changed document, and whether any Software, FileDeployment
 * or Script document (or the bytes of a source) changed.
 */
function changedProfiles(prev: FleetModel, next: FleetModel): { profiles: Set<string>; documentsChanged: boolean } {
  const profiles = changedDocuments(prev.profiles, next.profiles);
  const software = changedDocuments(prev.software, next.software);
  const files = changedDocuments(prev.files, next.files);
  const scripts = changedDocuments(prev.scripts, next.scripts);
  // A document whose source file has other bytes changed too, though its value did not.
  const sources = changedRepoFiles(prev.repoFiles, next.repoFiles);
  if (sources.size > 0) {
    const changedSource = (source: string | undefined): boolean =>
      source !== undefined && sources.has(normaliseRepoPath(source) ?? source);
    for (const [name, located] of next.files) if (changedSource(located.doc.spec.source)) files.add(name);
    for (const [name, located] of next.scripts) if (changedSource(located.doc.spec.source)) scripts.add(name);
  }
  const documentsChanged = software.size + files.size + scripts.size > 0;
  if (documentsChanged) {
    const lists = (list: readonly string[] | undefined, changed: ReadonlySet<string>): boolean =>
      changed.size > 0 && list !== undefined && list.some((item) => changed.has(item));
    // Unchanged profiles list the same items in both models; changed ones are in `profiles` already.
    for (const [name, { doc }] of next.profiles) {
      if (lists(doc.spec.software, software) || lists(doc.spec.files, files) || lists(doc.spec.scripts, scripts)) profiles.add(name);
    }
  }
  return { profiles, documentsChanged };
}

/** Paths whose repository file is new, gone, or has other bytes. */
function changedRepoFiles(prev: ReadonlyMap<string, RepoFile>, next: ReadonlyMap<string, RepoFile>): Set<string> {
  const changed = new Set<string>();
  if (prev === next) return changed;
  for (const [path, file] of next) {
    const old = prev.get(path);
    if (old === undefined || old.sha256 !== file.sha256 || old.size !== file.size) changed.add(path);
  }
  for (const path of prev.keys()) if (!next.has(path)) changed.add(path);
  return changed;
}

/** Names whose document is new, gone, or has another value. */
function changedDocuments<D extends AnyDoc>(
  prev: ReadonlyMap<string, Located<D>>,
  next: ReadonlyMap<string, Located<D>>,
): Set<string> {
  const changed = new Set<string>();
  for (const [name, located] of next) if (!sameDocument(prev.get(name), located)) changed.add(name);
  for (const name of prev.keys()) if (!next.has(name)) changed.add(name);
  return changed;
}

function sameDocument(a: Located<AnyDoc> | undefined, b: Located<AnyDoc> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.doc === b.doc || equalData(a.doc, b.doc);
}

/**
 * Whether two inputs of one device compile alike: the same labels and `declared`, and the same
 * values at every fact path compile reads (`relevantFactPaths`); other facts (uptime, disk usage)
 * do not count.
 */
function sameDeviceInput(a: DeviceInput, b: DeviceInput, factPaths: readonly (readonly string[])[]): boolean {
  if (a === b) return true;
  if (a.declared !== b.declared || (a.labels !== b.labels && !equalData(a.labels, b.labels))) return false;
  if (a.facts === b.facts) return true;
  for (const path of factPaths) if (!equalData(lookupFactPath(a.facts, path), lookupFactPath(b.facts, path))) return false;
  return true;
}

/**
 * The fact paths compile reads for `model`, split at their dots: the package manager and every
 * path a group selector's `matchFacts` names. (A selector that changes is a changed group,
 * resolved again over every device, so the paths of the new model are the ones to compare.)
 */
export function relevantFactPaths(model: FleetModel): string[][] {
  const paths = new Set<string>(['os.packageManager']);
  for (const { doc } of model.groups.values()) {
    for (const expression of doc.spec.selector?.matchFacts ?? []) paths.add(expression.key);
  }
  return [...paths].map((path) => path.split('.'));
}

/** `prev` with the groups in `groups` resolved again and the devices in `devices` tested again. */
function updateMembership(
  prev: GroupMembership,
  model: FleetModel,
  devices: readonly DeviceInput[],
  after: ReadonlyMap<string, DeviceInput>,
  groups: ReadonlySet<string>,
  changedDevices: ReadonlySet<string>,
): GroupMembership {
  const result = new Map<string, ReadonlySet<string>>();
  for (const name of [...model.groups.keys()].sort(compareStrings)) {
    const spec = model.groups.get(name)!.doc.spec;
    const matches: SelectorPredicate | undefined = spec.selector === undefined ? undefined : compileSelector(spec.selector);
    const isMember = (device: DeviceInput): boolean =>
      (spec.devices?.includes(device.name) ?? false) || (matches !== undefined && matches(device.labels, device.facts));
    const old = prev.get(name);
    if (groups.has(name) || old === undefined) {
      const members: string[] = [];
      for (const device of devices) if (isMember(device)) members.push(device.name);
      result.set(name, new Set(members.sort(compareStrings)));
      continue;
    }
    let members: Set<string> | undefined;
    for (const deviceName of changedDevices) {
      const device = after.get(deviceName);
      const now = device !== undefined && isMember(device);
      if (now === old.has(deviceName)) continue;
      members ??= new Set(old);
      if (now) members.add(deviceName);
      else members.delete(deviceName);
    }
    result.set(name, members === undefined ? old : new Set([...members].sort(compareStrings)));
  }
  return result;
}

function byName(devices: readonly DeviceInput[]): Map<string, DeviceInput> | undefined {
  const map = new Map<string, DeviceInput>();
  for (const device of devices) {
    if (map.has(device.name)) return undefined;
    map.set(device.name, device);
  }
  return map;
}

/**
 * Deep equality of plain data (what YAML documents, facts and desired states are made of), strict
 * enough that equal inputs compile to deep-strict-equal states: primitives by Object.is, arrays
 * element by element, objects with the same prototype and the same own enumerable keys (in any
 * order, as assert.deepStrictEqual compares them) holding equal values.
 */
export function equalData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equalData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key)) continue;
    if (!Object.hasOwn(y, key) || !equalData(x[key], y[key])) return false;
    keys++;
  }
  for (const key in y) if (Object.hasOwn(y, key)) keys--;
  return keys === 0;
}
