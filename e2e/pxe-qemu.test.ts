// Real iPXE in QEMU (software emulation, no disk): QEMU's user network hands the machine the
// reconciler's /pxe/boot.ipxe as its boot file, reached at the host's loopback (10.0.2.2). The
// assertions are on the server's side — what it recorded and served:
//   1. an unknown MAC: iPXE fetched the entry script and chained with ${net0/mac} (the server
//      logs and records the machine as discovered, platform and arch as iPXE reported them);
//   2. (armed first: build mode) after a commit adding a Device with that MAC: the next boot is served the profile's kernel
//      line with a one-time token — proven by iPXE downloading the kernel and initrd URLs the
//      script named, with a token the server accepted for that device's run (the kernel bytes are
//      fake: iPXE fails to execute them, which ends the install attempt);
//   3. once the device is provisioned: it is told to boot from disk (sanboot; with no disk
//      iPXE exits and QEMU, started with -no-reboot, quits by itself).
// Each QEMU run has a hard timeout and is killed in a finally. Serial console output is kept in
// e2e/artifacts/pxe-qemu/ (gitignored). Needs qemu-system-x86 and ipxe-qemu (.ci/run installs them).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { acceptStep } from '../reconciler/src/core/pxe/task-progress.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { PROJECT_ROOT, api, startTestServer, tempDir, waitFor } from './harness.ts';
import { INITRD, KERNEL, pxeFleet, sha256 } from '../pxe/test/pxe-fleet.ts';

const runFile = promisify(execFile);

const QEMU = 'qemu-system-x86_64';
const hasQemu = spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
const ARTIFACTS = path.join(PROJECT_ROOT, 'e2e', 'artifacts', 'pxe-qemu');
const MAC = '52:54:00:de:5e:01';
const BOOT_TIMEOUT_MS = 120_000;

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

async function serverLog(file: string): Promise<LogLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

interface BootResult {
  /** Seconds from QEMU's start until `done` held. */
  seconds: number;
  exitedByItself: boolean;
  console: string;
}

/**
 * Boots a VM until `done()` is true (polled), then stops it (or lets it quit by itself when
 * `waitForExitMs` is given). Always killed by the end, whatever happens.
 */
async function boot(name: string, port: number, done: () => Promise<boolean>, waitForExitMs = 0): Promise<BootResult> {
  await mkdir(ARTIFACTS, { recursive: true });
  const consoleFile = path.join(ARTIFACTS, `${name}.log`);
  const out = createWriteStream(consoleFile);
  const started = Date.now();
  const child: ChildProcess = spawn(
    QEMU,
    [
      '-nographic',
      '-m', '256',
      '-boot', 'order=n,reboot-timeout=0',
      '-no-reboot',
      '-netdev', `user,id=n0,bootfile=http://10.0.2.2:${port}/pxe/boot.ipxe`,
      '-device', `e1000,netdev=n0,mac=${MAC}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let consoleText = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    consoleText += chunk.toString('latin1');
    out.write(chunk);
  });
  child.stderr!.pipe(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedByItself = false;
  void exited.then(() => (exitedByItself = true));
  try {
    await waitFor(`${name}: the server's view of the boot`, async () => (await done()) || (exitedByItself ? Promise.reject(new Error('QEMU exited early')) : false), BOOT_TIMEOUT_MS);
    const seconds = (Date.now() - started) / 1000;
    if (waitForExitMs > 0) await Promise.race([exited, new Promise((r) => setTimeout(r, waitForExitMs))]);
    return { seconds, exitedByItself, console: consoleText };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    out.end();
  }
}

test('PXE boot in QEMU: discovered, then installed after a commit, then booted from disk', { skip: hasQemu ? false : `${QEMU} is not installed here (CI installs qemu-system-x86 and ipxe-qemu through .ci/run)`, timeout: 420_000 }, async () => {
  const tmp = await tempDir('deployx-pxe-qemu-');
  const logFile = path.join(tmp.dir, 'server.log');
  const repo = await makeRepo(path.join(tmp.dir, 'repo'), pxeFleet());
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(tmp.dir, 'data'), logFile });
  try {
    await waitFor('the first revision', () => server.reconciler.revision);
    const port = Number(new URL(server.url).port);
    const boots = async () => (await serverLog(logFile)).filter((l) => l.msg === 'pxe boot' && l.mac === MAC);

    // 1. Unknown machine.
    const first = await boot('1-unknown', port, async () => (await boots()).length >= 1);
    const [seen] = await boots();
    assert.equal(seen?.decision, 'wait:unknown-machine');
    assert.equal(seen?.platform, 'pcbios', 'iPXE expanded ${platform} in the entry script');
    const discovered = await api<{ machines: Array<{ mac: string; platform?: string; buildarch?: string; boots: number }> }>(server, '/api/v1/provisioning/discovered');
    const machine = discovered.machines.find((m) => m.mac === MAC);
    assert.ok(machine, 'the MAC is listed as discovered');
    assert.equal(machine.platform, 'pcbios');
    assert.ok(machine.buildarch === 'i386' || machine.buildarch === 'x86_64');
    console.log(`qemu boot → script fetched with the MAC: ${first.seconds.toFixed(1)} s`);

    // 2. Adopt it in Git and arm it (build mode, as an operator does): the next boot installs.
    const before = server.reconciler.revision;
    await repo.commit(pxeFleet({ device: { name: 'web-1', mac: MAC, site: 'lab' } }), 'adopt web-1');
    server.reconciler.enqueueSource();
    await waitFor('the commit adding web-1', () => server.reconciler.revision !== before);
    const armed = await runFile(process.execPath, [path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js'), 'device', 'provision', 'web-1', '--for', '1h', '--server', server.url], {
      env: { ...process.env, DEPLOYX_API_TOKEN: server.apiToken },
      cwd: PROJECT_ROOT,
    });
    assert.match(armed.stdout, /armed web-1/);
    const artifacts = async () => (await serverLog(logFile)).filter((l) => l.msg === 'pxe artifact served' && l.device === 'web-1');
    const second = await boot('2-install', port, async () => {
      const served = new Set((await artifacts()).map((l) => l.sha256));
      return served.has(sha256(KERNEL)) && served.has(sha256(INITRD));
    });
    const installBoot = (await boots()).at(-1)!;
    assert.equal(installBoot.decision, 'install');
    assert.equal(installBoot.device, 'web-1');
    const timeline = await api<{ state: string; runs: Array<{ id: string; status: string; hostname: string }> }>(server, '/api/v1/devices/web-1/provisioning');
    assert.equal(timeline.state, 'provisioning');
    assert.equal(timeline.runs[0]?.hostname, 'web-lab-01');
    const runId = timeline.runs[0]!.id;
    assert.ok((await artifacts()).every((l) => l.run === runId), 'iPXE fetched the kernel and initrd with the run\'s token');
    // The console shows the script's echo and iPXE's download of the kernel (it prints URLs
    // without their query, wrapped at 80 columns).
    const shown = second.console.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r?\n/g, '');
    assert.match(shown, /DeployX: installing debian-12 on web-1 \(web-lab-01\)/);
    assert.ok(shown.includes(`/pxe/v1/artifacts/sha256/${sha256(KERNEL)}... ok`), 'the console shows the kernel download');
    console.log(`qemu boot → kernel and initrd fetched with the token: ${second.seconds.toFixed(1)} s`);

    // 3. The runner finishes (recorded through the store, as the task API does), then disk boot.
    for (let index = 0; index < 6; index++) {
      const outcome = await server.store.recordProvisioningStep({ runId, index, status: 'succeeded', at: new Date().toISOString() }, acceptStep);
      assert.equal(outcome.outcome, 'recorded');
    }
    assert.equal((await api<{ state: string }>(server, '/api/v1/devices/web-1/provisioning')).state, 'provisioned');
    const third = await boot('3-provisioned', port, async () => (await boots()).length >= 3, 30_000);
    assert.equal((await boots()).at(-1)?.decision, 'local-disk:provisioned');
    console.log(`qemu boot → told to boot from disk: ${third.seconds.toFixed(1)} s; QEMU quit by itself: ${third.exitedByItself}`);
    assert.equal((await artifacts()).length, 2, 'no kernel was fetched on the provisioned boot');
  } finally {
    await server.close();
    await tmp.remove();
  }
});
