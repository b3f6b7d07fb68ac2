// Group membership: which devices each Group holds.
//
// A group's members are its explicit `devices` that are among the devices given, together with
// every given device its `selector` matches (see selectors.ts). Declared and merely enrolled
// devices are treated alike: an enrolled device that Git does not declare is matched by labels and
// facts like any other. An explicit name that is not among the devices given is simply absent.
//
// Each group's selector is evaluated at most once per device. Groups whose selector has
// `matchLabels` are indexed by one of its label pairs, so a device is only tested against groups
// whose indexed label it carries; groups selecting on facts alone are tested against every device.
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInput, FleetModel } from '../model.ts';
import { compileSelector, type SelectorPredicate } from './selectors.ts';

/** Group name → names of its member devices. Keys and members iterate in sorted order. */
export type GroupMembership = ReadonlyMap<string, ReadonlySet<string>>;

export function resolveGroupMembers(model: FleetModel, devices: readonly DeviceInput[]): Map<string, Set<string>> {
  const groupNames = [...model.groups.keys()].sort(compareStrings);
  const members = new Map<string, Set<string>>(groupNames.map((name) => [name, new Set()]));
  const known = new Set(devices.map((device) => device.name));

  const byLabel = new Map<string, IndexedGroup[]>();
  const unindexed: IndexedGroup[] = [];
  for (const name of groupNames) {
    const spec = model.groups.get(name)!.doc.spec;
    const list = members.get(name)!;
    for (const deviceName of spec.devices ?? []) {
      if (known.has(deviceName)) list.add(deviceName);
    }
    if (spec.selector === undefined) continue;
    const group: IndexedGroup = { members: list, matches: compileSelector(spec.selector) };
    const labelKeys = Object.keys(spec.selector.matchLabels ?? {}).sort(compareStrings);
    const firstKey = labelKeys[0];
    if (firstKey === undefined) {
      unindexed.push(group);
    } else {
      const indexKey = labelIndexKey(firstKey, spec.selector.matchLabels![firstKey]!);
      const bucket = byLabel.get(indexKey);
      if (bucket === undefined) byLabel.set(indexKey, [group]);
      else bucket.push(group);
    }
  }

  for (const device of devices) {
    for (const group of unindexed) testDevice(group, device.name, device.labels, device.facts);
    if (byLabel.size === 0) continue;
    for (const key of Object.keys(device.labels)) {
      const bucket = byLabel.get(labelIndexKey(key, device.labels[key]!));
      if (bucket === undefined) continue;
      for (const group of bucket) testDevice(group, device.name, device.labels, device.facts);
    }
  }

  const result = new Map<string, Set<string>>();
  for (const [name, list] of members) result.set(name, new Set([...list].sort(compareStrings)));
  return result;
}

/** Device name → names of the groups holding it, sorted; devices in no group are absent. */
export function groupsByDevice(membership: GroupMembership): Map<string, string[]> {
  const result = new Map<string, string[]>();
  const groupNames = [...membership.keys()].sort(compareStrings);
  for (const groupName of groupNames) {
    for (const deviceName of membership.get(groupName)!) {
      const groups = result.get(deviceName);
      if (groups === undefined) result.set(deviceName, [groupName]);
      else groups.push(groupName);
    }
  }
  return result;
}

/** The groups of `membership` that hold `deviceName`, sorted. */
export function groupsOfDevice(membership: GroupMembership, deviceName: string): string[] {
  const groups: string[] = [];
  for (const [groupName, members] of membership) {
    if (members.has(deviceName)) groups.push(groupName);
  }
  return groups.sort(compareStrings);
}

interface IndexedGroup {
  /** The group's member set being built (explicit devices first). */
  members: Set<string>;
  matches: SelectorPredicate;
}

function testDevice(
  group: IndexedGroup,
  deviceName: string,
  labels: Readonly<Record<string, string>>,
  facts: Facts | undefined,
): void {
  if (group.matches(labels, facts)) group.members.add(deviceName);
}

function labelIndexKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

/** Plain UTF-16 code unit order: the one order compile output is sorted by. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
