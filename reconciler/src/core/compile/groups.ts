// Group membership: which devices each Group holds.
//
// A group's members are its explicit `devices` that are among the devices given, together with
// every given device its `selector` matches (see selectors.ts). Declared and merely enrolled
// devices are treated alike: an enrolled device that Git does not declare is matched by labels and
// facts like any other. An explicit name that is not among the devices given is simply absent.
//
// Each group's selector is evaluated at most once per device, and usually only for devices that
// can match it: a selector with `matchLabels` is indexed by its label pair that the fewest of the
// given devices carry, one with only
// `matchFacts` by the values of an `In` expression, so a device is tested against the groups whose
// indexed label it carries or whose indexed value its fact has. Selectors with neither (only
// NotIn / Exists / DoesNotExist) are tested against every device. The index only narrows the
// candidates; the selector itself decides.
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInput, FleetModel } from '../model.ts';
import { comparableStrings, compileSelector, lookupFactPath, type SelectorPredicate } from './selectors.ts';

/** Group name → names of its member devices. Keys and members iterate in sorted order. */
export type GroupMembership = ReadonlyMap<string, ReadonlySet<string>>;

export function resolveGroupMembers(model: FleetModel, devices: readonly DeviceInput[]): Map<string, Set<string>> {
  const groupNames = [...model.groups.keys()].sort(compareStrings);
  const members = new Map<string, Set<string>>(groupNames.map((name) => [name, new Set()]));
  const known = new Set(devices.map((device) => device.name));
  const labelCounts = new Map<string, number>();
  for (const { labels } of devices) {
    for (const key of Object.keys(labels)) {
      const pair = labelIndexKey(key, labels[key]!);
      labelCounts.set(pair, (labelCounts.get(pair) ?? 0) + 1);
    }
  }

  const byLabel = new Map<string, IndexedGroup[]>();
  /** Fact path → comparable value → groups whose first `In` expression lists that value. */
  const byFact = new Map<string, { segments: string[]; byValue: Map<string, IndexedGroup[]> }>();
  const unindexed: IndexedGroup[] = [];
  for (const name of groupNames) {
    const spec = model.groups.get(name)!.doc.spec;
    const list = members.get(name)!;
    for (const deviceName of spec.devices ?? []) {
      if (known.has(deviceName)) list.add(deviceName);
    }
    const selector = spec.selector;
    if (selector === undefined) continue;
    const group: IndexedGroup = { members: list, matches: compileSelector(selector), testedFor: -1 };
    const labelPair = rarestPair(selector.matchLabels ?? {}, labelCounts);
    const inExpression = (selector.matchFacts ?? []).find((e) => e.operator === 'In');
    if (labelPair !== undefined) {
      pushTo(byLabel, labelPair, group);
    } else if (inExpression !== undefined && (inExpression.values ?? []).length > 0) {
      let path = byFact.get(inExpression.key);
      if (path === undefined) {
        path = { segments: inExpression.key.split('.'), byValue: new Map() };
        byFact.set(inExpression.key, path);
      }
      for (const value of new Set(inExpression.values)) pushTo(path.byValue, value, group);
    } else {
      unindexed.push(group);
    }
  }
  const factPaths = [...byFact.values()];

  devices.forEach((device, deviceIndex) => {
    const { name, labels, facts } = device;
    for (const group of unindexed) test(group, name, labels, facts);
    if (byLabel.size > 0) {
      for (const key of Object.keys(labels)) {
        const bucket = byLabel.get(labelIndexKey(key, labels[key]!));
        if (bucket !== undefined) for (const group of bucket) test(group, name, labels, facts);
      }
    }
    if (facts === undefined) return;
    for (const path of factPaths) {
      for (const value of comparableStrings(lookupFactPath(facts, path.segments))) {
        const bucket = path.byValue.get(value);
        if (bucket === undefined) continue;
        for (const group of bucket) {
          // An array fact can hit several of a group's values: test the group once per device.
          if (group.testedFor === deviceIndex) continue;
          group.testedFor = deviceIndex;
          test(group, name, labels, facts);
        }
      }
    }
  });

  const result = new Map<string, Set<string>>();
  for (const [name, list] of members) result.set(name, new Set([...list].sort(compareStrings)));
  return result;
}

/**
 * The groups holding one device, sorted: the same answer `resolveGroupMembers` gives for it, since
 * whether a device is in a group depends on that device alone. For compiling one device (an agent
 * report) without resolving the whole fleet's membership.
 */
export function resolveDeviceGroups(model: FleetModel, device: DeviceInput): string[] {
  const groups: string[] = [];
  for (const [name, located] of model.groups) {
    const spec = located.doc.spec;
    if (
      (spec.devices ?? []).includes(device.name) ||
      (spec.selector !== undefined && compileSelector(spec.selector)(device.labels, device.facts))
    ) {
      groups.push(name);
    }
  }
  return groups.sort(compareStrings);
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

/** Plain UTF-16 code unit order: the one order compile output is sorted by. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface IndexedGroup {
  /** The group's member set being built (explicit devices first). */
  members: Set<string>;
  matches: SelectorPredicate;
  /** Index of the last device tested through the fact index. */
  testedFor: number;
}

function test(group: IndexedGroup, deviceName: string, labels: Readonly<Record<string, string>>, facts: Facts | undefined): void {
  if (group.matches(labels, facts)) group.members.add(deviceName);
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** The selector's label pair carried by the fewest devices (ties: the first key in sorted order). */
function rarestPair(matchLabels: Readonly<Record<string, string>>, counts: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = Infinity;
  for (const key of Object.keys(matchLabels).sort(compareStrings)) {
    const pair = labelIndexKey(key, matchLabels[key]!);
    const count = counts.get(pair) ?? 0;
    if (count < bestCount) {
      best = pair;
      bestCount = count;
    }
  }
  return best;
}

function labelIndexKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}
