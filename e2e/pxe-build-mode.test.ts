// Build mode (issue 12, weaknesses 3 and 6), against the real server over HTTP and Socket.IO:
// - a declared machine's MAC gets an install boot (and a one-time token) only while an operator
//   has armed it, and only once; unarmed it is told to boot from its disk;
// - anonymous PXE boots with made-up MACs from one address are rate-limited, the discovered list
//   stays capped and the notifications are coalesced;
// - a Socket.IO client on a namespace that is not /agent or /ui (the default `/`) is closed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { io as connect } from 'socket.io-client';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { DISCOVERY_LIMITS } from '../reconciler/src/core/pxe/discovery-limits.ts';
import { pxeFleet } from '../pxe/test/pxe-fleet.ts';
import { PROJECT_ROOT, api, startTestServer, tempDir, waitFor } from './harness.ts';

const run = promisify(execFile);
const CLI = path.join(PROJECT_ROOT, 'cli', 'bin', 'deployx.js');
const MAC = '52:54:00:a1:4b:01';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function pxeServer(prefix: string) {
  const work = await tempDir(prefix);
  cleanups.push(work.remove);
  const repo = await makeRepo(path.join(work.dir, 'repo'), pxeFleet({ device: { name: 'web-1', mac: MAC, site: 'lab' } }));
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
  cleanups.push(() => server.close());
  await waitFor('the first revision', () => server.reconciler.revision);
  return server;
}

function bootUrl(base: string, mac: string): string {
  return `${base}/pxe/boot.ipxe?mac=${encodeURIComponent(mac)}&platform=pcbios&buildarch=x86_64`;
}

test('an unarmed MAC is told to boot from disk and gets no token; an armed one gets exactly one install boot', async () => {
  const server = await pxeServer('deployx-buildmode-');
  const unarmed = await (await fetch(bootUrl(server.url, MAC))).text();
  assert.doesNotMatch(unarmed, /dxp_/, 'no provisioning token for an unarmed machine');
  assert.match(unarmed, /sanboot/, 'the boot-from-disk script');
  assert.equal((await server.store.listProvisioningRuns('web-1', 10)).length, 0, 'no run started');

  // Armed through the CLI (the API route underneath).
  const env = { ...process.env, DEPLOYX_API_TOKEN: server.apiToken };
  const armed = await run(process.execPath, [CLI, 'device', 'provision', 'web-1', '--for', '2h', '--server', server.url], { env, cwd: PROJECT_ROOT });
  assert.match(armed.stdout, /armed/);

  const install = await (await fetch(bootUrl(server.url, MAC))).text();
  assert.match(install, /dxp_[A-Za-z0-9_-]+/, 'the armed machine gets its install boot with a one-time token');
  const again = await (await fetch(bootUrl(server.url, MAC))).text();
  assert.doesNotMatch(again, /dxp_/, 'the arming was consumed by the first install boot');
  assert.match(again, /sanboot/);
  assert.equal((await server.store.listProvisioningRuns('web-1', 10)).length, 1, 'exactly one run');
});

test('a flood of anonymous PXE boots from one address is limited; the discovered list stays capped; discovery notifications are coalesced', async () => {
  const server = await pxeServer('deployx-flood-');
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1_200; i++) {
    const mac = `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    const res = await fetch(bootUrl(server.url, mac));
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  assert.ok((statuses.get(429) ?? 0) >= 1_000, `most of the flood is refused with 429: ${JSON.stringify([...statuses])}`);
  const { machines } = await api<{ machines: unknown[] }>(server, '/api/v1/provisioning/discovered?limit=1000');
  // The burst, and what the bucket refilled while the flood ran (well under a minute).
  const allowed = DISCOVERY_LIMITS.perSourceBurst + DISCOVERY_LIMITS.perSourcePerMinute;
  assert.ok(machines.length <= allowed, `the discovered list holds only what got through: ${machines.length}`);
  assert.ok(machines.length <= DISCOVERY_LIMITS.maxUnknownMachines);
  const { notifications } = await api<{ notifications: Array<{ kind: string }> }>(server, '/api/v1/notifications');
  const discovered = notifications.filter((n) => n.kind === 'provisioning.discovered');
  assert.ok(discovered.length <= 2, `discovery notifications are coalesced: ${discovered.length}`);
});

test('a Socket.IO client on the default namespace without credentials is disconnected promptly', async () => {
  const server = await pxeServer('deployx-nsp-');
  const socket = connect(server.url, { transports: ['websocket'], reconnection: false, timeout: 5_000 });
  const started = Date.now();
  const outcome = await new Promise<string>((resolve) => {
    socket.on('connect_error', (error) => resolve(`refused: ${error.message}`));
    socket.on('disconnect', (reason) => resolve(`disconnected: ${reason}`));
    setTimeout(() => resolve('still connected'), 5_000);
  });
  socket.close();
  assert.notEqual(outcome, 'still connected');
  assert.equal(socket.connected, false);
  assert.ok(Date.now() - started < 3_000, `closed within 3 s: ${outcome}`);
});
