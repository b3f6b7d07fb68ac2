// How long a running job may stay silent before the server asks its device whether it still
// holds it: the sum of its steps' own time limits. Scripts carry theirs (`timeoutSeconds`); the
// other steps have none on the wire, so each gets an allowance generous enough for a slow
// package manager or a large download. The caller adds its grace on top.
import type { Step } from '../../../../schemas/protocol.ts';

/** Per-step allowance of the steps that carry no time limit, in ms. */
export const STEP_ALLOWANCE_MS: { readonly [A in Exclude<Step['action'], 'script.run'>]: number } = {
  'package.install': 15 * 60_000,
  'package.remove': 15 * 60_000,
  'file.write': 10 * 60_000,
  'file.delete': 60_000,
};

export function jobBudgetMs(steps: readonly Step[]): number {
  let total = 0;
  for (const step of steps) total += step.action === 'script.run' ? step.timeoutSeconds * 1000 : STEP_ALLOWANCE_MS[step.action];
  return total;
}
