// Whether an enrolling agent is let in as the device it lands on, or waits for an operator (the
// Salt/Puppet key-acceptance model). Pure; the one place this is decided, so the handshake code
// around it (agent-gateway.ts #authenticate) can change without touching the rule.
//
// | device the agent lands on          | token                 | autoApprove  | result   |
// | ---------------------------------- | --------------------- | ------------ | -------- |
// | not declared in Git                | any                   | any          | approved |
// | declared                           | bound to that device  | bound-token  | approved |
// | declared                           | not bound to it       | bound-token  | pending  |
// | declared                           | any                   | never        | pending  |
// | declared                           | any                   | always       | approved |
import type { EnrollmentAutoApprove } from '../../../schemas/kinds.ts';

export const DEFAULT_AUTO_APPROVE: EnrollmentAutoApprove = 'bound-token';

export interface EnrollmentClaim {
  /** The device id the enrollment lands on. */
  deviceId: string;
  /** How that id was claimed when it is a declared device (`mac`, `hostname`, `serial`, `token`); undefined when it is not declared. */
  declaredBy: string | undefined;
  /** The device the enrollment token is bound to (`deployx token create --device`). */
  boundDevice: string | undefined;
  autoApprove: EnrollmentAutoApprove | undefined;
}

export type EnrollmentApproval = { approved: true } | { approved: false; claim: string };

export function enrollmentApproval(claim: EnrollmentClaim): EnrollmentApproval {
  if (claim.declaredBy === undefined) return { approved: true };
  const mode = claim.autoApprove ?? DEFAULT_AUTO_APPROVE;
  if (mode === 'always') return { approved: true };
  if (mode === 'bound-token' && claim.boundDevice === claim.deviceId) return { approved: true };
  return { approved: false, claim: claim.declaredBy };
}
