import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTempName, writeFileAtomic } from './fs-atomic.ts';
import { isLeftoverTemp, removeLeftoverTemps, TEMP_MIN_AGE_MS, type TempCandidate } from './temp-cleanup.ts';

describe('isLeftoverTemp', () => {
  const now = 10 * TEMP_MIN_AGE_MS;
  const judge = { nowMs: now, ownPid: 100, isRunning: (pid: number) => pid === 100 || pid === 200 };
  const young = now - 1_000;
  const old = now - TEMP_MIN_AGE_MS;
  const rows: Array<[string, TempCandidate, boolean]> = [
    ['dead writer, young', { name: '.a.conf.deployx-300-0123456789ab.tmp', isFile: true, mtimeMs: young }, true],
    ['live writer, young', { name: '.a.conf.deployx-200-0123456789ab.tmp', isFile: true, mtimeMs: young }, false],
    ['live writer (or a reused pid), old', { name: '.a.conf.deployx-200-0123456789ab.tmp', isFile: true, mtimeMs: old }, true],
    ['this process, old', { name: '.a.conf.deployx-100-0123456789ab.tmp', isFile: true, mtimeMs: old }, false],
    ['no pid (older agent), young', { name: '.a.conf.deployx-0123456789ab.tmp', isFile: true, mtimeMs: young }, false],
    ['no pid (older agent), old', { name: '.a.conf.deployx-0123456789ab.tmp', isFile: true, mtimeMs: old }, true],
    ['a directory with the name', { name: '.a.deployx-300-0123456789ab.tmp', isFile: false, mtimeMs: old }, false],
    ['not the pattern: no leading dot', { name: 'a.conf.deployx-300-0123456789ab.tmp', isFile: true, mtimeMs: old }, false],
    ['not the pattern: short hex', { name: '.a.conf.deployx-300-0123.tmp', isFile: true, mtimeMs: old }, false],
    ['not the pattern: other suffix', { name: '.a.conf.deployx-300-0123456789ab.tmp.bak', isFile: true, mtimeMs: old }, false],
    ['a plain .tmp file', { name: 'notes.tmp', isFile: true, mtimeMs: old }, false],
  ];
  for (const [name, candidate, expected] of rows) it(`${name} → ${expected ? 'remove' : 'keep'}`, () => assert.equal(isLeftoverTemp(candidate, judge), expected));
});

describe('removeLeftoverTemps (real files)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-temp-cleanup-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writeFileAtomic names its temp file with its pid', () => {
    assert.deepEqual(parseTempName(`.x.json.deployx-${process.pid}-0123456789ab.tmp`), { pid: process.pid });
  });

  it('removes only dead writers\' and stale temp files, never follows a symlink, leaves other directories alone', async () => {
    const managed = path.join(dir, 'managed');
    const other = path.join(dir, 'other');
    await mkdir(managed);
    await mkdir(other);
    await writeFileAtomic(path.join(managed, 'app.conf'), 'ok\n');
    const stale = new Date(Date.now() - 2 * TEMP_MIN_AGE_MS);
    await writeFile(path.join(managed, '.app.conf.deployx-999999999-0123456789ab.tmp'), 'partial');
    await writeFile(path.join(managed, '.app.conf.deployx-0123456789ab.tmp'), 'partial');
    await utimes(path.join(managed, '.app.conf.deployx-0123456789ab.tmp'), stale, stale);
    await writeFile(path.join(other, 'target'), 'not ours');
    await symlink(path.join(other, 'target'), path.join(managed, '.link.deployx-999999999-0123456789ab.tmp'));
    await writeFile(path.join(other, '.x.deployx-999999999-0123456789ab.tmp'), 'elsewhere');

    const removed = await removeLeftoverTemps([managed, managed, path.join(dir, 'missing')], { isRunning: () => false });
    assert.deepEqual(removed.map((f) => path.basename(f)).sort(), ['.app.conf.deployx-0123456789ab.tmp', '.app.conf.deployx-999999999-0123456789ab.tmp']);
    assert.deepEqual((await readdir(managed)).sort(), ['.link.deployx-999999999-0123456789ab.tmp', 'app.conf']);
    assert.deepEqual((await readdir(other)).sort(), ['.x.deployx-999999999-0123456789ab.tmp', 'target']);
  });
});
