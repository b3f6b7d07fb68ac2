// Which rollout a device belongs to when a revision is accepted.
//
// A rollout is one accepted revision × one profile × devices (waves.ts). When the server accepts
// a revision that replaces the one it served, every device whose desired state changed between
// the two is rolled out; with no previous revision (a fleet's first one) nothing is rolled out and
// every device converges at once, as does a device that enrolls later. Pure: the driver
// (loop/rollouts.ts) compiles both revisions and passes the results in.
//
// Rules
// 1. A device's changed profiles (`changedProfiles`): the profiles among the `sources` of the
//    resources whose fingerprint differs — the new resource's sources for one added or updated,
//    the old one's for one removed — sorted by name.
// 2. A rollout OWES a device a job when it is progressing, paused or halted and the device has not
//    succeeded, or when it has finished and the device failed (`owes`). A device is owed by at most
//    one rollout: the newest current rollout that lists it (its HOLDER) decides for it.
// 3. A changed device owed by a progressing, paused or halted rollout goes into the new rollout of
//    that rollout's profile when its change involves that profile; otherwise it stays where it is:
//    the earlier rollout still decides when the device gets its (whole) desired state, so a
//    halted rollout keeps its devices untouched until its own profile changes.
// 4. Any other changed device goes into the rollout of the first of its changed profiles by name.
// 5. Every current rollout of a profile that gets a new rollout is superseded, finished or not.
//    The live devices it still owes join the new rollout of its profile even when this revision
//    did not change them: the fix for a halted rollout reaches every device it never reached.
//
// Worked examples (each one a row of membership.test.ts):
//   a changed [web], in no rollout                           → web
//   b changed [db, web], in no rollout                       → db (first by name)
//   c changed [web], waiting in halted X(web)                → web; X superseded
//   d changed [db], waiting in halted X(web), no web change  → stays in X; only a db rollout
//   e as d, but another device changed web                   → web (carried over); X superseded
//   f unchanged, waiting in halted X(web), web changed       → web (carried over)
//   g changed [db], failed in completed X(web)               → db; X stays current
//   h unchanged, failed in completed X(web), web changed     → web (carried over)
//   i unchanged, succeeded in X(web), web changed            → in no new rollout
//   j waiting in X(web), deleted, web changed                → in no new rollout (not live)
import type { DesiredResource, DesiredState } from '../model.ts';
import { isFinal, type RolloutDeviceStatus, type RolloutStatus } from './schedule.ts';
import { compareStrings } from './waves.ts';

/** A current (not superseded) rollout as membership sees it. */
export interface CurrentRollout {
  id: string;
  profile: string | undefined;
  status: RolloutStatus;
  /** Status of every device the rollout lists. */
  devices: Readonly<Record<string, { status: RolloutDeviceStatus }>>;
}

export interface RolloutAssignment {
  /** New rollouts by profile name (sorted), each with its devices (sorted). */
  rollouts: Array<{ profile: string; devices: string[] }>;
  /** Ids of the current rollouts the new ones replace, in the order given. */
  superseded: string[];
}

/** Rule 1: the profiles whose resources changed from `before` to `after`, sorted by name. */
export function changedProfiles(before: Pick<DesiredState, 'resources'>, after: Pick<DesiredState, 'resources'>): string[] {
  const old = new Map<string, DesiredResource>(before.resources.map((r) => [r.key, r]));
  const profiles = new Set<string>();
  const add = (resource: DesiredResource) => {
    for (const source of resource.sources) profiles.add(source.profile);
  };
  for (const resource of after.resources) {
    const previous = old.get(resource.key);
    old.delete(resource.key);
    if (previous === undefined || previous.fingerprint !== resource.fingerprint) add(resource);
  }
  for (const removed of old.values()) add(removed);
  return [...profiles].sort(compareStrings);
}

/** Progressing, paused or halted: the rollout still decides when its devices get their job. */
export function stillDeciding(status: RolloutStatus): boolean {
  return !isFinal(status) || status === 'halted';
}

/** Rule 2: whether `rollout` still owes `device` a job. */
export function owes(rollout: Pick<CurrentRollout, 'status' | 'devices'>, device: string): boolean {
  const entry = Object.hasOwn(rollout.devices, device) ? rollout.devices[device] : undefined;
  if (entry === undefined) return false;
  return stillDeciding(rollout.status) ? entry.status !== 'succeeded' : entry.status === 'failed';
}

/** Device name → the newest of `current` (oldest first) that lists it. */
export function holders<R extends Pick<CurrentRollout, 'devices'>>(current: readonly R[]): Map<string, R> {
  const byDevice = new Map<string, R>();
  for (const rollout of current) {
    for (const device of Object.keys(rollout.devices)) byDevice.set(device, rollout);
  }
  return byDevice;
}

/**
 * Rules 3–5. `changed`: device → its changed profiles (rule 1; devices with none may be left
 * out). `current`: the rollouts not superseded, oldest first. `live`: devices that still exist.
 */
export function assignRollouts(
  changed: ReadonlyMap<string, readonly string[]>,
  current: readonly CurrentRollout[],
  live: ReadonlySet<string>,
): RolloutAssignment {
  const holderOf = holders(current);
  const assigned = new Map<string, string>();
  for (const device of [...changed.keys()].sort(compareStrings)) {
    const profiles = changed.get(device)!;
    if (profiles.length === 0 || !live.has(device)) continue;
    const holder = holderOf.get(device);
    if (holder !== undefined && stillDeciding(holder.status) && owes(holder, device)) {
      if (holder.profile !== undefined && profiles.includes(holder.profile)) assigned.set(device, holder.profile);
      continue;
    }
    assigned.set(device, [...profiles].sort(compareStrings)[0]!);
  }

  const renewed = new Set(assigned.values());
  const superseded = current.filter((rollout) => rollout.profile !== undefined && renewed.has(rollout.profile));
  for (const rollout of superseded) {
    for (const device of Object.keys(rollout.devices)) {
      if (assigned.has(device) || !live.has(device) || holderOf.get(device) !== rollout || !owes(rollout, device)) continue;
      assigned.set(device, rollout.profile!);
    }
  }

  const byProfile = new Map<string, string[]>();
  for (const [device, profile] of assigned) {
    let devices = byProfile.get(profile);
    if (devices === undefined) byProfile.set(profile, (devices = []));
    devices.push(device);
  }
  return {
    rollouts: [...byProfile.keys()].sort(compareStrings).map((profile) => ({ profile, devices: byProfile.get(profile)!.sort(compareStrings) })),
    superseded: superseded.map((r) => r.id),
  };
}
