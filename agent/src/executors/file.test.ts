import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile as fsWriteFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Step } from '../../../schemas/protocol.ts';
import { isAgentError } from '../errors.ts';
import { exec } from '../system/exec.ts';
import { lookupAccount } from '../system/users.ts';
import { createExecContext, type ExecContext } from './context.ts';
import { deleteFile, observeFile, writeFile } from './file.ts';

type Write = Extract<Step, { action: 'file.write' }>;

const sha = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

let root: string;
let outside: string;
let blobs: Map<string, Uint8Array>;
let fetches: string[];
let ctx: ExecContext;

function context(overrides: Partial<ExecContext> = {}): ExecContext {
  return createExecContext({
    exec,
    stateDir: path.join(root, '.state'),
    root,
    fetchBlob: async (hash) => {
      fetches.push(hash);
      const blob = blobs.get(hash);
      if (!blob) throw new Error(`404 ${hash}`);
      return blob;
    },
    ...overrides,
  });
}

function blob(content: string): { sha256: string; size: number } {
  const bytes = Buffer.from(content);
  blobs.set(sha(bytes), bytes);
  return { sha256: sha(bytes), size: bytes.length };
}

function writeStep(devicePath: string, content: string, extra: Partial<Write> = {}): Write {
  return { action: 'file.write', key: `file/${devicePath}`, path: devicePath, ...blob(content), ...extra };
}

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-file-')));
  outside = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-outside-')));
  blobs = new Map();
  fetches = [];
  ctx = context();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('file.write', () => {
  it('writes a new file with its mode, creating parent directories, and observes it', async () => {
    const step = writeStep('/etc/motd.d/10-welcome', 'Welcome to DeployX\n', { mode: '0640' });
    const outcome = await writeFile(step, ctx);
    const host = path.join(root, 'etc/motd.d/10-welcome');
    assert.equal(outcome.status, 'succeeded');
    assert.equal(await readFile(host, 'utf8'), 'Welcome to DeployX\n');
    assert.equal(((await stat(host)).mode & 0o7777).toString(8), '640');
    assert.equal(outcome.observed?.type, 'file');
    assert.deepEqual(
      { ...outcome.observed, owner: undefined, group: undefined },
      {
        key: 'file//etc/motd.d/10-welcome',
        type: 'file',
        path: '/etc/motd.d/10-welcome',
        exists: true,
        sha256: step.sha256,
        size: step.size,
        mode: '0640',
        owner: undefined,
        group: undefined,
      },
    );
  });

  it('is skipped, without fetching, when the file is already right', async () => {
    const step = writeStep('/etc/app.conf', 'a=1\n', { mode: '0644' });
    assert.equal((await writeFile(step, ctx)).status, 'succeeded');
    fetches = [];
    const again = await writeFile(step, ctx);
    assert.equal(again.status, 'skipped');
    assert.deepEqual(fetches, []);
  });

  it('refuses a blob whose SHA-256 does not match, and writes nothing', async () => {
    const step = writeStep('/etc/app.conf', 'the real content\n');
    blobs.set(step.sha256, Buffer.from('tampered content\n'));
    const outcome = await writeFile(step, ctx);
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^blob\.hash-mismatch/);
    await assert.rejects(stat(path.join(root, 'etc/app.conf')), { code: 'ENOENT' });
    await assert.rejects(stat(path.join(root, 'etc')), { code: 'ENOENT' }, 'not even the parent directory');
  });

  it('keeps the old file when the new blob does not match', async () => {
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await fsWriteFile(path.join(root, 'etc/app.conf'), 'old\n');
    const step = writeStep('/etc/app.conf', 'new\n');
    blobs.set(step.sha256, Buffer.from('evil\n'));
    assert.equal((await writeFile(step, ctx)).status, 'failed');
    assert.equal(await readFile(path.join(root, 'etc/app.conf'), 'utf8'), 'old\n');
  });

  it('replaces an existing file atomically (new inode, no temp file left)', async () => {
    const dir = path.join(root, 'etc/nginx');
    await mkdir(dir, { recursive: true });
    await fsWriteFile(path.join(dir, 'nginx.conf'), 'old\n');
    await chmod(path.join(dir, 'nginx.conf'), 0o600);
    const inode = (await stat(path.join(dir, 'nginx.conf'))).ino;
    const outcome = await writeFile(writeStep('/etc/nginx/nginx.conf', 'worker_processes 4;\n'), ctx);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(await readFile(path.join(dir, 'nginx.conf'), 'utf8'), 'worker_processes 4;\n');
    assert.notEqual((await stat(path.join(dir, 'nginx.conf'))).ino, inode);
    assert.deepEqual(await readdir(dir), ['nginx.conf']);
    assert.equal(outcome.observed && 'mode' in outcome.observed ? outcome.observed.mode : '', '0600', 'mode kept');
  });

  it('fixes only the mode when the content is right', async () => {
    const step = writeStep('/etc/app.conf', 'x\n', { mode: '0600' });
    await writeFile({ ...step, mode: '0644' }, ctx);
    fetches = [];
    const outcome = await writeFile(step, ctx);
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(fetches, []);
    assert.equal(((await stat(path.join(root, 'etc/app.conf'))).mode & 0o777).toString(8), '600');
  });

  it('sets owner and group when running as root', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const nobody = await lookupAccount(exec, 'passwd', 'nobody');
    const nogroup = (await lookupAccount(exec, 'group', 'nogroup')) ?? (await lookupAccount(exec, 'group', 'nobody'));
    assert.ok(nobody && nogroup);
    const outcome = await writeFile(writeStep('/srv/www/index.html', '<h1>hi</h1>\n', { owner: 'nobody', group: nogroup.name }), ctx);
    assert.equal(outcome.status, 'succeeded');
    const s = await stat(path.join(root, 'srv/www/index.html'));
    assert.equal(s.uid, nobody.id);
    assert.equal(s.gid, nogroup.id);
    assert.equal(outcome.observed && 'owner' in outcome.observed ? outcome.observed.owner : '', 'nobody');
  });

  it('refuses an owner that does not exist', async () => {
    const step = writeStep('/etc/app.conf', 'x\n', { owner: 'deployx-no-such-user' });
    await assert.rejects(writeFile(step, context({ privileged: true })), (e) => isAgentError(e, 'file.owner-unknown'));
    await assert.rejects(stat(path.join(root, 'etc/app.conf')), { code: 'ENOENT' });
  });

  it('does not enforce ownership when the agent is not root, and says so', async () => {
    const outcome = await writeFile(writeStep('/etc/app.conf', 'x\n', { owner: 'nobody' }), context({ privileged: false }));
    assert.equal(outcome.status, 'succeeded');
    assert.match(outcome.output ?? '', /not enforced/);
  });

  it('refuses ../ escapes and writes nothing', async () => {
    await assert.rejects(writeFile(writeStep('/etc/../../../tmp/pwned', 'x'), ctx), (e) =>
      isAgentError(e, 'path.outside-allowed'),
    );
    assert.deepEqual(fetches, []);
  });

  it('refuses a symlink that leads outside the root, and writes nothing there', async () => {
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await symlink(outside, path.join(root, 'etc/conf.d'));
    await assert.rejects(writeFile(writeStep('/etc/conf.d/x.conf', 'x'), ctx), (e) => isAgentError(e, 'path.escape'));
    assert.deepEqual(await readdir(outside), []);
  });

  it('refuses to replace a directory', async () => {
    await mkdir(path.join(root, 'etc/app.conf'), { recursive: true });
    await assert.rejects(writeFile(writeStep('/etc/app.conf', 'x'), ctx), (e) => isAgentError(e, 'file.not-a-file'));
  });
});

describe('file.delete', () => {
  it('removes a present file, and is skipped when absent', async () => {
    await writeFile(writeStep('/etc/old.conf', 'x\n'), ctx);
    const step = { action: 'file.delete', key: 'file//etc/old.conf', path: '/etc/old.conf' } as const;
    const outcome = await deleteFile(step, ctx);
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.observed, { key: 'file//etc/old.conf', type: 'file', path: '/etc/old.conf', exists: false });
    await assert.rejects(stat(path.join(root, 'etc/old.conf')), { code: 'ENOENT' });
    assert.equal((await deleteFile(step, ctx)).status, 'skipped');
  });

  it('observes without changing anything', async () => {
    const observed = await observeFile({ action: 'file.delete', key: 'file//etc/none', path: '/etc/none' }, ctx);
    assert.equal(observed.exists, false);
  });
});
