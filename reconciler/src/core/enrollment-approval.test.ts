import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enrollmentApproval } from './enrollment-approval.ts';

test('the enrollment approval table', () => {
  const rows: Array<[string, string | undefined, string | undefined, 'bound-token' | 'never' | 'always' | undefined, boolean]> = [
    // deviceId, declaredBy, boundDevice, autoApprove, approved
    ['dev-1', undefined, undefined, undefined, true],
    ['web-1', 'mac', undefined, undefined, false],
    ['web-1', 'hostname', 'web-2', 'bound-token', false],
    ['web-1', 'mac', 'web-1', undefined, true],
    ['web-1', 'mac', 'web-1', 'never', false],
    ['web-1', 'hostname', undefined, 'always', true],
  ];
  for (const [deviceId, declaredBy, boundDevice, autoApprove, approved] of rows) {
    const result = enrollmentApproval({ deviceId, declaredBy, boundDevice, autoApprove });
    assert.equal(result.approved, approved, JSON.stringify({ deviceId, declaredBy, boundDevice, autoApprove }));
    if (!result.approved) assert.equal(result.claim, declaredBy);
  }
});
