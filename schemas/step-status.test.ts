import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StepStatus } from './protocol.ts';
import { isStepFailure } from './step-status.ts';

describe('isStepFailure', () => {
  const rows: Array<[StepStatus, boolean]> = [
    ['succeeded', false],
    ['skipped', false],
    ['failed', true],
    // A script whose outcome is unknown: never counted as applied, retried like a failure.
    ['interrupted', true],
  ];
  for (const [status, failure] of rows) it(`${status} → ${failure}`, () => assert.equal(isStepFailure(status), failure));
});
