import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Step } from '../../../../schemas/protocol.ts';
import { jobBudgetMs, STEP_ALLOWANCE_MS } from './job-budget.ts';

const script = (timeoutSeconds: number): Step => ({
  action: 'script.run', key: `script/s${timeoutSeconds}`, interpreter: 'sh', sha256: 'a'.repeat(64), run: 'once', timeoutSeconds, successExitCodes: [0],
});

test('a job\'s budget is the sum of its steps\' limits', () => {
  const cases: Array<{ steps: Step[]; ms: number }> = [
    { steps: [], ms: 0 },
    { steps: [script(30)], ms: 30_000 },
    { steps: [script(30), script(600)], ms: 630_000 },
    { steps: [{ action: 'file.write', key: 'file/a', path: '/a', sha256: 'b'.repeat(64), size: 1 }, script(5)], ms: STEP_ALLOWANCE_MS['file.write'] + 5_000 },
    { steps: [{ action: 'package.install', key: 'package/x', manager: 'apt', name: 'x', version: 'any' }, { action: 'file.delete', key: 'file/b', path: '/b' }], ms: STEP_ALLOWANCE_MS['package.install'] + STEP_ALLOWANCE_MS['file.delete'] },
  ];
  for (const { steps, ms } of cases) assert.equal(jobBudgetMs(steps), ms, JSON.stringify(steps.map((s) => s.action)));
});
