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
//   script/<name>       sha256 of the body, run ?? 'onChange', timeoutSeconds ?? 300,
//                       successExitCodes ?? [0] (sorted, deduplicated), env ?? {}; ensure present,
//                       prune false. `order` numbers the device's scripts from 0: profiles by
//                       name, then scripts as listed, first occurrence wins.
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
// Everything a device's resources depend on except `sources` is a function of its profile set and
// package manager, so it is compiled once per distinct (profiles, manager) and shared; resolved
// resources and their fingerprints are cached per (document, manager). Returned objects may share
// nested values (rollout policies, env, exit codes, sources): treat them as immutable.
import { PACKAGE_MANAGERS, type PackageManager, type ProfileDoc, type RolloutPolicy } from '../../../../schemas/kinds.ts';
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
  desiredStateFingerprint,
  fileFingerprint,
  normalizeExitCodes,
  packageFingerprint,
  scriptFingerprint,
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
 * resolved resources per (document, manager), compiled (profiles, manager) combinations. Create
 * one per model with `createCompileContext` and pass it to `compileDevice` to compile many devices
 * cheaply; it fills lazily, so compiling one device only resolves that device's profiles.
 */
export class CompileContext {
  /** Group name → names of the profiles targeting it, sorted. */
  readonly profilesByGroup = new Map<string, string[]>();
  readonly profiles = new Map<string, PreparedProfile>();
  readonly packages = new Map<string, Resolved<PackageResource>>();
  readonly files = new Map<string, Resolved<FileResource>>();
  readonly scripts = new Map<string, Resolved<ScriptResource>>();
  readonly combos = new Map<string, CompiledCombo>();

  constructor(readonly model: FleetModel) {
    for (const name of [...model.profiles.keys()].sort(compareStrings)) {
      for (const group of new Set(model.profiles.get(name)!.doc.spec.targets)) {
        const list = this.profilesByGroup.get(group);
        if (list === undefined) this.profilesByGroup.set(group, [name]);
        else list.push(name);
      }
    }
  }
}

export function createCompileContext(model: FleetModel): CompileContext {
  return new CompileContext(model);
}

/**
 * The desired state of one device. `membership` is `resolveGroupMembers(model, devices)` over the
 * fleet's devices; `context`, when given, must have been created for this `model`.
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
  const context = createCompileContext(model);
  const groupsOf = groupsByDevice(resolveGroupMembers(model, devices));
  const result = new Map<string, DesiredState>();
  for (const device of sortedByName(devices)) {
    result.set(device.name, compileWithGroups(context, device, groupsOf.get(device.name) ?? []));
  }
  return result;
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
    const profileNames = profilesOfGroups(context, groupsOf.get(device.name) ?? []);
    const manager = device.facts?.os?.packageManager;
    const found = [...compiledCombo(context, profileNames, manager).conflicts];
    if (manager === undefined) {
      for (const assumed of PACKAGE_MANAGERS) {
        for (const conflict of compiledCombo(context, profileNames, assumed).conflicts) {
          if (conflict.code === 'conflict.package') found.push(conflict);
        }
      }
    }
    found.sort(compareConflicts);
    for (const conflict of found) result.push({ ...conflict, device: device.name });
  }
  return result;
}

// ---- per device ----

function compileWithGroups(
  context: CompileContext,
  device: DeviceInput,
  groups: readonly string[],
): DesiredState {
  const profileNames = profilesOfGroups(context, groups);
  const manager = device.facts?.os?.packageManager;
  const combo = compiledCombo(context, profileNames, manager);

  const sourceOf = new Map<string, ResourceSource>();
  const profiles: DeviceProfile[] = [];
  for (const name of profileNames) {
    const profile = preparedProfile(context, name);
    profiles.push(profile.deviceProfile);
    sourceOf.set(name, { profile: name, groups: groups.filter((group) => profile.targets.has(group)) });
  }

  const resources: DesiredResource[] = combo.entries.map(
    (entry) => ({ ...entry.resource, sources: entry.profiles.map((name) => sourceOf.get(name)!) }) as DesiredResource,
  );
  return {
    device: device.name,
    revision: context.model.revision,
    groups: [...groups],
    profiles,
    resources,
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

// ---- per (profile set, manager) ----

type Unsourced<R> = R extends unknown ? Omit<R, 'sources'> : never;

interface ComboEntry {
  resource: Unsourced<DesiredResource>;
  /** Profiles that contributed it, in name order. */
  profiles: string[];
}

interface CompiledCombo {
  /** Sorted by resource key. */
  entries: ComboEntry[];
  /** Sorted by (code, subject, message). */
  issues: CompileIssue[];
  conflicts: Omit<ResourceConflict, 'device'>[];
  fingerprint: string;
}

interface PendingEntry {
  resource: Unsourced<DesiredResource>;
  profiles: string[];
  /** The FileDeployment, Software or Script that produced it. */
  document: string;
}

function compiledCombo(
  context: CompileContext,
  profileNames: readonly string[],
  manager: PackageManager | undefined,
): CompiledCombo {
  const comboKey = `${manager ?? ''}\u0000${profileNames.join('\u0000')}`;
  let combo = context.combos.get(comboKey);
  if (combo === undefined) {
    combo = compileCombo(context, profileNames, manager);
    context.combos.set(comboKey, combo);
  }
  return combo;
}

function compileCombo(
  context: CompileContext,
  profileNames: readonly string[],
  manager: PackageManager | undefined,
): CompiledCombo {
  const entries = new Map<string, PendingEntry>();
  /** Package name (for the device's manager) → the entry that claimed it first. */
  const packageNames = new Map<string, PendingEntry>();
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

  for (const profileName of profileNames) {
    const profile = preparedProfile(context, profileName);
    const spec = profile.located.doc.spec;

    for (const software of spec.software ?? []) {
      const resolved = resolvedPackage(context, software, manager);
      if (!resolved.ok) {
        reportOnce(resolved.issue);
        continue;
      }
      const resource = resolved.resource;
      const existing = entries.get(resource.key);
      if (existing !== undefined) {
        // One Software document resolves to one fingerprint per manager: always a merge.
        addProfile(existing, profileName);
        continue;
      }
      const entry: PendingEntry = { resource: { ...resource, drift: profile.drift }, profiles: [profileName], document: software };
      if (resource.packageName !== undefined) {
        const claimed = packageNames.get(resource.packageName);
        if (claimed !== undefined && claimed.resource.fingerprint !== resource.fingerprint) {
          const kept = claimed.resource as PackageResource;
          const subject = `${manager}/${resource.packageName}`;
          const message =
            `${byProfiles(claimed.profiles[0]!, profileName)} ${manager} package "${resource.packageName}" ` +
            `differently: Software "${claimed.document}" wants ${describePackage(kept)}, ` +
            `Software "${software}" wants ${describePackage(resource)}; keeping "${claimed.document}"`;
          conflicts.push({
            code: 'conflict.package',
            profiles: [claimed.profiles[0]!, profileName],
            documents: [claimed.document, software],
            item: software,
            key: resource.key,
            subject,
            message,
          });
          issues.push({ code: 'conflict.package', subject: resource.key, message });
          continue;
        }
        if (claimed === undefined) packageNames.set(resource.packageName, entry);
      } else {
        packagesWithoutManager++;
      }
      entries.set(resource.key, entry);
    }

    for (const fileName of spec.files ?? []) {
      const resolved = resolvedFile(context, fileName);
      if (!resolved.ok) {
        reportOnce(resolved.issue);
        continue;
      }
      const resource = resolved.resource;
      const existing = entries.get(resource.key);
      if (existing === undefined) {
        entries.set(resource.key, {
          resource: { ...resource, drift: profile.drift },
          profiles: [profileName],
          document: fileName,
        });
      } else if (existing.resource.fingerprint === resource.fingerprint) {
        addProfile(existing, profileName);
      } else {
        const message =
          `${byProfiles(existing.profiles[0]!, profileName)} ${resource.path} with different content, mode, ` +
          `owner or ensure (FileDeployment "${existing.document}" vs "${fileName}"); keeping "${existing.document}"`;
        conflicts.push({
          code: 'conflict.file',
          profiles: [existing.profiles[0]!, profileName],
          documents: [existing.document, fileName],
          item: fileName,
          key: resource.key,
          subject: resource.path,
          message,
        });
        issues.push({ code: 'conflict.file', subject: resource.key, message });
      }
    }

    for (const scriptName of spec.scripts ?? []) {
      const resolved = resolvedScript(context, scriptName);
      if (!resolved.ok) {
        reportOnce(resolved.issue);
        continue;
      }
      const existing = entries.get(resolved.resource.key);
      if (existing !== undefined) {
        addProfile(existing, profileName);
        continue;
      }
      entries.set(resolved.resource.key, {
        resource: { ...resolved.resource, drift: profile.drift, order: scriptOrder++ },
        profiles: [profileName],
        document: scriptName,
      });
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

  const sortedEntries: ComboEntry[] = [...entries.values()]
    .sort((a, b) => compareStrings(a.resource.key, b.resource.key))
    .map(({ resource, profiles }) => ({ resource, profiles }));
  issues.sort((a, b) => compareStrings(a.code, b.code) || compareStrings(a.subject, b.subject) || compareStrings(a.message, b.message));
  conflicts.sort(compareConflicts);
  return {
    entries: sortedEntries,
    issues,
    conflicts,
    fingerprint: desiredStateFingerprint(sortedEntries.map((entry) => entry.resource)),
  };
}

function addProfile(entry: PendingEntry, profileName: string): void {
  if (entry.profiles[entry.profiles.length - 1] !== profileName) entry.profiles.push(profileName);
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
  drift: DeviceProfile['drift'];
  deviceProfile: DeviceProfile;
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
  prepared = { located, targets: new Set(spec.targets), drift, deviceProfile: { name, drift, rollout } };
  context.profiles.set(name, prepared);
  return prepared;
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

type Resolved<R extends DesiredResource> =
  | { ok: true; resource: Omit<R, 'sources' | 'drift'> }
  | { ok: false; issue: CompileIssue };

function resolvedPackage(
  context: CompileContext,
  software: string,
  manager: PackageManager | undefined,
): Resolved<PackageResource> {
  const cacheKey = `${manager ?? ''}\u0000${software}`;
  let resolved = context.packages.get(cacheKey);
  if (resolved === undefined) {
    resolved = resolvePackage(context.model, software, manager);
    context.packages.set(cacheKey, resolved);
  }
  return resolved;
}

function resolvePackage(model: FleetModel, software: string, manager: PackageManager | undefined): Resolved<PackageResource> {
  const located = model.software.get(software);
  if (located === undefined) throw new Error(`compile: software "${software}" is not in the model`);
  const spec = located.doc.spec;
  const key = `package/${software}`;
  let packageName: string | undefined;
  if (manager !== undefined) {
    packageName = Object.hasOwn(spec.packages, manager) ? spec.packages[manager] : undefined;
    if (packageName === undefined) {
      const offered = Object.keys(spec.packages).sort(compareStrings);
      return {
        ok: false,
        issue: {
          code: 'package.unavailable',
          subject: key,
          message:
            `Software "${software}" has no package for ${manager}` +
            ` (it has ${offered.length === 0 ? 'none' : offered.join(', ')}); left out`,
        },
      };
    }
  }
  const version = spec.version ?? 'any';
  const ensure = spec.ensure ?? 'present';
  return {
    ok: true,
    resource: {
      type: 'package',
      key,
      fingerprint: packageFingerprint({ manager, packageName, version, ensure }),
      ensure,
      prune: spec.prune ?? false,
      software,
      manager,
      packageName,
      version,
    },
  };
}

function resolvedFile(context: CompileContext, name: string): Resolved<FileResource> {
  let resolved = context.files.get(name);
  if (resolved === undefined) {
    resolved = resolveFile(context.model, name);
    context.files.set(name, resolved);
  }
  return resolved;
}

function resolveFile(model: FleetModel, name: string): Resolved<FileResource> {
  const located = model.files.get(name);
  if (located === undefined) throw new Error(`compile: file "${name}" is not in the model`);
  const spec = located.doc.spec;
  const key = `file/${spec.path}`;
  const ensure = spec.ensure ?? 'present';

  let origin: FileResource['origin'];
  let sha256: string | undefined;
  let size: number | undefined;
  if (spec.source !== undefined) {
    origin = { kind: 'repo', path: spec.source };
    const repoFile = model.repoFiles.get(spec.source);
    if (repoFile === undefined) return { ok: false, issue: missingSource('FileDeployment', name, spec.source, key) };
    sha256 = repoFile.sha256;
    size = repoFile.size;
  } else if (spec.content !== undefined) {
    origin = { kind: 'inline' };
    const bytes = utf8Encode(spec.content);
    sha256 = sha256Hex(bytes);
    size = bytes.length;
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

  const mode = spec.mode;
  const owner = spec.owner;
  const group = spec.group;
  return {
    ok: true,
    resource: {
      type: 'file',
      key,
      fingerprint: fileFingerprint({ path: spec.path, sha256, mode, owner, group, ensure }),
      ensure,
      prune: spec.prune ?? true,
      name,
      path: spec.path,
      sha256,
      size,
      origin,
      mode,
      owner,
      group,
    },
  };
}

function resolvedScript(context: CompileContext, name: string): Resolved<ScriptResource> {
  let resolved = context.scripts.get(name);
  if (resolved === undefined) {
    resolved = resolveScript(context.model, name);
    context.scripts.set(name, resolved);
  }
  return resolved;
}

function resolveScript(model: FleetModel, name: string): Resolved<ScriptResource> {
  const located = model.scripts.get(name);
  if (located === undefined) throw new Error(`compile: script "${name}" is not in the model`);
  const spec = located.doc.spec;
  const key = `script/${name}`;

  let origin: ScriptResource['origin'];
  let sha256: string;
  if (spec.source !== undefined) {
    origin = { kind: 'repo', path: spec.source };
    const repoFile = model.repoFiles.get(spec.source);
    if (repoFile === undefined) return { ok: false, issue: missingSource('Script', name, spec.source, key) };
    sha256 = repoFile.sha256;
  } else {
    origin = { kind: 'inline' };
    sha256 = sha256Hex(spec.content ?? '');
  }

  const run = spec.run ?? 'onChange';
  const check = spec.check;
  const timeoutSeconds = spec.timeoutSeconds ?? 300;
  const successExitCodes = normalizeExitCodes(spec.successExitCodes ?? [0]);
  const env = spec.env ?? {};
  return {
    ok: true,
    resource: {
      type: 'script',
      key,
      fingerprint: scriptFingerprint({ sha256, interpreter: spec.interpreter, run, check, timeoutSeconds, successExitCodes, env }),
      ensure: 'present',
      prune: false,
      name,
      interpreter: spec.interpreter,
      sha256,
      origin,
      run,
      check,
      timeoutSeconds,
      successExitCodes,
      env,
      // Replaced by the device's script order when the combo is compiled.
      order: -1,
    },
  };
}

function missingSource(kind: string, name: string, source: string, key: string): CompileIssue {
  return {
    code: 'source.missing',
    subject: key,
    message: `${kind} "${name}" names repository file "${source}", which this revision does not hold; left out`,
  };
}

function sortedByName(devices: readonly DeviceInput[]): DeviceInput[] {
  return [...devices].sort((a, b) => compareStrings(a.name, b.name));
}
