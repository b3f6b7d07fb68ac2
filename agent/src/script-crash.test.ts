// Scripts at most once across an agent crash, with REAL agent processes (`deployx agent`, an
// argument array, no shell) against the recording protocol server: the agent is SIGKILLed while
// its script runs; the restarted agent must wait for the orphan and report its real exit, or —
// when the orphan vanished without an exit status — report `interrupted` instead of running the
// script a second time, unless the step declares `onInterrupt: rerun`.
//
// The scripts wait for a release file the test creates, so no step depends on a sleep's length.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Job, Step } from '../../schemas/protocol.ts';
import { parseProcStat } from './system/orphans.ts';
import { startProtocolServer, type ProtocolServer } from './test-support/protocol-server.ts';
import { pinnedToken } from './test-support/server-key.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');
const TOKEN = pinnedToken('crash-token-0123456789');

interface AgentProcess {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let dir: string;
const children: ChildProcess[] = [];
const servers: ProtocolServer[] = [];
const groups: number[] = [];

before(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-script-crash-')));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function startAgent(args: string[], token?: string): AgentProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DEPLOYX_ENROLLMENT_TOKEN;
  if (token !== undefined) env.DEPLOYX_ENROLLMENT_TOKEN = token;
  const child = spawn(process.execPath, [CLI, 'agent', ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => lines.push(`stderr: ${chunk}`));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, exited };
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Writes its process id, appends `start`, waits for `release`, appends `end`. `runs.log` tells
 * how many times the body started and finished.
 */
const BODY = [
  'echo $$ > "$DEPLOYX_ROOT/script.pid"',
  'echo start >> "$DEPLOYX_ROOT/runs.log"',
  'while [ ! -e "$DEPLOYX_ROOT/release" ]; do sleep 0.05; done',
  'echo end >> "$DEPLOYX_ROOT/runs.log"',
  '',
].join('\n');

interface Scenario {
  server: ProtocolServer;
  root: string;
  args: string[];
  deviceId: string;
  job: Job;
}

/** Enrolls a real agent, sends it one script job and SIGKILLs the agent while the script runs. */
async function killAgentMidScript(name: string, step: Partial<Extract<Step, { action: 'script.run' }>>): Promise<Scenario> {
  const server = await startProtocolServer({ tokens: [TOKEN] });
  servers.push(server);
  const stateDir = path.join(dir, name, 'state');
  const root = path.join(dir, name, 'root');
  await mkdir(root, { recursive: true });
  const args = ['--server', server.url, '--state', stateDir, '--root', root, '--heartbeat', '60s'];
  const first = startAgent(args, TOKEN);
  await server.waitFor(() => server.reports.length >= 1, 30_000, 'the first report');
  const deviceId = server.enrollments[0]!.deviceId;

  const bytes = Buffer.from(BODY);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  server.blobs.set(sha256, bytes);
  const job: Job = {
    id: `job-${name}`,
    deviceId,
    revision: 'main@sha1:c0ffee',
    idempotencyKey: `key-${name}`,
    steps: [
      {
        action: 'script.run',
        key: 'script/slow',
        interpreter: 'sh',
        sha256,
        run: 'once',
        timeoutSeconds: 120,
        successExitCodes: [0],
        ...step,
      } as Step,
    ],
    createdAt: '2025-01-01T00:00:00Z',
  };
  assert.deepEqual(await server.dispatch(job), { ok: true });
  await waitUntil('the script to start', async () => (await runsLog(root)).includes('start'));
  const pid = Number((await readFile(path.join(root, 'script.pid'), 'utf8')).trim());
  const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  assert.ok(stat, 'the script is running');
  groups.push(stat.pgrp);
  first.child.kill('SIGKILL');
  assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(server.resultEvents.length, 0, 'no result before the crash');
  return { server, root, args, deviceId, job };
}

async function runsLog(root: string): Promise<string[]> {
  return (await readFile(path.join(root, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
}

async function scriptGroup(root: string): Promise<number> {
  const pid = Number((await readFile(path.join(root, 'script.pid'), 'utf8')).trim());
  return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'))!.pgrp;
}

describe('a script interrupted by an agent SIGKILL', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  it('is waited for, not run again: the restarted agent reports the orphan\'s real exit', async () => {
    const s = await killAgentMidScript('waited', {});
    const second = startAgent(s.args);
    await s.server.waitFor(() => s.server.reports.length >= 2, 30_000, 'a report from the restarted agent');
    // The restarted agent is up and the orphan is still waiting for its release: no re-run.
    assert.deepEqual(await runsLog(s.root), ['start']);
    await writeFile(path.join(s.root, 'release'), '');
    await s.server.waitFor(() => s.server.results.has(s.job.idempotencyKey), 30_000, 'the result after restart');

    const result = s.server.results.get(s.job.idempotencyKey)!;
    assert.equal(result.status, 'succeeded', JSON.stringify(result));
    assert.equal(result.steps[0]!.status, 'succeeded');
    assert.equal(result.steps[0]!.exitCode, 0);
    assert.deepEqual(await runsLog(s.root), ['start', 'end'], `agent log: ${second.lines.join('\n')}`);
    assert.equal(s.server.resultEvents.filter((e) => e.result.idempotencyKey === s.job.idempotencyKey).length, 1);
    // The observed script carries the run the orphan finished.
    const observed = result.observed.find((o) => o.key === 'script/slow');
    assert.equal(observed?.type === 'script' ? observed.appliedSha256 : undefined, (s.job.steps[0] as { sha256: string }).sha256);
  });

  it('vanished without an exit status: reported interrupted, never silently re-run', async () => {
    const s = await killAgentMidScript('vanished', {});
    const pgid = await scriptGroup(s.root);
    process.kill(-pgid, 'SIGKILL');
    await waitUntil('the orphan to be gone', async () => !(await readFile(`/proc/${pgid}/stat`, 'utf8').then(() => true, () => false)));
    await writeFile(path.join(s.root, 'release'), '');
    startAgent(s.args);
    await s.server.waitFor(() => s.server.results.has(s.job.idempotencyKey), 30_000, 'the result after restart');

    const result = s.server.results.get(s.job.idempotencyKey)!;
    assert.equal(result.steps[0]!.status, 'interrupted', JSON.stringify(result));
    assert.equal(result.status, 'failed');
    assert.match(result.steps[0]!.error ?? '', /^script\.interrupted:/);
    assert.deepEqual(await runsLog(s.root), ['start'], 'the body ran once');

    // A later job for the same body is not a way around it: still interrupted, still not run.
    const again: Job = { ...s.job, id: 'job-vanished-2', idempotencyKey: 'key-vanished-2' };
    assert.deepEqual(await s.server.dispatch(again), { ok: true });
    await s.server.waitFor(() => s.server.results.has('key-vanished-2'), 30_000, 'the second result');
    assert.equal(s.server.results.get('key-vanished-2')!.steps[0]!.status, 'interrupted');
    assert.deepEqual(await runsLog(s.root), ['start']);
  });

  it('vanished, with onInterrupt: rerun declared: runs again', async () => {
    const s = await killAgentMidScript('rerun', { onInterrupt: 'rerun' } as Partial<Extract<Step, { action: 'script.run' }>>);
    const pgid = await scriptGroup(s.root);
    process.kill(-pgid, 'SIGKILL');
    await waitUntil('the orphan to be gone', async () => !(await readFile(`/proc/${pgid}/stat`, 'utf8').then(() => true, () => false)));
    await writeFile(path.join(s.root, 'release'), '');
    startAgent(s.args);
    await s.server.waitFor(() => s.server.results.has(s.job.idempotencyKey), 30_000, 'the result after restart');

    const result = s.server.results.get(s.job.idempotencyKey)!;
    assert.equal(result.status, 'succeeded', JSON.stringify(result));
    assert.equal(result.steps[0]!.status, 'succeeded');
    assert.deepEqual(await runsLog(s.root), ['start', 'start', 'end'], 'interrupted once, then run again to the end');
  });
});
