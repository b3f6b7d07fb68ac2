// `npm start` as the README says it (issue 13 item 3): the demo's simulated devices enroll as the
// declared devices they stand for — same names, MACs and OS families — so every Device in the
// example is enrolled (none left awaiting enrollment), kiosks get the kiosk profile, the Rocky
// build agents the RHEL baseline; the undeclared ones join groups by their labels. The real
// `deployx demo` process on a free port with its own directory.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT, tempDir, waitFor } from './harness.ts';

const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');
const run = promisify(execFile);
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Row {
  id: string;
  state: string;
  profiles: string[];
  groups: string[];
  os: { family?: string } | null;
}

test('the demo enrolls every declared device as itself, and the undeclared ones by selector', async () => {
  const work = await tempDir('deployx-demo-');
  cleanups.push(work.remove);
  const demo = spawn(process.execPath, [CLI, 'demo', '--port', '0', '--dir', path.join(work.dir, 'demo'), '--no-agent'], {
    cwd: work.dir,
    env: { ...process.env, DEPLOYX_RUNTIME_DIR: path.join(work.dir, 'runtime') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (demo.exitCode === null) {
      demo.kill('SIGINT');
      await new Promise((r) => demo.once('exit', r));
    }
  });
  const printed: string[] = [];
  const ready = new Promise<{ url: string; token: string }>((resolve, reject) => {
    demo.once('exit', (code) => reject(new Error(`deployx demo exited ${code}:\n${printed.join('\n')}`)));
    let url = '';
    let token = '';
    createInterface({ input: demo.stdout! }).on('line', (line) => {
      printed.push(line);
      url ||= /DeployX demo is running on (http:\/\/\S+)/.exec(line)?.[1] ?? '';
      token ||= /API token\s+(\S+)/.exec(line)?.[1] ?? '';
      // The banner's last line: everything above it has been printed.
      if (url && token && /^\s+stop\s+Ctrl-C$/.test(line)) resolve({ url, token });
    });
  });
  const { url, token } = await ready;
  assert.match(printed.join('\n'), /devices\s+15 declared in Git and 11 undeclared, simulated/);
  const devices = async () =>
    ((await (await fetch(`${url}/api/v1/devices`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { devices: Row[] }).devices;

  const rows = await waitFor(
    'every device enrolled and in sync',
    async () => {
      const all = await devices();
      return all.length === 26 && all.every((d) => d.state === 'in_sync') ? all : undefined;
    },
    90_000,
  ).catch(async (error: Error) => {
    const all = await devices();
    throw new Error(`${error.message}; now: ${all.map((d) => `${d.id}=${d.state}`).join(', ')}`);
  });
  const byId = new Map(rows.map((d) => [d.id, d]));
  for (const name of ['web-eu-01', 'web-us-02', 'db-eu-01', 'build-01', 'kiosk-eu-01', 'ws-eu-001', 'bastion-eu-01']) {
    assert.ok(byId.has(name), `${name} enrolled as itself`);
  }
  assert.ok(!rows.some((d) => /^web-eu-\d$/.test(d.id)), 'no made-up names standing in for declared devices');
  assert.deepEqual(byId.get('kiosk-eu-01')!.profiles.includes('kiosk'), true, `kiosk profile: ${byId.get('kiosk-eu-01')!.profiles}`);
  assert.equal(byId.get('build-01')!.os?.family, 'rocky');
  assert.ok(byId.get('build-01')!.groups.includes('rhel-family'), `build-01 groups: ${byId.get('build-01')!.groups}`);
  assert.ok(byId.get('web-eu-auto-1')!.groups.includes('web-servers') || byId.get('web-eu-auto-1')!.profiles.includes('web-server'), 'an undeclared web device joins by its labels');

  // A commit converges on every device it targets within 30 s, though the example's windows are
  // closed most of the week and it pauses between waves: the demo starts the waiting waves, and says so.
  const fleetRepo = path.join(work.dir, 'demo', 'fleet-repo');
  const git = (...args: string[]) => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: fleetRepo });
  const pg = path.join(fleetRepo, 'files', 'postgresql', '10-contoso.conf');
  await writeFile(pg, `${await readFile(pg, 'utf8')}# tuned by the demo test\n`);
  await git('commit', '--quiet', '--all', '--message', 'postgresql: a comment');
  const oid = (await git('rev-parse', 'HEAD')).stdout.trim();
  const committed = Date.now();
  await waitFor(
    'the database servers to converge on the commit',
    async () => {
      const all = await devices();
      const db = all.filter((d) => d.id.startsWith('db-'));
      return db.length === 2 && db.every((d) => d.state === 'in_sync' && (d as Row & { revision: string | null }).revision?.endsWith(oid));
    },
    30_000,
  );
  assert.ok(Date.now() - committed <= 30_000);
  assert.ok(printed.some((line) => /rollout ro-\S+ \(db-server\) waits: (outside its maintenance windows|pause between waves)/.test(line)) || printed.some((line) => line.includes('the demo starts it now')), printed.join('\n'));

  // A broken commit: the console says so, with the file and line, not only the server log.
  const kiosk = path.join(fleetRepo, 'profiles', 'kiosk.yaml');
  await writeFile(kiosk, (await readFile(kiosk, 'utf8')).replace('targets:', 'targetz:'));
  await git('commit', '--quiet', '--all', '--message', 'a typo');
  await waitFor('the rejection on the console', () => printed.some((line) => /✗ main@sha1:[0-9a-f]{40} rejected \(\d+ errors?\); the last good revision stays in force:/.test(line)), 30_000);
  await waitFor('its first error with file and line', () => printed.some((line) => line.includes(`${kiosk}:`) && /:\d+:\d+: schema\./.test(line)), 5_000);
});
