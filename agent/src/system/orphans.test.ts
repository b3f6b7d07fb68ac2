import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec } from './exec.ts';
import { ChildRegistry, parseProcStat } from './orphans.ts';

const linux = process.platform === 'linux';
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-orphans-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('parseProcStat', () => {
  it('reads pgrp and start time past a comm with spaces and parentheses', () => {
    const stat = '4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200';
    assert.deepEqual(parseProcStat(stat), { state: 'S', pgrp: 4242, startTicks: '987654' });
  });
});

describe('ChildRegistry', { skip: !linux && 'needs /proc' }, () => {
  it('kills, on the next start, a process group recorded by a run that died', async () => {
    const stateDir = path.join(dir, 'a');
    const first = await ChildRegistry.open(stateDir);
    await first.reapOrphans();
    let pid = 0;
    // A script that outlives its agent: the registry records it, nobody removes it.
    const running = exec('/bin/sh', ['-c', 'sleep 30'], { onSpawn: (p) => void first.add((pid = p)) });
    while (pid === 0) await new Promise((r) => setTimeout(r, 5));
    await first.add(pid);
    const recorded = JSON.parse(await readFile(path.join(stateDir, 'children.json'), 'utf8'));
    assert.equal(recorded.children[0].pid, pid);

    const second = await ChildRegistry.open(stateDir);
    const outcomes = await second.reapOrphans();
    assert.deepEqual(outcomes, [{ pid, killed: true, reason: 'leader still running' }]);
    assert.equal(await waitDead(pid), true);
    assert.equal((await running).signal, 'SIGKILL');
    assert.deepEqual(JSON.parse(await readFile(path.join(stateDir, 'children.json'), 'utf8')).children, []);
  });

  it('never kills a process it cannot prove is the recorded one (other boot, reused pid)', async () => {
    const stateDir = path.join(dir, 'b');
    const controller = new AbortController();
    let pid = 0;
    const running = exec('/bin/sh', ['-c', 'sleep 30'], { onSpawn: (p) => (pid = p), signal: controller.signal });
    while (pid === 0) await new Promise((r) => setTimeout(r, 5));
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    await mkdir(stateDir, { recursive: true });
    await writeFile(
      path.join(stateDir, 'children.json'),
      JSON.stringify({
        version: 1,
        children: [
          { pid, bootId: 'another-boot', startTicks: '1', startedAt: '2025-01-01T00:00:00Z' },
          { pid, bootId, startTicks: '1', startedAt: '2025-01-01T00:00:00Z' },
        ],
      }),
    );
    const outcomes = await (await ChildRegistry.open(stateDir)).reapOrphans();
    assert.deepEqual(outcomes.map((o) => [o.killed, o.reason]), [
      [false, 'recorded in another boot'],
      [false, 'pid reused by another process'],
    ]);
    assert.equal(alive(pid), true);
    controller.abort();
    await running;
  });
});
