// Declared devices are first-class (issue 13 item 3): every Device in Git is listed by the API
// from the moment its revision is accepted, as awaiting enrollment, with the groups, profiles and
// resources it will get, and counted; when an agent enrolls as it, the row becomes that device
// (one row, not two); a Device removed from Git leaves the list. Real server, real git repo, a
// real `deployx agent`.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { testFleet } from './fleet.ts';
import { api, spawnAgent, startTestServer, tempDir, waitFor } from './harness.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Row {
  id: string;
  state: string;
  reason: string;
  groups: string[];
  profiles: string[];
  declaredIn?: string;
  online: boolean;
}

const DEVICES = `apiVersion: deployx.dev/v1
kind: Device
metadata:
  name: web-eu-01
  labels: { role: web }
spec:
  macAddresses: ["52:54:00:12:34:01"]
---
apiVersion: deployx.dev/v1
kind: Device
metadata:
  name: web-eu-02
  labels: { role: web }
spec: {}
`;

test('declared devices are listed and counted as awaiting enrollment until an agent enrolls as one', async () => {
  const work = await tempDir('deployx-declared-');
  cleanups.push(work.remove);
  const repo = await makeRepo(path.join(work.dir, 'repo'), { ...testFleet(), 'devices.yaml': DEVICES });
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
  cleanups.push(() => server.close());
  await waitFor('the first revision', () => server.reconciler.revision);

  const listed = await api<{ total: number; devices: Row[] }>(server, '/api/v1/devices');
  assert.equal(listed.total, 2);
  assert.deepEqual(listed.devices.map((d) => [d.id, d.state, d.online, d.declaredIn]), [
    ['web-eu-01', 'awaiting_enrollment', false, 'devices.yaml'],
    ['web-eu-02', 'awaiting_enrollment', false, 'devices.yaml'],
  ]);
  assert.deepEqual(listed.devices[0]!.groups, ['web']);
  assert.match(listed.devices[0]!.reason, /declared in devices\.yaml; no agent has enrolled as web-eu-01 yet/);
  // Paged like enrolled devices.
  assert.deepEqual((await api<{ devices: Row[] }>(server, '/api/v1/devices?limit=1&offset=1')).devices.map((d) => d.id), ['web-eu-02']);

  const stats = await api<{ devices: { total: number; byState: Record<string, number> } }>(server, '/api/v1/stats');
  assert.equal(stats.devices.total, 2);
  assert.equal(stats.devices.byState.awaiting_enrollment, 2);

  // Its page: what it will get, nothing observed, and no 404 for its provisioning.
  const detail = await api<Row & { desired: { resources: Array<{ key: string }> } | null; observed: unknown[]; jobs: unknown[] }>(server, '/api/v1/devices/web-eu-01');
  assert.equal(detail.state, 'awaiting_enrollment');
  assert.ok(detail.desired!.resources.some((r) => r.key === 'file//etc/e2e/app.conf' || r.key === 'file/etc/e2e/app.conf'), JSON.stringify(detail.desired?.resources.map((r) => r.key)));
  assert.deepEqual([detail.observed, detail.jobs], [[], []]);
  assert.equal(await api(server, '/api/v1/devices/web-eu-01/provisioning'), null);

  // An agent enrolls as web-eu-01 (a token bound to it): one row, enrolled, converging.
  const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'web-eu-01', device: 'web-eu-01' });
  const root = path.join(work.dir, 'root');
  const agent = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'agent'), root });
  cleanups.push(() => agent.kill());
  await waitFor('web-eu-01 to converge', () => existsSync(path.join(root, 'etc/e2e/app.conf')), 60_000);
  const after = await waitFor('web-eu-01 listed as enrolled', async () => {
    const page = await api<{ total: number; devices: Row[] }>(server, '/api/v1/devices');
    return page.devices.some((d) => d.id === 'web-eu-01' && d.state !== 'awaiting_enrollment') ? page : undefined;
  });
  assert.equal(after.total, 2);
  assert.deepEqual(after.devices.map((d) => d.id).sort(), ['web-eu-01', 'web-eu-02'], 'one row per device');
  assert.equal(after.devices.find((d) => d.id === 'web-eu-02')?.state, 'awaiting_enrollment');

  // web-eu-02 leaves Git: it leaves the list with the next accepted revision.
  const only = DEVICES.split('---')[0]!;
  await repo.commit({ 'devices.yaml': only }, 'web-eu-02 is gone');
  server.reconciler.enqueueSource();
  await waitFor('web-eu-02 to leave the list', async () => {
    const page = await api<{ total: number; devices: Row[] }>(server, '/api/v1/devices');
    return page.total === 1 && !page.devices.some((d) => d.id === 'web-eu-02');
  });
});
