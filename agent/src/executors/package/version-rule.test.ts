import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAgentError } from '../../errors.ts';
import { parseVersionRule, versionSatisfies, type PackageState } from './version-rule.ts';

describe('versionSatisfies', () => {
  const rows: Array<[PackageState, string, boolean]> = [
    [{ installed: false }, 'any', false],
    [{ installed: false }, 'latest', false],
    [{ installed: true }, 'any', true],
    [{ installed: true, version: '1.0' }, '', true],
    [{ installed: true, version: '0.1' }, 'latest', true],
    [{ installed: true, version: '1.24.0-1' }, '1.24.0-1', true],
    [{ installed: true, version: '1.24.0-1' }, '1.24.0-2', false],
    [{ installed: true, version: '1.24.0-1.el9' }, '1.24.0', true],
    [{ installed: true, version: '1.24.01' }, '1.24.0', false],
    [{ installed: true, version: '1:2.3-4' }, '2.3-4', true],
    [{ installed: true, version: '1:2.3-4' }, '1:2.3-4', true],
    [{ installed: true, version: '1:2.3-4' }, '2:2.3-4', false],
    [{ installed: true }, '1.0', false],
    [{ installed: true, version: '1.24.3-1' }, '1.24.*', true],
    [{ installed: true, version: '1.24' }, '1.24.*', false],
    [{ installed: true, version: '1.25.0' }, '1.24.*', false],
    [{ installed: true, version: '1.240.0' }, '1.24.*', false],
    [{ installed: true, version: '1.240.0' }, '1.24*', true],
    [{ installed: true, version: '2:1.24.1' }, '1.24.*', true],
  ];
  for (const [state, rule, expected] of rows) {
    it(`${JSON.stringify(state)} ${expected ? 'satisfies' : 'does not satisfy'} ${JSON.stringify(rule)}`, () => {
      assert.equal(versionSatisfies(state, rule), expected);
    });
  }
});

describe('parseVersionRule', () => {
  it('classifies rules', () => {
    assert.deepEqual(parseVersionRule(undefined), { kind: 'any' });
    assert.deepEqual(parseVersionRule('latest'), { kind: 'latest' });
    assert.deepEqual(parseVersionRule('1.2.3-1~deb12u1'), { kind: 'exact', version: '1.2.3-1~deb12u1' });
    assert.deepEqual(parseVersionRule('1.24.*'), { kind: 'prefix', prefix: '1.24.', pattern: '1.24.*' });
  });
  for (const bad of ['-1.0', '1.0; rm -rf /', '1.*.3', '*', '1.0 2.0', '$(id)', 'a'.repeat(200)]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 20))}`, () => {
      assert.throws(() => parseVersionRule(bad), (e) => isAgentError(e, 'package.invalid-version'));
    });
  }
});
