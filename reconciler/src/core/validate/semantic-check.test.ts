import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostnamePatternProblem, isAbsoluteDevicePath, normaliseMac, normaliseRepoPath } from './semantic-check.ts';

describe('hostnamePatternProblem', () => {
  // [pattern, undefined when it can produce valid hostnames | a fragment of the problem]
  const cases: Array<[string, string | undefined]> = [
    ['web-{site}-{seq:02}', undefined],
    ['web-{seq}', undefined],
    ['kiosk-{site}-{room}', undefined],
    ['ws-{rack_id}-{seq:3}', undefined],
    ['db01', undefined],
    ['{site}', undefined],
    ['Web_{site}', '"W" cannot appear in a hostname'],
    ['web_{site}', '"_" cannot appear in a hostname'],
    ['web.{site}', '"." cannot appear in a hostname'],
    ['web {site}', '" " cannot appear in a hostname'],
    ['web-{seq:x}', '"{seq:x}" is not a placeholder'],
    ['web-{seq:123}', '"{seq:123}" is not a placeholder'],
    ['web-{}', '"{}" is not a placeholder'],
    ['web-{-site}', '"{-site}" is not a placeholder'],
    ['web-{site', 'unbalanced braces'],
    ['web-site}', 'unbalanced braces'],
    ['-web-{seq}', 'cannot start or end with "-"'],
    ['web-{seq}-', 'cannot start or end with "-"'],
    ['web-{seq}-{seq:02}', 'use {seq} at most once'],
    // {seq} is assumed 4 digits wide, {seq:NN} NN wide, a {label} 1 character.
    [`${'a'.repeat(59)}{seq}`, undefined],
    [`${'a'.repeat(60)}{seq}`, 'can be 64 characters long; the limit is 63'],
    [`${'a'.repeat(54)}{seq:10}`, 'can be 64 characters long; the limit is 63'],
    [`${'a'.repeat(62)}{site}`, undefined],
    ['', 'empty pattern'],
  ];
  for (const [pattern, problem] of cases) {
    it(`${JSON.stringify(pattern.length > 30 ? `${pattern.slice(0, 12)}…${pattern.slice(-10)}` : pattern)} → ${problem ?? 'ok'}`, () => {
      const found = hostnamePatternProblem(pattern);
      if (problem === undefined) assert.equal(found, undefined);
      else assert.ok(found?.includes(problem), `got ${JSON.stringify(found)}`);
    });
  }
});

describe('isAbsoluteDevicePath', () => {
  const cases: Array<[string, boolean]> = [
    ['/etc/motd', true],
    ['/etc/nginx/conf.d/contoso-web.conf', true],
    ['/opt/my app/config file.json', true],
    ['/usr/local/bin/healthcheck', true],
    ['/', false],
    ['', false],
    ['etc/motd', false],
    ['./etc/motd', false],
    ['/etc/', false],
    ['/etc//motd', false],
    ['/etc/./motd', false],
    ['/etc/../motd', false],
    ['/etc/mo\0td', false],
    // Windows: a drive letter, a backslash, and normalised backslash-separated segments.
    ['C:\\ProgramData\\Kiosk\\config.json', true],
    ['c:\\Windows\\System32\\drivers\\etc\\hosts', true],
    ['D:\\a', true],
    ['C:\\', false],
    ['C:', false],
    ['C:config.json', false],
    ['C:/ProgramData/Kiosk/config.json', false],
    ['C:\\ProgramData/Kiosk\\config.json', false],
    ['C:\\ProgramData\\\\Kiosk', false],
    ['C:\\ProgramData\\..\\Kiosk', false],
    ['C:\\ProgramData\\.\\Kiosk', false],
    ['C:\\ProgramData\\', false],
    ['\\\\fileserver\\share\\config.json', false],
    ['\\ProgramData\\config.json', false],
    ['CD:\\x', false],
  ];
  for (const [path, want] of cases) {
    it(`${JSON.stringify(path)} → ${want}`, () => {
      assert.equal(isAbsoluteDevicePath(path), want);
    });
  }
});

describe('normaliseRepoPath', () => {
  const cases: Array<[string, string | undefined]> = [
    ['files/motd.txt', 'files/motd.txt'],
    ['./files/motd.txt', 'files/motd.txt'],
    ['files//motd.txt', 'files/motd.txt'],
    ['files/./motd.txt', 'files/motd.txt'],
    ['files/../files/motd.txt', 'files/motd.txt'],
    ['files/nginx/../motd.txt', 'files/motd.txt'],
    ['files/', 'files'],
    ['scripts/linux/harden-ssh.sh', 'scripts/linux/harden-ssh.sh'],
    // Leaves the root, or is not relative to it.
    ['../secrets', undefined],
    ['../secrets/db-password', undefined],
    ['files/../../secrets', undefined],
    ['a/..', undefined],
    ['/etc/passwd', undefined],
    ['C:/secrets', undefined],
    ['c:secrets', undefined],
    ['files\\motd.txt', undefined],
    ['\\\\server\\share', undefined],
    ['files/mo\0td', undefined],
    ['', undefined],
    ['.', undefined],
    ['./', undefined],
  ];
  for (const [source, want] of cases) {
    it(`${JSON.stringify(source)} → ${JSON.stringify(want)}`, () => {
      assert.equal(normaliseRepoPath(source), want);
    });
  }
});

describe('normaliseMac', () => {
  const cases: Array<[string, string]> = [
    ['52:54:00:ab:cd:ef', '52:54:00:ab:cd:ef'],
    ['52:54:00:AB:CD:EF', '52:54:00:ab:cd:ef'],
    ['52-54-00-AB-CD-EF', '52:54:00:ab:cd:ef'],
    ['52-54-00-ab-cd-ef', '52:54:00:ab:cd:ef'],
  ];
  for (const [mac, want] of cases) {
    it(`${mac} → ${want}`, () => {
      assert.equal(normaliseMac(mac), want);
    });
  }

  it('makes the spellings of one address equal, and different addresses stay different', () => {
    const spellings = ['52:54:00:ab:cd:01', '52-54-00-AB-CD-01', '52:54:00:Ab:cD:01'];
    assert.equal(new Set(spellings.map(normaliseMac)).size, 1);
    assert.notEqual(normaliseMac('52:54:00:ab:cd:01'), normaliseMac('52:54:00:ab:cd:02'));
  });
});
