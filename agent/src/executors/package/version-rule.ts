// Version rules live in schemas/ (the planner and the agent must agree on them); the agent's
// parser throws its typed error for a rule that is not one.
import { readVersionRule, type VersionRule } from '../../../../schemas/version-rule.ts';
import { AgentError } from '../../errors.ts';

export { VERSION_PATTERN, versionSatisfies, type PackageState, type VersionRule } from '../../../../schemas/version-rule.ts';

export function parseVersionRule(rule: string | undefined): VersionRule {
  const parsed = readVersionRule(rule);
  if ('invalid' in parsed) throw new AgentError('package.invalid-version', parsed.invalid);
  return parsed;
}
