// Ordered device messages through the whole server: a real server (SQLite, a local Git repository,
// the real reconciler) and a socket.io client speaking the agent protocol by hand, so the test
// decides the order in which a result and a stale report arrive.
//
// The agent stamps what it sends with its observation sequence (epoch, seq). A report observed
// before a job finished but stored after the job's result must not replace the newer observed
// state — or the loop sees the file missing again and makes a no-op "drift" job.
import { jobFromPayload } from '../schemas/job-envelope.ts';
import type { Envelope } from '../schemas/signing.ts';
import type { JobPayload } from '../schemas/protocol.ts';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { io as connectClient, type Socket } from 'socket.io-client';
import { AGENT_NAMESPACE, type Ack, type AgentReport, type Job, type JobResult, type ObservedResource } from '../schemas/protocol.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';
import { testDeviceKey } from './device-auth.ts';

const PATH = '/etc/order/site.conf';
const FLEET = {
  'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: order }\nspec: {}\n',
  'lab.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata: { name: lab }
spec:
  selector: { matchLabels: { site: lab } }
---
apiVersion: deployx.dev/v1
kind: FileDeployment
metadata: { name: site }
spec: { path: ${PATH}, content: "lab\\n" }
---
apiVersion: deployx.dev/v1
kind: Profile
metadata: { name: lab }
spec:
  targets: [lab]
  files: [site]
  drift: enforce
`,
};

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

test('a stale report that arrives after the job result keeps the newer observed state and creates no job', { timeout: 60_000 }, async () => {
  const work = await tempDir('deployx-order-');
  cleanups.push(work.remove);
  const repo = await makeRepo(path.join(work.dir, 'repo'), FLEET);
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
  cleanups.push(() => server.close());
  const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'order', labels: { site: 'lab' } });

  const jobs: Job[] = [];
  const socket: Socket = connectClient(`${server.url}${AGENT_NAMESPACE}`, {
    auth: { enrollmentToken: token, machineId: 'machine-order-1', facts: { hostname: 'order-1', os: { family: 'debian' } }, publicKey: testDeviceKey().publicKey },
    transports: ['websocket'],
    reconnection: false,
  });
  cleanups.push(async () => socket.disconnect());
  // A raw client reads the signed envelope's payload (the server's ordering is the subject here).
  socket.on('job', (envelope: Envelope, ack: (res: Ack) => void) => {
    jobs.push(jobFromPayload(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as JobPayload));
    ack({ ok: true });
  });
  const deviceId = await new Promise<string>((resolve) =>
    socket.on('enrolled', (enrollment: { deviceId: string }, ack: (res: Ack) => void) => {
      ack({ ok: true });
      resolve(enrollment.deviceId);
    }),
  );
  const epoch = 'epoch-order-1';
  const send = async (seq: number, observed: ObservedResource[]) => {
    const report: AgentReport = { agentVersion: '1.0.0', facts: { hostname: 'order-1', os: { family: 'debian' } }, observed, sentAt: new Date().toISOString(), epoch, seq };
    assert.deepEqual(await socket.timeout(5_000).emitWithAck('report', report), { ok: true });
  };

  // seq 1: the file holds old content → one job writes the new content.
  const old: ObservedResource = { key: `file/${PATH}`, type: 'file', path: PATH, exists: true, sha256: '0'.repeat(64), size: 4 };
  await send(1, [old]);
  const job = await waitFor('the job that writes the file', () => jobs[0], 20_000);
  const step = job.steps[0];
  assert.ok(step?.action === 'file.write');
  // seq 2 is the report the agent observed while the job ran (old content still); seq 3 is the
  // job's own observation after it wrote the file. The result arrives first.
  const written: ObservedResource = { key: step.key, type: 'file', path: step.path, exists: true, sha256: step.sha256, size: step.size, ...(step.mode ? { mode: step.mode } : {}) };
  const now = new Date().toISOString();
  const result: JobResult = {
    jobId: job.id,
    idempotencyKey: job.idempotencyKey,
    status: 'succeeded',
    steps: [{ key: step.key, action: step.action, status: 'succeeded', durationMs: 1 }],
    observed: [written],
    startedAt: now,
    finishedAt: now,
    epoch,
    seq: 3,
  };
  assert.deepEqual(await socket.timeout(5_000).emitWithAck('job:result', result), { ok: true });
  await waitFor('the job recorded as succeeded', async () => (await server.store.getJob(job.id))?.state === 'succeeded', 10_000);
  await waitFor('the device in sync', () => server.reconciler.statuses.get(deviceId)?.state === 'in_sync', 10_000);
  await send(2, [old]);

  // Any pass the stale report caused would run now; give the loop a bounded window to act.
  await waitFor('the loop idle', () => server.reconciler.pendingDevices === 0, 10_000);
  // A redelivery of the same job (its ack timer: this client never reports progress) is not a
  // new job; count job ids.
  const ids = () => new Set(jobs.map((j) => j.id));
  const deadline = Date.now() + 2_000;
  await waitFor('2 s without a new job', () => ids().size > 1 || Date.now() > deadline, 5_000);
  assert.equal(ids().size, 1, `no second job (got ${jobs.map((j) => `${j.id}: ${j.steps.map((s) => s.action).join(',')}`).join(' / ')})`);
  assert.equal((await server.store.listJobs({ deviceId, limit: 10 })).length, 1);
  assert.deepEqual((await server.store.getObserved(deviceId))?.resources, [written]);
  assert.equal(server.reconciler.statuses.get(deviceId)?.state, 'in_sync');
});
