// Compile: a validated FleetModel and the devices → the desired state of each device.
//
// For one device:
// - groups   = the groups whose members include it (groups.ts), sorted by name;
// - profiles = the profiles any of whose `targets` is one of those groups, sorted by name, each with
//   drift = profile.drift ?? fleet.drift ?? 'enforce' and rollout = { ...fleet.rollout, ...profile.rollout };
// - resources, walking the profiles by name and, in each, its software, files and scripts in the
//   order listed:
//   package/<software>  manager = facts.os.packageManager, packageName = packages[manager],
//                       version ?? 'any', ensure ?? 'present', prune ?? false. A manager the
//                       Software has no package for → issue `package.unavailable`, left out. No
//                       manager reported yet → manager and packageName undefined, and one issue
//                       `package.manager-unknown` for the device (subject `os.packageManager`).
//   file/<path>         sha256 of the repository file (`source`), of the inline `content`, or the
//                       given `sha256` (`url`); undefined for ensure: absent. prune ?? true.
//   script/<name>       sha256 of the body, run ?? 'onChange', onInterrupt only when declared and
//                       not defaultOnInterrupt(run), timeoutSeconds ?? 300,
//                       successExitCodes ?? [0] (sorted, deduplicated), env ?? {}; ensure present,
//                       prune false. `order` numbers the device's scripts from 0: profiles by
//                       name, then scripts as listed, first occurrence wins.
//   A `source` the revision does not hold (validation should have said so) → issue
//   `source.missing`, left out.
// - a resource reached through several profiles is one resource: its `sources` list each profile
//   (by name) with the device's groups that are among that profile's targets; `drift`, and every
//   other field, come from the first profile.
// - conflicts: the same key with a different fingerprint (`conflict.file`: one path, different
//   content/mode/owner/group/ensure), or two Software documents giving the device's manager the
//   same package name with different version or ensure (`conflict.package`). The resource met
//   first (profile that sorts first, then list order) is kept, the other left out, and an issue
//   with the left-out resource's key as subject is recorded. Two Software documents giving the
//   same package name with the same version and ensure both stay: they ask for the same thing.
// - resources sorted by key, issues by (code, subject, message); the state fingerprint is
//   `desiredStateFingerprint` (fingerprint.ts).
//
// Cost. Everything but `sources` is a function of the device's (profile set, manager), so that is
// compiled once per distinct pair; documents are resolved (and hashed) once per (document,
// manager); and devices whose profiles reach them through the same groups share resource objects.
// Shared objects are frozen: DesiredState values are read-only (copy before changing anything).
// After a change, incremental.ts compiles only the devices the change can reach.
import { normaliseRepoPath } from '../validate/semantic-check.ts';
import { defaultOnInterrupt, PACKAGE_MANAGERS, type DriftMode, type PackageManager, type ProfileDoc, type RolloutPolicy } from '../../../../schemas/kinds.ts';
import type {
  CompileIssue,
  DesiredResource,
  DesiredState,
  DeviceInput,
  DeviceProfile,
  FileResource,
  FleetModel,
  Located,
  PackageResource,
  ResourceSource,
  ScriptResource,
} from '../model.ts';
import { sha256Hex, utf8Encode } from '../sha256.ts';
import {
  combineStateDigests,
  fileFingerprint,
  normalizeExitCodes,
  packageFingerprint,
  scriptFingerprint,
  stateEntryDigest,
} from './fingerprint.ts';
import { compareStrings, groupsByDevice, groupsOfDevice, resolveGroupMembers, type GroupMembership } from './groups.ts';

/** Two profiles asking one device for incompatible things; the second one is left out. */
export interface ResourceConflict {
  code: 'conflict.file' | 'conflict.package';
  device: string;
  /** [kept, left out]: the profiles that listed them (equal when one profile lists both). */
  profiles: [string, string];
  /** [kept, left out]: the FileDeployment or Software documents. */
  documents: [string, string];
  /** The left-out document, as listed in `spec.files` / `spec.software` of `profiles[1]`. */
  item: string;
  /** Resource key of the left-out resource. */
  key: string;
  /** What both claim: the file path, or `<manager>/<package name>`. */
  subject: string;
  /** The same text as the device's CompileIssue. */
  message: string;
}

/**
 * Per-model caches shared by every device compiled against that model: prepared profiles,
 * resolved documents per manager, compiled (profiles, manager) combinations. Create one per model
 * with `createCompileContext` and pass it to `compileDevice` to compile many devices cheaply; it
 * fills lazily, so compiling one device only resolves that device's profiles. Its fields are
 * compile's internals, public only so the module's functions can reach them.
 */
export class CompileContext {
  /** Group name → names of the profiles targeting it, sorted. */
  readonly profilesByGroup = new Map<string, string[]>();
  readonly profiles = new Map<string, PreparedProfile>();
  readonly combos = new Map<string, CompiledCombo>();
  readonly packages = new Map<string, Resolution<PackageBase>>();
  readonly files = new Map<string, Resolution<FileBase>>();
  readonly scripts = new Map<string, Resolution<ScriptBase>>();
  /** deviceConflicts' answer per (manager, profile names), without the device. */
  readonly conflicts = new Map<string, Omit<ResourceConflict, 'device'>[]>();
  /** Every resource key the model can produce → its rank in key order, so sorting compares integers. */
  private keyRanks: Map<string, number> | undefined;
  /**
   * compileCombo's scratch: the entry of each key rank, valid where `slotStamp[rank]` equals the
   * current `stamp` (so nothing needs clearing between combos).
   */
  slotStamp = new Int32Array(0);
  slotEntry: (ComboEntry | undefined)[] = [];
  stamp = 0;

  constructor(readonly model: FleetModel, reuse?: CompileContextReuse) {
    for (const name of [...model.profiles.keys()].sort(compareStrings)) {
      for (const group of new Set(model.profiles.get(name)!.doc.spec.targets)) {
        const list = this.profilesByGroup.get(group);
        if (list === undefined) this.profilesByGroup.set(group, [name]);
        else list.push(name);
      }
    }
    if (reuse !== undefined) {
      const previous = reuse.context;
      for (const [key, resolution] of previous.packages) this.packages.set(key, resolution);
      for (const [key, resolution] of previous.files) this.files.set(key, resolution);
      for (const [key, resolution] of previous.scripts) this.scripts.set(key, resolution);
      for (const [name, prepared] of previous.profiles) {
        if (!reuse.changedProfiles.has(name) && model.profiles.has(name)) this.profiles.set(name, prepared);
      }
      this.keyRanks = previous.keyRanks;
    }
  }

  rankOf(key: string): number {
    const rank = this.ranks().get(key);
    if (rank === undefined) throw new Error(`compile: resource key ${key} is not in the model`);
    return rank;
  }

  /** Builds the key ranks (once) and the slot scratch sized to them (once per context). */
  ranks(): ReadonlyMap<string, number> {
    if (this.keyRanks === undefined) {
      const keys = new Set<string>();
      for (const name of this.model.software.keys()) keys.add(packageKey(name));
      for (const located of this.model.files.values()) keys.add(fileKey(located.doc.spec.path));
      for (const name of this.model.scripts.keys()) keys.add(scriptKey(name));
      this.keyRanks = new Map([...keys].sort(compareStrings).map((k, i) => [k, i]));
    }
    if (this.slotEntry.length !== this.keyRanks.size) {
      this.slotStamp = new Int32Array(this.keyRanks.size);
      this.slotEntry = new Array<ComboEntry | undefined>(this.keyRanks.size).fill(undefined);
    }
    return this.keyRanks;
  }
}

/**
 * What a context for a new model may take over from the context of the previous one. Only valid
 * when the two models have the same Fleet document and the same Software, FileDeployment and
 * Script documents (the same values, and the same bytes behind every `source`): then every
 * resolved document and every resource key is the same, and so is every prepared profile whose
 * Profile document did not change. incremental.ts decides that.
 */
export interface CompileContextReuse {
  context: CompileContext;
  /** Profiles that are new, gone or changed since `context.model`. */
  changedProfiles: ReadonlySet<string>;
}

export function createCompileContext(model: FleetModel, reuse?: CompileContextReuse): CompileContext {
  return new CompileContext(model, reuse);
}

/** A membership holding one device in each of `groups`, e.g. from `resolveDeviceGroups`. */
export function membershipOf(deviceName: string, groups: readonly string[]): GroupMembership {
  return new Map(groups.map((group) => [group, new Set([deviceName])]));
}

/**
 * The desired state of one device. `membership` is `resolveGroupMembers(model, devices)` over the
 * fleet's devices, or just this device's entries (`membershipOf`); `context`, when given, must
 * have been created for this `model`.
 */
export function compileDevice(
  model: FleetModel,
  device: DeviceInput,
  membership: GroupMembership,
  context: CompileContext = createCompileContext(model),
): DesiredState {
  if (context.model !== model) throw new Error('compileDevice: the context was created for another model');
  return compileWithGroups(context, device, groupsOfDevice(membership, device.name));
}

/** The desired state of every device, keyed (and iterating) by device name in sorted order. */
export function compileFleet(model: FleetModel, devices: readonly DeviceInput[]): Map<string, DesiredState> {
  return compileFleetInGroups(createCompileContext(model), devices, groupsByDevice(resolveGroupMembers(model, devices)));
}

/**
 * compileFleet with the groups of each device already known: `groupsOf` must be
 * `groupsByDevice(resolveGroupMembers(context.model, devices))` (or equal to it).
 */
export function compileFleetInGroups(
  context: CompileContext,
  devices: readonly DeviceInput[],
  groupsOf: ReadonlyMap<string, readonly string[]>,
): Map<string, DesiredState> {
  const result = new Map<string, DesiredState>();
  for (const device of sortedByName(devices)) {
    result.set(device.name, compileWithGroups(context, device, groupsOf.get(device.name) ?? []));
  }
  return result;
}

/**
 * The desired state of one device given its groups (sorted by name, as `groupsByDevice` and
 * `groupsOfDevice` give them): what compileFleet computes for it.
 */
export function compileDeviceInGroups(context: CompileContext, device: DeviceInput, groups: readonly string[]): DesiredState {
  return compileWithGroups(context, device, groups);
}

/**
 * Every conflict compile resolves by leaving a resource out, per device, sorted by device and then
 * (code, key, profiles, documents), for validation to report at the left-out profile's reference.
 *
 * A device that has not reported a package manager (validation passes declared devices without
 * facts) is checked as if it used each manager in turn: two Software documents that give the same
 * apt package different versions clash on every apt device the two profiles reach. Conflicts
 * found that way name the manager in `subject` and `message`; compileDevice itself never reports
 * them (it cannot name packages without a manager).
 */
export function findConflicts(model: FleetModel, devices: readonly DeviceInput[]): ResourceConflict[] {
  const context = createCompileContext(model);
  const groupsOf = groupsByDevice(resolveGroupMembers(model, devices));
  const result: ResourceConflict[] = [];
  for (const device of sortedByName(devices)) {
    result.push(...deviceConflicts(context, device, groupsOf.get(device.name) ?? []));
  }
  return result;
}

/** findConflicts for one device given its groups (sorted by name). */
export function deviceConflicts(context: CompileContext, device: DeviceInput, groups: readonly string[]): ResourceConflict[] {
  const profileNames = profilesOfGroups(context, groups);
  const manager = device.facts?.os?.packageManager;
  // Devices with the same profiles and manager have the same conflicts: found once per model.
  const key = `${manager ?? ''}\u0000${profileNames.join('\u0000')}`;
  let found = context.conflicts.get(key);
  if (found === undefined) {
    found = [...compiledCombo(context, profileNames, manager, 'conflicts').conflicts];
    if (manager === undefined) {
      for (const assumed of PACKAGE_MANAGERS) {
        found.push(...compiledCombo(context, profileNames, assumed, 'package-conflicts').conflicts);
      }
    }
    found.sort(compareConflicts);
    context.conflicts.set(key, found);
  }
  return found.map((conflict) => ({ ...conflict, device: device.name }));
}

// ---- per device ----

function compileWithGroups(context: CompileContext, device: DeviceInput, groups: readonly string[]): DesiredState {
  const profileNames = profilesOfGroups(context, groups);
  const combo = compiledCombo(context, profileNames, device.facts?.os?.packageManager);

  // The groups through which the device is in each of its profiles; devices alike in this share
  // resource objects (group names cannot hold control characters, so the join is unambiguous).
  const sourceGroups: string[][] = [];
  for (const name of profileNames) {
    const targets = preparedProfile(context, name).targets;
    sourceGroups.push(groups.filter((group) => targets.has(group)));
  }
  const signature = sourceGroups.map((list) => list.join('\u0001')).join('\u0000');
  let resources = combo.materialized.get(signature);
  if (resources === undefined) {
    resources = materializeAll(combo, profileNames, sourceGroups);
    combo.materialized.set(signature, resources);
  }

  return {
    device: device.name,
    revision: context.model.revision,
    groups: [...groups],
    profiles: combo.profiles.slice(),
    resources: resources.slice(),
    issues: combo.issues.slice(),
    fingerprint: combo.fingerprint,
  };
}

function profilesOfGroups(context: CompileContext, groups: readonly string[]): string[] {
  const names = new Set<string>();
  for (const group of groups) {
    for (const name of context.profilesByGroup.get(group) ?? []) names.add(name);
  }
  return [...names].sort(compareStrings);
}

function materializeAll(
  combo: CompiledCombo,
  profileNames: readonly string[],
  sourceGroups: readonly string[][],
): DesiredResource[] {
  const sourceOf = new Map<string, ResourceSource>();
  profileNames.forEach((profile, i) => {
    sourceOf.set(profile, Object.freeze({ profile, groups: Object.freeze(sourceGroups[i]!) as string[] }));
  });
  // Resources reached through the same profiles share one sources list.
  const sourceLists = new Map<string, ResourceSource[]>();
  return combo.entries.map((entry) => {
    let sources = sourceLists.get(entry.profilesKey);
    if (sources === undefined) {
      sources = Object.freeze(entry.profiles.map((name) => sourceOf.get(name)!)) as ResourceSource[];
      sourceLists.set(entry.profilesKey, sources);
    }
    return Object.freeze(materialize(entry, sources));
  });
}

/** The device's resource, built field by field (one shape per type) rather than spread. */
function materialize(entry: ComboEntry, sources: ResourceSource[]): DesiredResource {
  const r = entry.resolution.resource;
  switch (r.type) {
    case 'package':
      return {
        type: 'package',
        key: r.key,
        fingerprint: r.fingerprint,
        ensure: r.ensure,
        prune: r.prune,
        drift: entry.drift,
        sources,
        software: r.software,
        manager: r.manager,
        packageName: r.packageName,
        version: r.version,
      };
    case 'file':
      return {
        type: 'file',
        key: r.key,
        fingerprint: r.fingerprint,
        ensure: r.ensure,
        prune: r.prune,
        drift: entry.drift,
        sources,
        name: r.name,
        path: r.path,
        sha256: r.sha256,
        size: r.size,
        origin: r.origin,
        mode: r.mode,
        owner: r.owner,
        group: r.group,
      };
    case 'script':
      return {
        type: 'script',
        key: r.key,
        fingerprint: r.fingerprint,
        ensure: r.ensure,
        prune: r.prune,
        drift: entry.drift,
        sources,
        name: r.name,
        interpreter: r.interpreter,
        sha256: r.sha256,
        origin: r.origin,
        run: r.run,
        ...(r.onInterrupt === undefined ? {} : { onInterrupt: r.onInterrupt }),
        check: r.check,
        timeoutSeconds: r.timeoutSeconds,
        successExitCodes: r.successExitCodes,
        env: r.env,
        order: entry.order,
      };
  }
}

// ---- per (profile set, manager) ----

interface ComboEntry {
  resolution: Resolved<ResolvedResource>;
  drift: DriftMode;
  /** Scripts: position in the device's script order; -1 otherwise. */
  order: number;
  /** Profiles that contributed the resource, in name order, and them joined (a cache key). */
  profiles: string[];
  profilesKey: string;
}

interface CompiledCombo {
  /** Sorted by resource key. */
  entries: ComboEntry[];
  profiles: DeviceProfile[];
  /** Sorted by (code, subject, message). */
  issues: CompileIssue[];
  conflicts: Omit<ResourceConflict, 'device'>[];
  fingerprint: string;
  /** Frozen resources per source-groups signature (see compileWithGroups). */
  materialized: Map<string, DesiredResource[]>;
}

/**
 * What a combo is compiled for: `state` (everything), `conflicts` (no state fingerprint), or
 * `package-conflicts` (only software is walked: findConflicts' assumed managers).
 */
type ComboMode = 'state' | 'conflicts' | 'package-conflicts';

function compiledCombo(
  context: CompileContext,
  profileNames: readonly string[],
  manager: PackageManager | undefined,
  mode: ComboMode = 'state',
): CompiledCombo {
  const comboKey = `${mode}\u0000${manager ?? ''}\u0000${profileNames.join('\u0000')}`;
  let combo = context.combos.get(comboKey);
  if (combo === undefined) {
    combo = compileCombo(context, profileNames, manager, mode);
    context.combos.set(comboKey, combo);
  }
  return combo;
}

function compileCombo(
  context: CompileContext,
  profileNames: readonly string[],
  manager: PackageManager | undefined,
  mode: ComboMode,
): CompiledCombo {
  const met: ComboEntry[] = [];
  context.ranks();
  const stamp = ++context.stamp;
  const { slotStamp, slotEntry } = context;
  const entryAt = (rank: number): ComboEntry | undefined => (slotStamp[rank] === stamp ? slotEntry[rank] : undefined);
  /** Package name (for the device's manager) → the entry that claimed it first. */
  const packageNames = new Map<string, ComboEntry>();
  const issues: CompileIssue[] = [];
  const reported = new Set<string>();
  const conflicts: Omit<ResourceConflict, 'device'>[] = [];
  let scriptOrder = 0;
  let packagesWithoutManager = 0;

  const reportOnce = (issue: CompileIssue): void => {
    const id = `${issue.code}\u0000${issue.subject}`;
    if (reported.has(id)) return;
    reported.add(id);
    issues.push(issue);
  };
  const add = (resolution: Resolved<ResolvedResource>, drift: DriftMode, profile: string, order = -1): ComboEntry => {
    const entry: ComboEntry = { resolution, drift, order, profiles: [profile], profilesKey: profile };
    slotStamp[resolution.rank] = stamp;
    slotEntry[resolution.rank] = entry;
    met.push(entry);
    return entry;
  };
  const conflict = (code: ResourceConflict['code'], kept: ComboEntry, profile: string, left: Resolved<ResolvedResource>, subject: string, message: string): void => {
    conflicts.push({
      code,
      profiles: [kept.profiles[0]!, profile],
      documents: [kept.resolution.document, left.document],
      item: left.document,
      key: left.resource.key,
      subject,
      message,
    });
    issues.push({ code, subject: left.resource.key, message });
  };

  for (const profileName of profileNames) {
    const profile = preparedProfile(context, profileName);

    for (const resolution of packagesOf(context, profile, manager)) {
      if (!resolution.ok) {
        reportOnce(resolution.issue);
        continue;
      }
      const existing = entryAt(resolution.rank);
      if (existing !== undefined) {
        // One Software document resolves to one fingerprint per manager: always a merge.
        addProfile(existing, profileName);
        continue;
      }
      const resource = resolution.resource;
      if (resource.packageName === undefined) {
        packagesWithoutManager++;
        add(resolution, profile.drift, profileName);
        continue;
      }
      const claimed = packageNames.get(resource.packageName);
      if (claimed === undefined) {
        packageNames.set(resource.packageName, add(resolution, profile.drift, profileName));
      } else if (claimed.resolution.resource.fingerprint === resource.fingerprint) {
        add(resolution, profile.drift, profileName);
      } else {
        const kept = claimed.resolution;
        conflict(
          'conflict.package',
          claimed,
          profileName,
          resolution,
          `${manager}/${resource.packageName}`,
          `${byProfiles(claimed.profiles[0]!, profileName)} ${manager} package "${resource.packageName}" ` +
            `differently: Software "${kept.document}" wants ${describePackage(kept.resource as PackageBase)}, ` +
            `Software "${resolution.document}" wants ${describePackage(resource)}; keeping "${kept.document}"`,
        );
      }
    }
    if (mode === 'package-conflicts') continue;

    for (const resolution of profile.files) {
      if (!resolution.ok) {
        reportOnce(resolution.issue);
        continue;
      }
      const existing = entryAt(resolution.rank);
      if (existing === undefined) {
        add(resolution, profile.drift, profileName);
      } else if (existing.resolution.resource.fingerprint === resolution.resource.fingerprint) {
        addProfile(existing, profileName);
      } else {
        const path = resolution.resource.path;
        conflict(
          'conflict.file',
          existing,
          profileName,
          resolution,
          path,
          `${byProfiles(existing.profiles[0]!, profileName)} ${path} with different content, mode, owner or ` +
            `ensure (FileDeployment "${existing.resolution.document}" vs "${resolution.document}"); ` +
            `keeping "${existing.resolution.document}"`,
        );
      }
    }

    for (const resolution of profile.scripts) {
      if (!resolution.ok) {
        reportOnce(resolution.issue);
        continue;
      }
      const existing = entryAt(resolution.rank);
      if (existing !== undefined) addProfile(existing, profileName);
      else add(resolution, profile.drift, profileName, scriptOrder++);
    }
  }

  if (packagesWithoutManager > 0) {
    issues.push({
      code: 'package.manager-unknown',
      subject: 'os.packageManager',
      message:
        `The device has not reported a package manager (facts os.packageManager); ` +
        `${packagesWithoutManager} package${packagesWithoutManager === 1 ? '' : 's'} cannot be named until it does`,
    });
  }

  const entries = met.sort((a, b) => a.resolution.rank - b.resolution.rank);
  issues.sort((a, b) => compareStrings(a.code, b.code) || compareStrings(a.subject, b.subject) || compareStrings(a.message, b.message));
  conflicts.sort(compareConflicts);
  return {
    entries,
    profiles: profileNames.map((name) => preparedProfile(context, name).deviceProfile),
    issues: issues.map((issue) => Object.freeze(issue)),
    conflicts,
    fingerprint: mode === 'state' ? combineStateDigests(entries.map(entryDigest)) : '',
    materialized: new Map(),
  };
}

/** The entry's `stateEntryDigest`, cached per resolved document, drift and script order. */
function entryDigest(entry: ComboEntry): Uint8Array {
  const { resolution, drift, order } = entry;
  const cacheKey = (order + 1) * 2 + (drift === 'report' ? 1 : 0);
  let digest = resolution.digests.get(cacheKey);
  if (digest === undefined) {
    const r = resolution.resource;
    digest = stateEntryDigest(
      r.type === 'script'
        ? { key: r.key, fingerprint: r.fingerprint, drift, prune: r.prune, order }
        : { key: r.key, fingerprint: r.fingerprint, drift, prune: r.prune },
    );
    resolution.digests.set(cacheKey, digest);
  }
  return digest;
}

function addProfile(entry: ComboEntry, profileName: string): void {
  if (entry.profiles[entry.profiles.length - 1] === profileName) return;
  entry.profiles.push(profileName);
  entry.profilesKey = `${entry.profilesKey}\u0000${profileName}`;
}

function byProfiles(first: string, second: string): string {
  return first === second ? `Profile "${first}" sets` : `Profiles "${first}" and "${second}" both set`;
}

function describePackage(p: Pick<PackageResource, 'version' | 'ensure'>): string {
  return p.ensure === 'absent' ? 'it absent' : `version ${p.version}`;
}

function compareConflicts(a: Omit<ResourceConflict, 'device'>, b: Omit<ResourceConflict, 'device'>): number {
  return (
    compareStrings(a.code, b.code) ||
    compareStrings(a.key, b.key) ||
    compareStrings(a.profiles[0], b.profiles[0]) ||
    compareStrings(a.profiles[1], b.profiles[1]) ||
    compareStrings(a.documents[0], b.documents[0]) ||
    compareStrings(a.documents[1], b.documents[1])
  );
}

// ---- per profile ----

interface PreparedProfile {
  located: Located<ProfileDoc>;
  targets: ReadonlySet<string>;
  drift: DriftMode;
  deviceProfile: DeviceProfile;
  files: Resolution<FileBase>[];
  scripts: Resolution<ScriptBase>[];
  /** Its software resolved per manager ('' for none), filled on first use. */
  packages: Map<string, Resolution<PackageBase>[]>;
}

function preparedProfile(context: CompileContext, name: string): PreparedProfile {
  let prepared = context.profiles.get(name);
  if (prepared !== undefined) return prepared;
  const located = context.model.profiles.get(name);
  if (located === undefined) throw new Error(`compile: profile "${name}" is not in the model`);
  const fleetSpec = context.model.fleet?.doc.spec;
  const spec = located.doc.spec;
  const drift = spec.drift ?? fleetSpec?.drift ?? 'enforce';
  const rollout = mergeRollout(fleetSpec?.rollout, spec.rollout);
  prepared = {
    located,
    targets: new Set(spec.targets),
    drift,
    deviceProfile: Object.freeze({ name, drift, rollout: Object.freeze(rollout) }),
    files: (spec.files ?? []).map((file) => resolvedFile(context, file)),
    scripts: (spec.scripts ?? []).map((script) => resolvedScript(context, script)),
    packages: new Map(),
  };
  context.profiles.set(name, prepared);
  return prepared;
}

function packagesOf(
  context: CompileContext,
  profile: PreparedProfile,
  manager: PackageManager | undefined,
): Resolution<PackageBase>[] {
  let list = profile.packages.get(manager ?? '');
  if (list === undefined) {
    list = (profile.located.doc.spec.software ?? []).map((software) => resolvedPackage(context, software, manager));
    profile.packages.set(manager ?? '', list);
  }
  return list;
}

/** Shallow merge: the profile's fields replace the fleet's; undefined fields replace nothing. */
export function mergeRollout(fleet: RolloutPolicy | undefined, profile: RolloutPolicy | undefined): RolloutPolicy {
  const merged: Record<string, unknown> = {};
  for (const policy of [fleet, profile]) {
    if (policy === undefined) continue;
    for (const [key, value] of Object.entries(policy)) {
      if (value !== undefined) merged[key] = value;
    }
  }
  return merged as RolloutPolicy;
}

// ---- per document (and manager) ----

type PackageBase = Omit<PackageResource, 'sources' | 'drift'>;
type FileBase = Omit<FileResource, 'sources' | 'drift'>;
type ScriptBase = Omit<ScriptResource, 'sources' | 'drift' | 'order'>;
type ResolvedResource = PackageBase | FileBase | ScriptBase;

/** A document resolved (for a manager): the resource minus what the device's profiles add. */
interface Resolved<B extends ResolvedResource> {
  ok: true;
  resource: B;
  /** The Software, FileDeployment or Script document. */
  document: string;
  /** Rank of `resource.key` among all keys (CompileContext.rankOf). */
  rank: number;
  /** stateEntryDigest per drift (`enforce`, `report`) and, for scripts, order; filled on first use. */
  digests: Map<number, Uint8Array>;
}

/** A resolved document, or the issue that keeps it off the device. */
type Resolution<B extends ResolvedResource> = Resolved<B> | { ok: false; issue: CompileIssue };

function resolved<B extends ResolvedResource>(context: CompileContext, document: string, resource: B): Resolved<B> {
  return { ok: true, resource, document, rank: context.rankOf(resource.key), digests: new Map() };
}

function resolvedPackage(
  context: CompileContext,
  software: string,
  manager: PackageManager | undefined,
): Resolution<PackageBase> {
  const cacheKey = `${manager ?? ''}\u0000${software}`;
  let resolution = context.packages.get(cacheKey);
  if (resolution === undefined) {
    resolution = resolvePackage(context, software, manager);
    context.packages.set(cacheKey, resolution);
  }
  return resolution;
}

function resolvePackage(context: CompileContext, software: string, manager: PackageManager | undefined): Resolution<PackageBase> {
  const located = context.model.software.get(software);
  if (located === undefined) throw new Error(`compile: software "${software}" is not in the model`);
  const spec = located.doc.spec;
  const key = packageKey(software);
  let packageName: string | undefined;
  if (manager !== undefined) {
    packageName = Object.hasOwn(spec.packages, manager) ? spec.packages[manager] : undefined;
    if (packageName === undefined) {
      const offered = Object.keys(spec.packages).sort(compareStrings);
      return {
        ok: false,
        issue: Object.freeze({
          code: 'package.unavailable',
          subject: key,
          message:
            `Software "${software}" has no package for ${manager}` +
            ` (it has ${offered.length === 0 ? 'none' : offered.join(', ')}); left out`,
        }),
      };
    }
  }
  const version = spec.version ?? 'any';
  const ensure = spec.ensure ?? 'present';
  return resolved(context, software, {
    type: 'package',
    key,
    fingerprint: packageFingerprint({ manager, packageName, version, ensure }),
    ensure,
    prune: spec.prune ?? false,
    software,
    manager,
    packageName,
    version,
  });
}

function resolvedFile(context: CompileContext, name: string): Resolution<FileBase> {
  let resolution = context.files.get(name);
  if (resolution === undefined) {
    resolution = resolveFile(context, name);
    context.files.set(name, resolution);
  }
  return resolution;
}

function resolveFile(context: CompileContext, name: string): Resolution<FileBase> {
  const located = context.model.files.get(name);
  if (located === undefined) throw new Error(`compile: file "${name}" is not in the model`);
  const spec = located.doc.spec;
  const key = fileKey(spec.path);
  const ensure = spec.ensure ?? 'present';

  let origin: FileResource['origin'];
  let sha256: string | undefined;
  let size: number | undefined;
  if (spec.source !== undefined || spec.content !== undefined) {
    const body = bodyOf(context, spec.source, spec.content);
    if (body === undefined) return { ok: false, issue: missingSource('FileDeployment', name, spec.source!, key) };
    ({ origin, sha256, size } = body);
  } else if (spec.url !== undefined) {
    origin = { kind: 'url', url: spec.url };
    sha256 = spec.sha256;
  } else {
    // Only an `ensure: absent` file may name no source: there are no bytes to hold.
    origin = { kind: 'inline' };
  }
  if (ensure === 'absent') {
    sha256 = undefined;
    size = undefined;
  }

  const { mode, owner, group } = spec;
  return resolved(context, name, {
    type: 'file',
    key,
    fingerprint: fileFingerprint({ path: spec.path, sha256, mode, owner, group, ensure }),
    ensure,
    prune: spec.prune ?? true,
    name,
    path: spec.path,
    sha256,
    size,
    origin: Object.freeze(origin),
    mode,
    owner,
    group,
  });
}

function resolvedScript(context: CompileContext, name: string): Resolution<ScriptBase> {
  let resolution = context.scripts.get(name);
  if (resolution === undefined) {
    resolution = resolveScript(context, name);
    context.scripts.set(name, resolution);
  }
  return resolution;
}

function resolveScript(context: CompileContext, name: string): Resolution<ScriptBase> {
  const located = context.model.scripts.get(name);
  if (located === undefined) throw new Error(`compile: script "${name}" is not in the model`);
  const spec = located.doc.spec;
  const key = scriptKey(name);

  const body = bodyOf(context, spec.source, spec.content ?? '');
  if (body === undefined) return { ok: false, issue: missingSource('Script', name, spec.source!, key) };
  const { origin, sha256 } = body;

  // Copies, so freezing what devices share never freezes the model's own objects.
  const run = typeof spec.run === 'object' ? Object.freeze({ ...spec.run }) : (spec.run ?? 'onChange');
  const check = spec.check;
  const timeoutSeconds = spec.timeoutSeconds ?? 300;
  const successExitCodes = Object.freeze(normalizeExitCodes(spec.successExitCodes ?? [0])) as number[];
  const env = Object.freeze({ ...spec.env });
  const onInterrupt = spec.onInterrupt === undefined || spec.onInterrupt === defaultOnInterrupt(run) ? undefined : spec.onInterrupt;
  return resolved(context, name, {
    type: 'script',
    key,
    fingerprint: scriptFingerprint({ sha256, interpreter: spec.interpreter, run, onInterrupt, check, timeoutSeconds, successExitCodes, env }),
    ensure: 'present',
    prune: false,
    name,
    interpreter: spec.interpreter,
    sha256,
    origin: Object.freeze(origin),
    run,
    ...(onInterrupt === undefined ? {} : { onInterrupt }),
    check,
    timeoutSeconds,
    successExitCodes,
    env,
  });
}

/**
 * The bytes a file or script body stands for: a repository file (by its normalised path) or
 * inline content. Undefined when the repository file is missing from the revision.
 */
function bodyOf(
  context: CompileContext,
  source: string | undefined,
  content: string | undefined,
): { origin: { kind: 'repo'; path: string } | { kind: 'inline' }; sha256: string; size: number } | undefined {
  if (source !== undefined) {
    const repoFile = context.model.repoFiles.get(normaliseRepoPath(source) ?? source);
    return repoFile && { origin: { kind: 'repo', path: source }, sha256: repoFile.sha256, size: repoFile.size };
  }
  const bytes = utf8Encode(content ?? '');
  return { origin: { kind: 'inline' }, sha256: sha256Hex(bytes), size: bytes.length };
}

function missingSource(kind: string, name: string, source: string, key: string): CompileIssue {
  return Object.freeze({
    code: 'source.missing',
    subject: key,
    message: `${kind} "${name}" names repository file "${source}", which this revision does not hold; left out`,
  });
}

function packageKey(software: string): string {
  return `package/${software}`;
}

function fileKey(path: string): string {
  return `file/${path}`;
}

function scriptKey(name: string): string {
  return `script/${name}`;
}

function sortedByName(devices: readonly DeviceInput[]): DeviceInput[] {
  return [...devices].sort((a, b) => compareStrings(a.name, b.name));
}
