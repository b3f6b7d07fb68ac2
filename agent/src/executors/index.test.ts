import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Step, StepAction } from '../../../schemas/protocol.ts';
import { executors, observers, STEP_ACTIONS, type Executors } from './index.ts';

// Type-level: the table must name every Step action, with the step type narrowed per action.
// Each @ts-expect-error fails `tsc` (npm run typecheck) if the line stops being an error.
const noop = async () => ({ status: 'skipped' as const });
// @ts-expect-error — a table missing 'script.run' does not compile.
const _missing: Executors = {
  'package.install': noop,
  'package.remove': noop,
  'file.write': noop,
  'file.delete': noop,
};
const _narrowed: Executors = {
  ...executors,
  // @ts-expect-error — the file.write executor receives a file.write step, which has no `name`.
  'file.write': async (s) => ({ status: 'skipped', output: s.name }),
};
type Exhaustive<T extends never> = T;
export type _AllActionsCovered = Exhaustive<Exclude<StepAction, keyof Executors>>;
export type _NoExtraActions = Exhaustive<Exclude<keyof Executors, StepAction>>;
void _missing;
void _narrowed;

describe('executor table', () => {
  it('has an executor and an observer for every action', () => {
    const actions: Record<StepAction, true> = {
      'package.install': true,
      'package.remove': true,
      'file.write': true,
      'file.delete': true,
      'script.run': true,
    };
    assert.deepEqual([...STEP_ACTIONS].sort(), Object.keys(actions).sort());
    for (const action of STEP_ACTIONS) {
      assert.equal(typeof executors[action], 'function', action);
      assert.equal(typeof observers[action], 'function', action);
    }
    const sample: Step['action'] = 'file.write';
    assert.ok(STEP_ACTIONS.includes(sample));
  });
});
