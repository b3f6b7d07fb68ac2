import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAgentError, type AgentErrorCode } from '../errors.ts';
import { normalizeDevicePath, resolveManagedPath } from './paths.ts';

let root: string;
let outside: string;
before(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-root-')));
  outside = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-outside-')));
  await mkdir(path.join(root, 'etc', 'app'), { recursive: true });
  await mkdir(path.join(root, 'srv'), { recursive: true });
  await symlink(outside, path.join(root, 'etc', 'evil'));
  await symlink(path.join(outside, 'passwd'), path.join(root, 'etc', 'evil-file'));
  await symlink(path.join(root, 'etc', 'app'), path.join(root, 'etc', 'good'));
  await symlink(path.join(root, 'srv'), path.join(root, 'etc', 'to-srv'));
  await symlink(path.join(root, 'etc', 'missing-target'), path.join(root, 'etc', 'dangling'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('resolveManagedPath with a sandbox root', () => {
  const mapped: Array<[string, NodeJS.Platform, string]> = [
    ['/etc/nginx/nginx.conf', 'linux', 'etc/nginx/nginx.conf'],
    ['/etc//app/./x.conf', 'linux', 'etc/app/x.conf'],
    ['/etc/app/../motd', 'linux', 'etc/motd'],
    ['/opt/acme/bin/tool', 'linux', 'opt/acme/bin/tool'],
    ['C:\\ProgramData\\Acme\\x.ini', 'win32', 'C/ProgramData/Acme/x.ini'],
    ['c:/ProgramData/Acme/y.ini', 'win32', 'C/ProgramData/Acme/y.ini'],
    ['C:\\Program Files\\Acme\\z.ini', 'win32', 'C/Program Files/Acme/z.ini'],
  ];
  for (const [device, platform, host] of mapped) {
    it(`maps ${device} (${platform})`, async () => {
      const got = await resolveManagedPath(root, device, platform);
      assert.equal(got.hostPath, path.join(root, host));
    });
  }

  it('returns the normalised device path', async () => {
    assert.equal((await resolveManagedPath(root, '/etc//app/./x.conf', 'linux')).devicePath, '/etc/app/x.conf');
    assert.equal((await resolveManagedPath(root, 'c:/ProgramData/A/y.ini', 'win32')).devicePath, 'C:\\ProgramData\\A\\y.ini');
  });

  it('follows a symlink that stays inside the allowed root', async () => {
    const got = await resolveManagedPath(root, '/etc/good/new.conf', 'linux');
    assert.equal(got.hostPath, path.join(root, 'etc', 'good', 'new.conf'));
  });

  const refused: Array<[string, string, NodeJS.Platform, AgentErrorCode]> = [
    ['relative path', 'etc/passwd', 'linux', 'path.relative'],
    ['NUL byte', '/etc/a\0b', 'linux', 'path.nul'],
    ['.. out of the allowed roots', '/etc/../root/.ssh/authorized_keys', 'linux', 'path.outside-allowed'],
    ['.. above the filesystem root', '/etc/../../../../tmp/x', 'linux', 'path.outside-allowed'],
    ['not under an allowed root', '/usr/bin/sudo', 'linux', 'path.outside-allowed'],
    ['an allowed root itself', '/etc', 'linux', 'path.outside-allowed'],
    ['a prefix that is not a parent', '/etcetera/x', 'linux', 'path.outside-allowed'],
    ['symlinked directory to outside', '/etc/evil/x.conf', 'linux', 'path.escape'],
    ['symlinked file to outside', '/etc/evil-file', 'linux', 'path.escape'],
    ['symlink into another allowed root', '/etc/to-srv/x.conf', 'linux', 'path.escape'],
    ['dangling symlink', '/etc/dangling/x', 'linux', 'path.escape'],
    ['Windows relative', 'ProgramData\\x', 'win32', 'path.relative'],
    ['Windows drive-relative', 'C:ProgramData\\x', 'win32', 'path.relative'],
    ['Windows UNC', '\\\\server\\share\\x', 'win32', 'path.invalid'],
    ['Windows alternate data stream', 'C:\\ProgramData\\x.txt:evil', 'win32', 'path.invalid'],
    ['Windows outside', 'C:\\Windows\\System32\\drivers\\etc\\hosts', 'win32', 'path.outside-allowed'],
    ['Windows ..', 'C:\\ProgramData\\..\\Windows\\x', 'win32', 'path.outside-allowed'],
  ];
  for (const [what, device, platform, code] of refused) {
    it(`refuses ${what}: ${JSON.stringify(device)}`, async () => {
      await assert.rejects(resolveManagedPath(root, device, platform), (e) => isAgentError(e, code));
    });
  }

  it('uses configured allowed roots instead of the defaults', async () => {
    const got = await resolveManagedPath(root, '/data/app/x', 'linux', { allowedRoots: ['/data'] });
    assert.equal(got.hostPath, path.join(root, 'data', 'app', 'x'));
    await assert.rejects(resolveManagedPath(root, '/etc/x', 'linux', { allowedRoots: ['/data'] }), (e) =>
      isAgentError(e, 'path.outside-allowed'),
    );
  });
});

describe('resolveManagedPath without a root', () => {
  it('uses the device path itself', async () => {
    const got = await resolveManagedPath(undefined, '/etc/deployx-test-nonexistent/x.conf', 'linux');
    assert.equal(got.hostPath, '/etc/deployx-test-nonexistent/x.conf');
  });

  it('still refuses a symlink escaping the allowed root', async () => {
    const base = path.join(root, 'real');
    await mkdir(base, { recursive: true });
    await symlink(outside, path.join(base, 'link'));
    await assert.rejects(
      resolveManagedPath(undefined, path.join(base, 'link', 'x'), 'linux', { allowedRoots: [base] }),
      (e) => isAgentError(e, 'path.escape'),
    );
  });
});

describe('normalizeDevicePath', () => {
  it('strips trailing separators', () => {
    assert.equal(normalizeDevicePath('/etc/app/', 'linux'), '/etc/app');
    assert.equal(normalizeDevicePath('C:\\ProgramData\\', 'win32'), 'C:\\ProgramData');
  });
});
