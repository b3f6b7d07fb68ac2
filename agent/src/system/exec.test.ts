import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAgentError } from '../errors.ts';
import { exec, tailUtf8 } from './exec.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-exec-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Running (not a zombie: in a container, PID 1 may never reap the orphans we killed). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('exec', () => {
  it('returns exit code, stdout and stderr', async () => {
    const r = await exec('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.timedOut, false);
    assert.equal(r.truncated, false);
  });

  it('passes arguments as data, never through a shell', async () => {
    const hostile = '$(touch pwned); `touch pwned2` && touch pwned3 ; echo "x"';
    const r = await exec('printf', ['%s', hostile], { cwd: dir });
    assert.equal(r.stdout, hostile);
    await assert.rejects(readFile(path.join(dir, 'pwned')), { code: 'ENOENT' });
  });

  it('feeds input on stdin, and uses the given env only', async () => {
    const r = await exec('/bin/sh', ['-c', 'read line; echo "$line/$ONLY/${HOME:-nohome}"'], {
      input: 'hello\n',
      env: { ONLY: 'yes', PATH: '/usr/bin:/bin' },
    });
    assert.equal(r.stdout, 'hello/yes/nohome\n');
  });

  it('kills the whole process group on timeout, grandchildren included', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const started = Date.now();
    const r = await exec('/bin/sh', ['-c', `sleep 30 & echo $! > ${pidFile}; sleep 30`], { timeoutMs: 500 });
    const elapsed = Date.now() - started;
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(elapsed < 3000, `took ${elapsed} ms`);
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await alive(grandchild), false, 'the background sleep was killed too');
  });

  it('SIGKILLs a group that ignores SIGTERM after the grace period', async () => {
    const r = await exec('/bin/sh', ['-c', "trap '' TERM; sleep 30"], { timeoutMs: 200, killGraceMs: 300 });
    assert.equal(r.timedOut, true);
    assert.ok(r.durationMs < 3000);
  });

  it('aborts on the signal', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const r = await exec('sleep', ['30'], { signal: controller.signal });
    assert.equal(r.aborted, true);
    assert.equal(r.timedOut, false);
    assert.ok(r.durationMs < 3000);
    const pre = await exec('sleep', ['30'], { signal: controller.signal });
    assert.equal(pre.aborted, true);
    assert.equal(pre.durationMs, 0);
  });

  it('keeps the tail of output over the cap', async () => {
    const r = await exec('/bin/sh', ['-c', 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done'], {
      maxOutputBytes: 1000,
    });
    assert.equal(r.truncated, true);
    assert.ok(Buffer.byteLength(r.stdout) <= 1000);
    assert.ok(r.stdout.endsWith('line 4999\n'));
    assert.ok(!r.stdout.includes('line 0\n'));
  });

  it('does not wait for a background child holding stdout open', async () => {
    const r = await exec('/bin/sh', ['-c', 'sleep 5 & echo started']);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'started\n');
    assert.ok(r.durationMs < 2000, `took ${r.durationMs} ms`);
  });

  it('rejects with exec.not-found for a missing program', async () => {
    await assert.rejects(exec('/nonexistent/deployx-nope', []), (e) => isAgentError(e, 'exec.not-found'));
  });

  it('rejects NUL bytes in arguments before spawning', async () => {
    await assert.rejects(exec('echo', ['a\0b']), (e) => isAgentError(e, 'exec.invalid'));
  });
});

describe('tailUtf8', () => {
  it('cuts on a character boundary', () => {
    const { text, truncated } = tailUtf8('ééééé', 5);
    assert.equal(truncated, true);
    assert.equal(text, 'éé');
  });
});
