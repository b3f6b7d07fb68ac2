// Version rules of a Software resource, and whether an installed package satisfies one. Pure.
//
//   any (or empty)  installed at any version
//   latest          installed at any version — for observation; upgrading to the newest is the
//                   package manager's job at install time, not a drift the agent detects
//   1.24.*          prefix: the installed version starts with `1.24.`
//   1.24.0-1        exact
//
// Exact comparison tolerates the two ways one version is written differently by managers and
// people: an epoch the rule omits (`1:2.3-4` satisfies `2.3-4`) and a packaging release the rule
// omits (`1.24.0-1.el9` satisfies `1.24.0`).

export type VersionRule =
  | { kind: 'any' }
  | { kind: 'latest' }
  | { kind: 'exact'; version: string }
  | { kind: 'prefix'; prefix: string; pattern: string };

export interface PackageState {
  installed: boolean;
  /** The installed version, when installed and the manager reports one. */
  version?: string;
}

/** Characters a version (or a prefix rule) may use; it may not start with `-`. */
export const VERSION_PATTERN = /^[A-Za-z0-9.+~:_*][A-Za-z0-9.+~:_*-]*$/;
const MAX_VERSION_LENGTH = 128;

/** The rule, or a reason it is not one. Shared by the reconciler's planner and the agent. */
export function readVersionRule(rule: string | undefined): VersionRule | { invalid: string } {
  if (rule === undefined || rule === '' || rule === 'any') return { kind: 'any' };
  if (rule === 'latest') return { kind: 'latest' };
  if (rule.length > MAX_VERSION_LENGTH || !VERSION_PATTERN.test(rule)) {
    return { invalid: `invalid version rule: ${JSON.stringify(rule)}` };
  }
  const star = rule.indexOf('*');
  if (star === -1) return { kind: 'exact', version: rule };
  if (star !== rule.length - 1 || star === 0) {
    return { invalid: `only a trailing * is supported: ${JSON.stringify(rule)}` };
  }
  return { kind: 'prefix', prefix: rule.slice(0, -1), pattern: rule };
}

/** Whether the installed state satisfies the rule; an invalid rule is never satisfied. */
export function versionSatisfies(state: PackageState, rule: string | VersionRule): boolean {
  if (!state.installed) return false;
  const parsed = typeof rule === 'string' ? readVersionRule(rule) : rule;
  if ('invalid' in parsed) return false;
  switch (parsed.kind) {
    case 'any':
    case 'latest':
      return true;
    case 'exact': {
      if (state.version === undefined) return false;
      const installed = parsed.version.includes(':') ? state.version : stripEpoch(state.version);
      return installed === parsed.version || installed.startsWith(`${parsed.version}-`);
    }
    case 'prefix': {
      if (state.version === undefined) return false;
      const installed = parsed.prefix.includes(':') ? state.version : stripEpoch(state.version);
      return installed.startsWith(parsed.prefix);
    }
  }
}

function stripEpoch(version: string): string {
  return version.replace(/^\d+:/, '');
}
