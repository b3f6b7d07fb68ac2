// Which step outcomes are failures: the one answer the agent (stop the job, keep the resource out
// of its inventory) and the server (not applied, retried, named as a rollout's failure) share.
// `interrupted` (a script whose outcome is unknown) is a failure everywhere.
import type { StepStatus } from './protocol.ts';

export function isStepFailure(status: StepStatus): boolean {
  return status === 'failed' || status === 'interrupted';
}
