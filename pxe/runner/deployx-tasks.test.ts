// The POSIX sh task runner driven against a live server: a real `sh deployx-tasks.sh` child
// process, a real git repository and server, a fake-but-real root directory standing in for the
// installer's /target, and (install-agent) a real `deployx agent` that must enroll as the device.
import { parseEnrollmentToken } from '../../schemas/enrollment-token.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeRepo } from '../../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../../reconciler/src/main.ts';
import { PROJECT_ROOT, api, startTestServer, tempDir, waitFor } from '../../e2e/harness.ts';
import { pxeFleet } from '../test/pxe-fleet.ts';

const RUNNER = path.join(PROJECT_ROOT, 'pxe', 'runner', 'deployx-tasks.sh');
const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');
const MAC = '52:54:00:12:34:01';

interface Timeline {
  state: string | null;
  runs: Array<{ id: string; status: string; hostname: string }>;
  steps: Array<{ index: number; type: string; status: string; exitCode?: number; log?: string }>;
}

async function setup(prefix: string, scriptExit?: number) {
  const tmp = await tempDir(prefix);
  const repo = await makeRepo(path.join(tmp.dir, 'repo'), pxeFleet({ device: { name: 'web-1', mac: MAC, site: 'lab' }, ...(scriptExit ? { scriptExit } : {}) }));
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(tmp.dir, 'data') });
  await waitFor('the first revision', () => server.reconciler.revision);
  const root = path.join(tmp.dir, 'target');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  // Build mode: an operator arms web-1; its next boot (what iPXE would fetch) carries the run's one-time token.
  await arm(server);
  const res = await fetch(`${server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(MAC)}&platform=pcbios&buildarch=i386`);
  const script = await res.text();
  const token = /^set token (dxp_\S+)$/m.exec(script)?.[1];
  assert.ok(token, `the install script carries a token:\n${script}`);
  return { tmp, server, root, token };
}

/** Arms web-1 for one install boot, as `deployx device provision web-1` does. */
async function arm(server: { url: string; apiToken: string }): Promise<void> {
  const res = await fetch(`${server.url}/api/v1/devices/web-1/provisioning/arm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiToken}`, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 200, await res.text());
}

function runRunner(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', [RUNNER, ...args], { timeout: 120_000, env: { ...process.env, TMPDIR: process.env.TMPDIR ?? '/tmp' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('sh task runner against a live server', { timeout: 180_000 }, () => {
  let env: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    env = await setup('deployx-runner-ok-');
  });
  after(async () => {
    const pid = await readFile(path.join(env.root, 'run', 'deployx-agent.pid'), 'utf8').catch(() => '');
    if (/^\d+\s*$/.test(pid)) {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await env.server.close();
    await env.tmp.remove();
  });

  test('every task runs in order, the device is provisioned, and its agent enrolls as that device', async () => {
    const started = Date.now();
    const run = await runRunner(['--server', env.server.url, '--token', env.token, '--root', env.root, '--no-reboot', '--agent-bin', CLI, '--agent-sandbox']);
    assert.equal(run.code, 0, `runner failed:\n${run.stdout}\n${run.stderr}`);
    const timeline = await api<Timeline>(env.server, '/api/v1/devices/web-1/provisioning');
    assert.deepEqual(
      timeline.steps.map((s) => `${s.index}:${s.type}:${s.status}`),
      [0, 1, 2, 3, 4, 5].flatMap((i) => {
        const type = ['partition', 'apply-image', 'inject-config', 'install-agent', 'run-script', 'reboot'][i];
        return [`${i}:${type}:started`, `${i}:${type}:succeeded`];
      }),
    );
    assert.equal(timeline.runs[0]?.status, 'succeeded');
    assert.equal(timeline.runs[0]?.hostname, 'web-lab-01');
    // The installer-side effects, on disk.
    assert.equal(await readFile(path.join(env.root, 'etc', 'hostname'), 'utf8'), 'web-lab-01\n');
    assert.equal(await readFile(path.join(env.root, 'var', 'lib', 'post', 'marker'), 'utf8'), 'done\n');
    const agentEnv = await readFile(path.join(env.root, 'etc', 'deployx', 'agent.env'), 'utf8');
    assert.match(agentEnv, /^DEPLOYX_ENROLLMENT_TOKEN=dxe_/m);
    // The agent is a real process that enrolled as the declared device, and that made it `enrolled`.
    const device = await waitFor('web-1 enrolled in the store', async () => {
      const d = await env.server.store.getDevice('web-1');
      return d?.enrolledAt ? d : undefined;
    });
    assert.equal(device.id, 'web-1');
    const credential = JSON.parse(await readFile(path.join(env.root, 'var', 'lib', 'deployx', 'credential.json'), 'utf8')) as { deviceId: string };
    assert.equal(credential.deviceId, 'web-1');
    await waitFor('provisioning state enrolled', async () => (await api<Timeline>(env.server, '/api/v1/devices/web-1/provisioning')).state === 'enrolled');
    // The dashboard was told each transition (the agent installed by a task may enroll before the
    // sequence's last task has reported).
    const kinds = env.server.ui.notifications(0).filter((n) => n.subject === 'device:web-1').map((n) => n.kind);
    assert.equal(kinds[0], 'provisioning.started');
    assert.deepEqual(kinds.filter((k) => k.startsWith('provisioning.')).sort(), ['provisioning.enrolled', 'provisioning.finished', 'provisioning.started']);
    console.log(`runner: six tasks and agent enrollment in ${Date.now() - started} ms`);
  });

  test('a finished run\'s token gets nothing, and the device now boots from its disk', async () => {
    const tasks = await fetch(`${env.server.url}/pxe/v1/tasks`, { headers: { authorization: `Bearer ${env.token}` } });
    assert.equal(tasks.status, 401);
    const config = await fetch(`${env.server.url}/pxe/v1/config/${env.token}/preseed.cfg`);
    assert.equal(config.status, 401);
    const replay = await runRunner(['--server', env.server.url, '--token', env.token, '--root', env.root, '--no-reboot']);
    assert.notEqual(replay.code, 0);
    const boot = await (await fetch(`${env.server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(MAC)}&platform=pcbios`)).text();
    assert.match(boot, /^sanboot --no-describe --drive 0x80/m);
    assert.doesNotMatch(boot, /kernel|token/);
  });

  test('an operator\'s reprovision makes the next boot install again, keeping the hostname', async () => {
    const res = await fetch(`${env.server.url}/api/v1/devices/web-1/provisioning/reprovision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.server.apiToken}` },
    });
    assert.equal(res.status, 200, await res.text());
    const boot = await (await fetch(`${env.server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(MAC)}`)).text();
    assert.match(boot, /^set token dxp_/m);
    assert.match(boot, /netcfg\/get_hostname=web-lab-01 /);
  });

  test('the enrollment token was single-use: a second agent with it is refused', async () => {
    const agentEnv = await readFile(path.join(env.root, 'etc', 'deployx', 'agent.env'), 'utf8');
    const token = /^DEPLOYX_ENROLLMENT_TOKEN=(\S+)$/m.exec(agentEnv)![1]!;
    assert.deepEqual(await env.server.store.consumeEnrollmentToken(await hashOf(parseEnrollmentToken(token).secret), new Date().toISOString()), { ok: false, reason: 'exhausted' });
  });
});

async function hashOf(secret: string): Promise<string> {
  const { hashSecret } = await import('../../reconciler/src/edges/transport/agent-gateway.ts');
  return hashSecret(secret);
}

describe('sh task runner: a failing task stops the sequence', { timeout: 120_000 }, () => {
  test('the failing run-script is reported with its exit code and log; later tasks never run', async () => {
    const env = await setup('deployx-runner-fail-', 3);
    try {
      // The image carries the agent (not started here): install-agent succeeds without a process.
      await mkdir(path.join(env.root, 'usr', 'bin'), { recursive: true });
      await writeFile(path.join(env.root, 'usr', 'bin', 'deployx'), '#!/bin/sh\nexit 0\n');
      await chmod(path.join(env.root, 'usr', 'bin', 'deployx'), 0o755);
      const run = await runRunner(['--server', env.server.url, '--token', env.token, '--root', env.root, '--no-reboot']);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const timeline = await api<Timeline>(env.server, '/api/v1/devices/web-1/provisioning');
      const last = timeline.steps.at(-1)!;
      assert.deepEqual([last.index, last.type, last.status, last.exitCode], [4, 'run-script', 'failed', 3]);
      assert.match(last.log ?? '', /failing on purpose/);
      assert.ok(!timeline.steps.some((s) => s.type === 'reboot'), 'the reboot task never ran');
      assert.equal(timeline.runs[0]?.status, 'failed');
      assert.equal(timeline.state, 'provisioning');
      // Armed again by an operator, the machine reinstalls on its next network boot, with a new token.
      const unarmed = await (await fetch(`${env.server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(MAC)}`)).text();
      assert.doesNotMatch(unarmed, /token/, 'the arming was used by the first install boot');
      await arm(env.server);
      const boot = await (await fetch(`${env.server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(MAC)}`)).text();
      const token = /^set token (dxp_\S+)$/m.exec(boot)?.[1];
      assert.ok(token && token !== env.token);
      assert.match(boot, /netcfg\/get_hostname=web-lab-01 /, 'the device keeps its hostname number');
    } finally {
      await env.server.close();
      await env.tmp.remove();
    }
  });
});
