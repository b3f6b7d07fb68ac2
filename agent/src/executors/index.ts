// The executor table: one entry per Step action, typed so that adding a Step kind to
// schemas/protocol.ts without its executor (and its observer) fails to compile (STYLE rule 3).
import type { ObservedResource, Step, StepAction } from '../../../schemas/protocol.ts';
import type { ExecContext, StepOutcome } from './context.ts';
import { deleteFile, observeFile, writeFile } from './file.ts';
import { installPackage, observePackage, removePackage } from './package/steps.ts';
import { observeScript, runScript } from './script.ts';

export type { ExecContext, ExecContextOptions, FetchBlob, StepOutcome } from './context.ts';
export { createExecContext } from './context.ts';

export type Executors = {
  [A in StepAction]: (s: Extract<Step, { action: A }>, ctx: ExecContext) => Promise<StepOutcome>;
};

/** Observe a Step's resource without changing it (reports, and steps a failed job never ran). */
export type Observers = {
  [A in StepAction]: (s: Extract<Step, { action: A }>, ctx: ExecContext) => Promise<ObservedResource>;
};

export const executors: Executors = {
  'package.install': installPackage,
  'package.remove': removePackage,
  'file.write': writeFile,
  'file.delete': deleteFile,
  'script.run': runScript,
};

export const observers: Observers = {
  'package.install': observePackage,
  'package.remove': observePackage,
  'file.write': observeFile,
  'file.delete': observeFile,
  'script.run': observeScript,
};

/** Every action, checked both ways against the Step union. */
export const STEP_ACTIONS = Object.keys(executors) as StepAction[];

/** The correlated-union dispatch TypeScript cannot express without one cast. */
export function executeStep(table: Executors, step: Step, ctx: ExecContext): Promise<StepOutcome> {
  const run = table[step.action] as (s: Step, c: ExecContext) => Promise<StepOutcome>;
  return run(step, ctx);
}

export function observeStep(table: Observers, step: Step, ctx: ExecContext): Promise<ObservedResource> {
  const observe = table[step.action] as (s: Step, c: ExecContext) => Promise<ObservedResource>;
  return observe(step, ctx);
}
