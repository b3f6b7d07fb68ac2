// A real package through apt: the agent installs Debian's `hello`, reports it, and removes it on
// `ensure: absent`. It changes this machine's package database, so it runs only when
// DEPLOYX_E2E_APT=1 (set by .ci/run, which runs as root on Debian).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { api, spawnAgent, startTestServer, tempDir, waitFor } from './harness.ts';

const run = promisify(execFile);
const enabled = process.env.DEPLOYX_E2E_APT === '1';

function aptFleet(ensure: 'present' | 'absent') {
  return {
    'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: apt }\nspec: {}\n',
    'fleet/group.yaml': 'apiVersion: deployx.dev/v1\nkind: Group\nmetadata: { name: apt-test }\nspec:\n  selector: { matchLabels: { role: apt-test } }\n',
    'fleet/hello.yaml': `apiVersion: deployx.dev/v1\nkind: Software\nmetadata: { name: hello }\nspec:\n  packages: { apt: hello }\n  ensure: ${ensure}\n`,
    'fleet/profile.yaml': 'apiVersion: deployx.dev/v1\nkind: Profile\nmetadata: { name: apt-test }\nspec:\n  targets: [apt-test]\n  software: [hello]\n',
  };
}

async function helloInstalled(): Promise<boolean> {
  try {
    const { stdout } = await run('dpkg-query', ['-W', '-f=${Status}', 'hello']);
    return stdout.includes('install ok installed');
  } catch {
    return false;
  }
}

describe('real packages through apt', { skip: enabled ? false : 'set DEPLOYX_E2E_APT=1 (root on Debian) to run', timeout: 300_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('installs hello, reports it, and removes it on ensure: absent', async () => {
    assert.equal(await helloInstalled(), false, 'hello must not be installed before the test');
    const work = await tempDir('deployx-apt-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), aptFleet('present'));
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'apt', labels: { role: 'apt-test' } });
    // No --root: packages are machine-wide. The fleet holds nothing but the package.
    const agent = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'state') });
    cleanups.push(() => agent.kill());

    const device = await waitFor('hello installed and reported', async () => {
      const { devices } = await api<{ devices: Array<{ id: string; state: string }> }>(server, '/api/v1/devices');
      const d = devices[0];
      if (!d || d.state !== 'in_sync' || !(await helloInstalled())) return undefined;
      return d;
    }, 240_000);
    const detail = await api<{ observed: Array<{ key: string; installed?: boolean; version?: string }> }>(server, `/api/v1/devices/${device.id}`);
    const observed = detail.observed.find((o) => o.key === 'package/hello');
    assert.equal(observed?.installed, true);
    assert.ok(observed?.version, 'the installed version is reported');

    await repo.commit(aptFleet('absent'), 'remove hello');
    server.reconciler.enqueueSource();
    await waitFor('hello removed', async () => !(await helloInstalled()), 240_000);
    await waitFor('device in sync again', async () => {
      const { devices } = await api<{ devices: Array<{ state: string }> }>(server, '/api/v1/devices');
      return devices[0]?.state === 'in_sync';
    }, 60_000);
  });
});
