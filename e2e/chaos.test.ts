// Chaos, with a fixed seed: a few real agents and a real server process, several commits in a
// row, and SIGKILLs of agents and of the server while scripts run and results are on their way.
// What must hold at the end (the loop's promises): no result lost (every spool empty, every
// finished job carries the agent's result), no script body run twice, no job left unfinished, and
// the files on every device equal to the last commit.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeRepo, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import { openSqliteStore } from '../reconciler/src/edges/store/sqlite-store.ts';
import { loadServerKeys } from '../reconciler/src/edges/keys/server-keys.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { PROJECT_ROOT, spawnAgent, tempDir, waitFor, type AgentProcess } from './harness.ts';
import { seededRandom as seeded } from '../schemas/seeded-random.ts';

const SEED = 0xdec0de;
const AGENTS = 4;
const ROUNDS = 5;
const API_TOKEN = 'dxa_chaos-test-admin-token-0123456789abcdef';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Round `n` of the fleet: a file and a script body that both name the round. */
function chaosFleet(round: number): FileTree {
  return {
    'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata:\n  name: chaos\nspec:\n  drift: enforce\n',
    'groups.yaml': 'apiVersion: deployx.dev/v1\nkind: Group\nmetadata:\n  name: all\nspec:\n  selector:\n    matchLabels: { role: chaos }\n',
    'files/app.conf': `round = ${round}\n`,
    'files.yaml': `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: app-conf
spec:
  path: /etc/chaos/app.conf
  source: files/app.conf
  mode: "0640"
`,
    'scripts/mark.sh':
      '#!/bin/sh\nset -eu\nmkdir -p "$DEPLOYX_ROOT/var/lib/chaos"\n' +
      `echo "start ${round}" >> "$DEPLOYX_ROOT/var/lib/chaos/runs"\nsleep 1\n` +
      `echo "end ${round}" >> "$DEPLOYX_ROOT/var/lib/chaos/runs"\n`,
    'scripts.yaml': `apiVersion: deployx.dev/v1
kind: Script
metadata:
  name: mark
spec:
  interpreter: sh
  source: scripts/mark.sh
  run: onChange
  timeoutSeconds: 30
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: chaos
spec:
  targets: [all]
  files: [app-conf]
  scripts: [mark]
`,
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface ServerProcess {
  child: ChildProcess;
  exited: Promise<unknown>;
}

async function startServerProcess(repo: string, dataDir: string, port: number): Promise<ServerProcess> {
  const out = createWriteStream(path.join(dataDir, 'server.log'), { flags: 'a' });
  const child = spawn(
    process.execPath,
    [path.join(PROJECT_ROOT, 'cli/bin/deployx.js'), 'serve', '--repo', repo, '--data', dataDir, '--port', String(port), '--poll', '1s'],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEPLOYX_API_TOKEN: API_TOKEN, DEPLOYX_LOG_LEVEL: 'debug' } },
  );
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the server to answer', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 60_000);
  return { child, exited };
}

async function killHard(proc: { child: ChildProcess; exited: Promise<unknown> }): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.exited;
}

interface JobView {
  id: string;
  deviceId: string;
  state: string;
  revision: string;
  result?: { status: string };
}

describe('chaos: SIGKILLs of agents and the server mid-rollout', { timeout: 420_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  test(`seed ${SEED}: ${AGENTS} agents, ${ROUNDS} commits — nothing lost, nothing run twice, nothing left hanging`, async () => {
    const random = seeded(SEED);
    const work = await tempDir('deployx-chaos-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), chaosFleet(0));
    const dataDir = path.join(work.dir, 'server');
    await mkdir(dataDir, { recursive: true });
    const store = await openSqliteStore({ file: path.join(dataDir, 'deployx.sqlite') });
    const { token } = await createEnrollmentToken(store, { serverKey: loadServerKeys(dataDir, { create: true }).current, name: 'chaos', labels: { role: 'chaos' } });
    await store.close();

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const api = async <T>(pathname: string): Promise<T> => {
      const res = await fetch(url + pathname, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      if (!res.ok) throw new Error(`${pathname}: HTTP ${res.status}`);
      return (await res.json()) as T;
    };
    let server = await startServerProcess(repo.dir, dataDir, port);
    cleanups.push(() => killHard(server));

    const agents: Array<{ proc: AgentProcess; state: string; root: string }> = [];
    for (let i = 0; i < AGENTS; i++) {
      const state = path.join(work.dir, `agent-${i}`, 'state');
      const root = path.join(work.dir, `agent-${i}`, 'root');
      agents.push({ proc: await spawnAgent({ server: url, token, stateDir: state, root }), state, root });
    }
    cleanups.push(async () => Promise.all(agents.map((a) => a.proc.kill('SIGKILL'))));
    await waitFor(`${AGENTS} devices enrolled`, async () => (await api<{ devices: unknown[] }>('/api/v1/devices')).devices.length === AGENTS, 60_000);

    for (let round = 1; round <= ROUNDS; round++) {
      await repo.commit(chaosFleet(round), `round ${round}`);
      // Let the poll pick the commit up and the scripts start, then strike.
      await sleep(1_200 + Math.floor(random() * 1_500));
      const victims = agents.filter(() => random() < 0.5);
      await Promise.all(victims.map((a) => a.proc.kill('SIGKILL')));
      if (round % 2 === 0) {
        await killHard(server);
        await sleep(Math.floor(random() * 800));
        server = await startServerProcess(repo.dir, dataDir, port);
      }
      await sleep(Math.floor(random() * 800));
      for (const victim of victims) victim.proc = await spawnAgent({ server: url, stateDir: victim.state, root: victim.root });
    }

    const lastRevision = await waitFor(
      'every device in sync at the last commit with no open job',
      async () => {
        const { devices } = await api<{ devices: Array<{ state: string; revision: string | null }> }>('/api/v1/devices');
        const { jobs } = await api<{ jobs: JobView[] }>('/api/v1/jobs?limit=1000');
        const head = jobs.map((j) => j.revision).sort().at(-1);
        const open = jobs.filter((j) => ['pending', 'dispatched', 'running'].includes(j.state));
        const files = await Promise.all(agents.map((a) => readFile(path.join(a.root, 'etc/chaos/app.conf'), 'utf8').catch(() => '')));
        return devices.length === AGENTS && devices.every((d) => d.state === 'in_sync') && open.length === 0 && files.every((f) => f === `round = ${ROUNDS}\n`) ? head : undefined;
      },
      180_000,
    );
    assert.ok(lastRevision);

    const { jobs } = await api<{ jobs: JobView[] }>('/api/v1/jobs?limit=1000');
    assert.deepEqual(jobs.filter((j) => ['pending', 'dispatched', 'running'].includes(j.state)), [], 'no unfinished job');
    for (const job of jobs.filter((j) => j.state !== 'cancelled')) {
      assert.ok(job.result, `job ${job.id} (${job.state}) has the agent's result`);
    }
    for (const [i, agent] of agents.entries()) {
      // The journal (agent/src/state/spool.ts): one record per job; none may be unfinished or
      // hold a result the server never acknowledged.
      const journal = path.join(agent.state, 'spool', 'jobs');
      const records = await Promise.all(
        (await readdir(journal)).filter((f) => f.endsWith('.json')).map(async (f) => JSON.parse(await readFile(path.join(journal, f), 'utf8')) as { jobId: string; state: string; acked: boolean }),
      );
      assert.deepEqual(records.filter((r) => r.state !== 'completed' || !r.acked).map((r) => `${r.jobId} ${r.state} acked=${r.acked}`), [], `agent ${i}: every result was acknowledged`);
      const runs = (await readFile(path.join(agent.root, 'var/lib/chaos/runs'), 'utf8')).split('\n').filter(Boolean);
      const counts = new Map<string, number>();
      for (const line of runs) counts.set(line, (counts.get(line) ?? 0) + 1);
      for (const [line, count] of counts) assert.equal(count, 1, `agent ${i}: "${line}" happened ${count} times (${runs.join(', ')})`);
      for (const line of runs.filter((l) => l.startsWith('start '))) {
        assert.ok(counts.has(line.replace('start', 'end')), `agent ${i}: a run that started ("${line}") finished`);
      }
      assert.ok(counts.has(`end ${ROUNDS}`), `agent ${i}: the last commit's script ran`);
      assert.equal(await readFile(path.join(agent.root, 'etc/chaos/app.conf'), 'utf8'), `round = ${ROUNDS}\n`);
    }
  });
});
