// Rollout waves: which devices a rollout reaches first, next and last.
//
// A rollout is one accepted revision × one profile (or the fleet-wide default policy) × the
// devices whose desired state changed for it. `planWaves(policy, devices)` splits those devices
// into the policy's waves, in policy order; every device lands in exactly one wave. It is pure:
// the same policy and devices give the same waves on every pass and every server.
//
// How a wave takes its devices:
// - Candidates are the devices no earlier wave took, narrowed by the wave's `group` (devices in
//   that group) and `selector` (`matchesSelector` on labels and facts), and ordered ONLINE FIRST,
//   then by name (UTF-16 code-unit order, not locale order). Online first so that a canary is a
//   device that can run the change now, not one that would hold the wave until `offlineTimeout`;
//   by name so that the order is stable. Inside the wave the devices are listed by name.
// - `size: N` takes the first N candidates (all of them when fewer are left).
// - `size: "P%"` takes ceil(P × T / 100) candidates, where T is the number of ALL the rollout's
//   devices, not of those left: "10%" means a tenth of the rollout whatever came before. The
//   product is computed on integers (10 × 70 / 100 = 7, never 7.000000000000001 → 8). At least 1
//   when candidates are left (validation already rejects 0%); never more than are left.
// - `size: "rest"`, and a wave with a `group` or `selector` but no `size`, takes every candidate.
//   A wave with none of size, group, selector (validation rejects it) is read as "rest".
// - No waves in the policy → a single wave `all` of every device.
// - Devices no listed wave took (the last wave is not "rest", or it filters by group/selector) go
//   into an implicit final wave named `rest` (`implicit: true`). A rollout never silently leaves a
//   device behind: `canary: 1, then 10%` still reaches the whole fleet, as the issue's "then the
//   rest" expects, and the plan shows that wave so a reviewer sees it.
// - Waves that get no device are kept, with 0 devices, so the plan shows them; the scheduler
//   skips them (an empty wave needs no promotion and adds no pause).
//
// Worked examples (each one a row of waves.test.ts):
//   "10%" of 7 devices      = 0.7  → 1 device
//   "10%" of 212 devices    = 21.2 → 22 devices
//   "10%" of 70 devices     = 7    → 7 devices (integer arithmetic)
//   [1, "10%", "rest"] over 50 devices → 1, 5, 44
//   [1, "10%", "rest"] over 1 device   → 1, 0, 0 (the canary is the whole fleet; later waves empty)
//   ["50%", "50%", "50%"] over 3       → 2, 1, 0 (1.5 → 2 of ALL devices, then only 1 is left)
//   [1, "10%"] over 20                 → 1, 2, and an implicit "rest" of 17
//   canary 1 over a (offline), b, c    → b (online first); a goes to a later wave
//   no waves over 4                    → one wave "all" of 4
//   no waves over 0                    → one wave "all" of 0
//   [group: web, 1] over web = {w1, w2} and x1 → {w1, w2}, {x1}
import type { Facts } from '../../../../schemas/facts.ts';
import type { RolloutPolicy, RolloutWave } from '../../../../schemas/kinds.ts';
import { compileSelector } from '../compile/selectors.ts';
import { RolloutError } from './errors.ts';

/** A device a rollout touches, as the planner sees it. */
export interface RolloutDevice {
  name: string;
  labels: Readonly<Record<string, string>>;
  facts: Facts | undefined;
  /** Names of the groups the device belongs to in the rollout's revision. */
  groups: readonly string[];
  /** Connected to the server now. Only orders candidates; offline devices are still planned. */
  online: boolean;
}

/** One planned wave. */
export interface Wave {
  /** The policy's wave name, `wave-<n>` (1-based) when it has none, `all` or `rest` when implicit. */
  name: string;
  /** Device names, sorted. */
  devices: string[];
  manualPromotion: boolean;
  /** The wave's own `failureThreshold`, when the policy gives one. */
  failureThreshold?: number | string;
  /** True for the wave the planner added: `all` (no waves in the policy) or the final `rest`. */
  implicit: boolean;
}

/**
 * A count (`3`) or a percentage (`"10%"`) of `total`, percentages rounded `up` or `down`; the
 * product is taken on the percentage's digits so integer percentages are exact. `undefined` for
 * anything else (`"rest"`, `"abc"`, a negative count), so callers fall back to their default.
 */
export function resolveQuantity(value: number | string, total: number, rounding: 'up' | 'down'): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  const match = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (match === null) return undefined;
  const share = (Number(match[1]) * total) / 100;
  return rounding === 'up' ? Math.ceil(share) : Math.floor(share);
}

/** Splits the rollout's devices into waves, in policy order; see the module comment. */
export function planWaves(policy: RolloutPolicy, devices: readonly RolloutDevice[]): Wave[] {
  const seen = new Set<string>();
  for (const device of devices) {
    if (seen.has(device.name)) {
      throw new RolloutError('rollout.duplicate-device', `device ${device.name} is given twice`);
    }
    seen.add(device.name);
  }
  const ordered = [...devices].sort(compareCandidates);
  const total = ordered.length;
  const specs = policy.waves ?? [];
  if (specs.length === 0) {
    return [{ name: 'all', devices: ordered.map((d) => d.name).sort(compareStrings), manualPromotion: false, implicit: true }];
  }

  const taken = new Set<string>();
  const waves: Wave[] = specs.map((spec, i) => {
    const inPool = wavePool(spec);
    const candidates = ordered.filter((device) => !taken.has(device.name) && inPool(device));
    const count = Math.min(candidates.length, waveCount(spec, total, candidates.length));
    const names = candidates.slice(0, count).map((d) => d.name);
    for (const name of names) taken.add(name);
    const wave: Wave = {
      name: spec.name ?? `wave-${i + 1}`,
      devices: names.sort(compareStrings),
      manualPromotion: spec.manualPromotion === true,
      implicit: false,
    };
    if (spec.failureThreshold !== undefined) wave.failureThreshold = spec.failureThreshold;
    return wave;
  });

  const rest = ordered.filter((device) => !taken.has(device.name)).map((d) => d.name);
  if (rest.length > 0) {
    waves.push({ name: 'rest', devices: rest.sort(compareStrings), manualPromotion: false, implicit: true });
  }
  return waves;
}

/** The wave's filter: its group and its selector (compiled once), both when both are given. */
function wavePool(spec: RolloutWave): (device: RolloutDevice) => boolean {
  const group = spec.group;
  const selector = spec.selector === undefined ? undefined : compileSelector(spec.selector);
  return (device) =>
    (group === undefined || device.groups.includes(group)) &&
    (selector === undefined || selector(device.labels, device.facts));
}

/** How many candidates the wave takes (before capping at the number left). */
function waveCount(spec: RolloutWave, total: number, left: number): number {
  const size = spec.size;
  if (size === undefined || size === 'rest') return left;
  const count = resolveQuantity(size, total, 'up');
  if (count === undefined) return left;
  // A percentage wave takes at least one device while any is left; a count of 0 cannot pass
  // validation (minimum 1) and is read the same way.
  return left > 0 ? Math.max(1, count) : 0;
}

function compareCandidates(a: RolloutDevice, b: RolloutDevice): number {
  if (a.online !== b.online) return a.online ? -1 : 1;
  return compareStrings(a.name, b.name);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
