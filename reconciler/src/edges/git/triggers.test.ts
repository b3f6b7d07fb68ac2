import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPoll, watchLocalRefs } from './triggers.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type TestRepo } from './test-repo.ts';

/** Resolves when `count()` reaches `n`, rejects after `ms`. */
async function waitFor(count: () => number, n: number, ms: number): Promise<number> {
  const started = performance.now();
  while (count() < n) {
    if (performance.now() - started > ms) throw new Error(`waited ${ms} ms for ${n} calls, got ${count()}`);
    await sleep(10);
  }
  return performance.now() - started;
}

describe('startPoll', () => {
  it('ticks every interval and stops', async () => {
    let ticks = 0;
    const stop = startPoll(10, () => {
      ticks++;
    });
    await waitFor(() => ticks, 3, 2000);
    stop();
    const atStop = ticks;
    await sleep(60);
    assert.equal(ticks, atStop);
  });

  it('never overlaps a slow tick and goes on after a failing one', async () => {
    let running = 0;
    let maxRunning = 0;
    let ticks = 0;
    const errors: unknown[] = [];
    const stop = startPoll(
      1,
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(20);
        running--;
        ticks++;
        if (ticks === 1) throw new Error('first tick fails');
      },
      { onError: (err) => errors.push(err) },
    );
    await waitFor(() => ticks, 4, 2000);
    stop();
    assert.equal(maxRunning, 1);
    assert.equal(errors.length, 1);
  });

  it('does not tick after a stop made during a tick', async () => {
    let ticks = 0;
    let stop: () => void = () => undefined;
    stop = startPoll(5, async () => {
      ticks++;
      stop();
      await sleep(5);
    });
    await sleep(80);
    assert.equal(ticks, 1);
  });
});

describe('watchLocalRefs', () => {
  let tmp: string;
  let repo: TestRepo;

  before(async () => {
    tmp = await makeTempDir('deployx-watch-');
    repo = await makeRepo(join(tmp, 'work'), { 'fleet.yaml': 'kind: Fleet\n' });
  });

  after(async () => {
    await removeDir(tmp);
  });

  it('fires after a commit, after git pack-refs, and not after close', async (t) => {
    let calls = 0;
    const close = await watchLocalRefs(repo.dir, 'main', () => calls++);
    try {
      await repo.commit({ 'a.txt': 'a\n' });
      t.diagnostic(`commit noticed after ${(await waitFor(() => calls, 1, 3000)).toFixed(0)} ms`);

      // pack-refs deletes refs/heads/main; the next commit creates it again.
      await runGit(repo.dir, ['pack-refs', '--all']);
      await sleep(300);
      const beforeCommit = calls;
      await repo.commit({ 'b.txt': 'b\n' });
      await waitFor(() => calls, beforeCommit + 1, 3000);
    } finally {
      await close();
    }
    const atClose = calls;
    await repo.commit({ 'c.txt': 'c\n' });
    await sleep(400);
    assert.equal(calls, atClose);
  });

  it('fires when a push lands in a bare repository, for a branch with a slash', async () => {
    const bare = join(tmp, 'bare.git');
    await runGit(tmp, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
    let calls = 0;
    const close = await watchLocalRefs(bare, 'release/v1', () => calls++);
    try {
      await runGit(repo.dir, ['push', '--quiet', bare, 'main:main']);
      await sleep(400);
      assert.equal(calls, 0, 'another branch');
      await runGit(repo.dir, ['push', '--quiet', bare, 'main:release/v1']);
      await waitFor(() => calls, 1, 3000);
    } finally {
      await close();
    }
  });

  it('refuses a path that is not a repository', async () => {
    await assert.rejects(watchLocalRefs(join(tmp, 'nowhere'), 'main', () => undefined), { code: 'git.repository-not-found' });
  });
});
