import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAgentError } from '../errors.ts';
import { formatMode, parseMode, sha256File, statMode, writeFileAtomic } from './fs-atomic.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-fs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes the bytes with the exact mode, whatever the umask', async () => {
    const file = path.join(dir, 'a.conf');
    await writeFileAtomic(file, 'hello\n', { mode: '0640' });
    assert.equal(await readFile(file, 'utf8'), 'hello\n');
    assert.equal(await statMode(file), '0640');
  });

  it('replaces an existing file with a new inode and leaves no temp file behind', async () => {
    const file = path.join(dir, 'b.conf');
    await writeFile(file, 'old');
    const oldInode = (await stat(file)).ino;
    await writeFileAtomic(file, 'new', { mode: 0o600 });
    assert.equal(await readFile(file, 'utf8'), 'new');
    assert.notEqual((await stat(file)).ino, oldInode);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('deployx-')), []);
  });

  it('cleans up its temp file when the rename fails', async () => {
    const target = path.join(dir, 'is-a-dir');
    await mkdir(path.join(target, 'sub'), { recursive: true });
    await assert.rejects(writeFileAtomic(target, 'x')); // rename of a file over a non-empty directory
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('deployx-')), []);
  });
});

describe('sha256File / modes', () => {
  it('hashes a file streaming, like crypto over the whole buffer', async () => {
    const file = path.join(dir, 'big.bin');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 0xab);
    await writeFile(file, bytes);
    assert.equal(await sha256File(file), createHash('sha256').update(bytes).digest('hex'));
  });

  it('formats and parses octal modes', () => {
    assert.equal(formatMode(0o100644), '0644');
    assert.equal(formatMode(0o104755), '4755');
    assert.equal(parseMode('644'), 0o644);
    assert.equal(parseMode('0600'), 0o600);
    for (const bad of ['rw-r--r--', '0999', '12', '-644']) {
      assert.throws(() => parseMode(bad), (e) => isAgentError(e, 'file.mode'), bad);
    }
  });
});
