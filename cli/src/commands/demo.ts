// deployx demo (npm start): the example fleet, served from a Git repository made for the demo,
// with the embedded SQLite store, a simulated agent for every declared Device (as that device) and
// a few undeclared ones whose labels match the example's groups,
// and one real agent confined to a sandbox directory. Everything lives under .deployx/demo.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { startSimulation, type Simulation } from '../../../agent/src/simulator/index.ts';
import type { SimulatedOs } from '../../../agent/src/simulator/facts.ts';
import type { FleetModel } from '../../../reconciler/src/core/model.ts';
import { createUser } from '../../../reconciler/src/actions/users.ts';
import { loadServerConfig } from '../../../reconciler/src/config.ts';
import { createLogger } from '../../../schemas/log.ts';
import { startServer } from '../../../reconciler/src/main.ts';
import type { CommandIo } from '../io.ts';
import { announceServer } from '../running-server.ts';
import { createEnrollmentToken } from './token.ts';

const run = promisify(execFile);
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Undeclared simulated devices per role: token labels put them in the example's groups by
 * selector. Every Device the example declares also gets a simulated agent of its own (below).
 */
const FLEET: Array<{ name: string; count: number; labels: Record<string, string> }> = [
  { name: 'web-eu-auto', count: 4, labels: { role: 'web', site: 'eu', env: 'prod' } },
  { name: 'web-us-auto', count: 4, labels: { role: 'web', site: 'us', env: 'prod' } },
  { name: 'desk-eu-auto', count: 3, labels: { role: 'desktop', site: 'eu', env: 'prod' } },
];

/** The OS a declared device's simulated agent reports, by its role label (as the example describes them). */
const OS_BY_ROLE: Record<string, SimulatedOs> = { build: 'rocky', desktop: 'windows', kiosk: 'windows', db: 'debian', bastion: 'debian', web: 'ubuntu' };

export const HELP = `usage: deployx demo [--port 8080] [--dir .deployx/demo] [--no-agent] [--keep-windows]

The example fleet (fleet-repo-example) in a Git repository made for the demo, served with the
embedded SQLite store; a simulated agent for every Device the example declares (enrolled as that
device: its name, MAC and OS) and a few undeclared ones that join groups by their labels; one real
agent confined to a sandbox directory (--no-agent: none). Everything lives under --dir, which is
emptied at start. Stop with Ctrl-C.
  --port N     the dashboard and agent port on 127.0.0.1 (default 8080)
  --dir DIR    where the demo's repository, data dir and logs live (default .deployx/demo)
  --no-agent   only simulated devices
  --keep-windows  let rollouts wait for the example's maintenance windows and pauses between
               waves (by default the demo starts a waiting wave at once, as an operator can with
               "deployx rollout start-now", and says so)`;

export async function runDemo(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string', default: '8080' }, dir: { type: 'string', default: '.deployx/demo' }, 'no-agent': { type: 'boolean' }, 'keep-windows': { type: 'boolean' } },
  });
  const root = path.resolve(io.cwd, values.dir);
  await rm(root, { recursive: true, force: true });
  const repo = path.join(root, 'fleet-repo');
  await cp(path.join(PROJECT_ROOT, 'fleet-repo-example'), repo, { recursive: true });
  const git = (...a: string[]) =>
    run('git', a, {
      cwd: repo,
      env: { ...process.env, GIT_AUTHOR_NAME: 'DeployX Demo', GIT_AUTHOR_EMAIL: 'demo@deployx.invalid', GIT_COMMITTER_NAME: 'DeployX Demo', GIT_COMMITTER_EMAIL: 'demo@deployx.invalid' },
    });
  await git('init', '--quiet', '--initial-branch=main');
  await git('add', '-A');
  await git('commit', '--quiet', '-m', 'Example fleet');

  const config = loadServerConfig({ repo, data: path.join(root, 'server'), port: values.port, poll: '5s' }, process.env, io.cwd);
  // The console shows the summary; the server's JSON logs go to a file.
  await mkdir(root, { recursive: true });
  const logFile = path.join(root, 'server.log');
  const logStream = createWriteStream(logFile, { flags: 'a' });
  // A rejected revision is printed with its first errors: the console is where a demo user looks.
  let printRejected: (revision: string) => void = () => {};
  const server = await startServer(config, {
    log: createLogger({ level: 'info', write: (line) => logStream.write(line + '\n') }),
    onEvent: (event) => {
      if (event.type === 'revision' && event.status === 'rejected') printRejected(event.revision);
    },
  });
  printRejected = (revision) => void reportRejected(server.store, revision, repo, io);
  // deployx token, user, rollout … run on this machine find the demo's server (running-server.ts).
  const unannounce = announceServer({ url: server.url, dataDir: config.dataDir });
  const simulations: Simulation[] = [];
  let declaredCount = 0;
  let agent: ChildProcess | undefined;
  const stop = async () => {
    unannounce();
    agent?.kill('SIGTERM');
    await Promise.all(simulations.map((s) => s.stop()));
    await server.close();
  };

  try {
    // The declared devices enroll as themselves: a token bound to each, its name, MACs and OS.
    const model = await acceptedModel(server, logFile);
    for (const [name, { doc }] of [...model.devices].sort(([a], [b]) => a.localeCompare(b))) {
      const labels = { ...(doc.metadata.labels ?? {}) };
      const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: `demo-${name}`, device: name, labels, maxUses: 1 });
      simulations.push(
        await startSimulation({
          server: server.url,
          agents: 1,
          token,
          prefix: name,
          labels,
          identities: [{ name, macs: doc.spec.macAddresses ?? [], os: OS_BY_ROLE[labels.role ?? ''] ?? 'debian' }],
          stateDir: path.join(root, 'simulator', name),
          latencyMs: 150,
          heartbeatMs: 15_000,
        }),
      );
    }
    declaredCount = model.devices.size;
    for (const group of FLEET) {
      const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: `demo-${group.name}`, labels: group.labels, maxUses: group.count });
      simulations.push(
        await startSimulation({
          server: server.url,
          agents: group.count,
          token,
          prefix: group.name,
          labels: group.labels,
          stateDir: path.join(root, 'simulator', group.name),
          latencyMs: 150,
          heartbeatMs: 15_000,
        }),
      );
    }
    if (!values['no-agent']) {
      const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'demo-sandbox', labels: { role: 'sandbox' }, maxUses: 1 });
      await mkdir(path.join(root, 'sandbox'), { recursive: true });
      agent = spawn(
        process.execPath,
        [path.join(PROJECT_ROOT, 'cli/bin/deployx.js'), 'agent', '--server', server.url, '--token', token, '--state', path.join(root, 'agent'), '--root', path.join(root, 'sandbox'), '--heartbeat', '10s'],
        { stdio: 'ignore' },
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  // The first admin, for the dashboard: a fresh password each start, printed once.
  const adminPassword = randomBytes(12).toString('base64url');
  await createUser(server.store, { name: 'admin', role: 'admin', password: adminPassword, replace: true });

  io.out('');
  io.out(`DeployX demo is running on ${server.url}`);
  io.out(`  dashboard          ${server.url}/   log in as admin / ${adminPassword}`);
  io.out(`  fleet repository   ${repo}   (commit there: the server picks it up within seconds)`);
  io.out(`  server log         ${logFile}`);
  io.out(`  API token          ${server.apiToken}`);
  io.out(`  try                curl -H "Authorization: Bearer ${server.apiToken}" ${server.url}/api/v1/stats`);
  io.out(`  devices            ${declaredCount} declared in Git and ${FLEET.reduce((n, g) => n + g.count, 0)} undeclared, simulated${agent ? '; 1 real agent writing under ' + path.join(root, 'sandbox') : ''}`);
  io.out('  stop               Ctrl-C');
  io.out('');

  // The example fleet keeps its windows (weeknights, Amsterdam) and pauses between waves as a
  // real team writes them; the demo starts a waiting wave at once, through the API as an operator
  // would, and prints that it did: a commit converges in seconds, and nothing is hidden.
  const started = new Set<string>();
  const starter = values['keep-windows']
    ? undefined
    : setInterval(() => void startWaitingWaves(server.url, server.apiToken, started, io), 2_000);
  const summary = setInterval(async () => {
    try {
      const stats = (await (await fetch(`${server.url}/api/v1/stats`, { headers: { authorization: `Bearer ${server.apiToken}` } })).json()) as {
        devices: { total: number; online: number; byState: Record<string, number> };
        jobs: Record<string, number>;
      };
      const s = stats.devices.byState;
      io.out(
        `[${new Date().toISOString().slice(11, 19)}] devices ${stats.devices.total} (online ${stats.devices.online}): in sync ${s.in_sync}, converging ${s.converging}, drifted ${s.drifted}, failed ${s.failed}, unknown ${s.unknown} | jobs succeeded ${stats.jobs.succeeded ?? 0}, failed ${stats.jobs.failed ?? 0}`,
      );
    } catch {
      // the next tick tries again
    }
  }, 5_000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(summary);
  clearInterval(starter);
  await stop();
  return 0;
}

const DEMO_REASON = 'deployx demo: a waiting wave starts at once so that a commit converges in seconds (the example keeps its windows and pauses as written)';

/** Starts now every wave a window or a pause holds, once per wave, and says so on the console. */
async function startWaitingWaves(url: string, token: string, started: Set<string>, io: CommandIo): Promise<void> {
  try {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const { rollouts } = (await (await fetch(`${url}/api/v1/rollouts?status=progressing`, { headers })).json()) as {
      rollouts: Array<{ id: string; profile: string | null; waiting: { kind: string; reason: string; wave: number | null } | null }>;
    };
    for (const r of rollouts) {
      if (!r.waiting || (r.waiting.kind !== 'window' && r.waiting.kind !== 'pause')) continue;
      const key = `${r.id}:${r.waiting.wave}`;
      if (started.has(key)) continue;
      started.add(key);
      io.out(`[${new Date().toISOString().slice(11, 19)}] rollout ${r.id} (${r.profile ?? 'fleet'}) waits: ${r.waiting.reason}`);
      const res = await fetch(`${url}/api/v1/rollouts/${encodeURIComponent(r.id)}/start-now`, { method: 'POST', headers, body: JSON.stringify({ reason: DEMO_REASON }) });
      io.out(
        res.ok
          ? `           the demo starts it now, as an operator can: deployx rollout start-now ${r.id} --reason "…" (npm start -- --keep-windows to watch it wait)`
          : `           starting it now was refused (HTTP ${res.status}); it waits`,
      );
    }
  } catch {
    // the next tick tries again
  }
}

/** The first accepted revision's model (the demo's repository is valid; a few seconds at most). */
async function acceptedModel(server: Awaited<ReturnType<typeof startServer>>, logFile: string): Promise<FleetModel> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const model = server.reconciler.model;
    if (model) return model;
    if (Date.now() > deadline) throw new Error(`the example fleet was not accepted within a minute; its errors are in ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `✗ main@sha1:… rejected (N errors): file:line:col code message` for the first three errors. */
async function reportRejected(store: Awaited<ReturnType<typeof startServer>>['store'], revision: string, repo: string, io: CommandIo): Promise<void> {
  const oid = revision.slice(revision.lastIndexOf(':') + 1);
  const record = await store.getRevision(oid).catch(() => undefined);
  const stamp = new Date().toISOString().slice(11, 19);
  if (!record) {
    io.out(`[${stamp}] ✗ ${revision} rejected (its errors are in the server log)`);
    return;
  }
  io.out(`[${stamp}] ✗ ${revision} rejected (${record.errorCount} error${record.errorCount === 1 ? '' : 's'}); the last good revision stays in force:`);
  for (const e of record.errors.slice(0, 3)) io.out(`    ${path.join(repo, e.file)}:${e.line}:${e.col}: ${e.code}: ${e.message}`);
  if (record.errorCount > 3) io.out(`    … and ${record.errorCount - 3} more (deployx validate ${repo})`);
}
