// A job whose dispatch was acknowledged but which never started (the agent dropped it after the
// ack, or the pass that sent it ran while another batch was on its way) is sent again once its
// start is overdue, instead of staying `dispatched` for ever. The device is a socket.io client
// that records every job it is sent: a real agent cannot be made to drop a job on cue.
import { jobFromPayload } from '../schemas/job-envelope.ts';
import type { Envelope } from '../schemas/signing.ts';
import type { JobPayload } from '../schemas/protocol.ts';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { AGENT_NAMESPACE, type Ack, type Job, type JobResult } from '../schemas/protocol.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';
import { testDeviceKey } from './device-auth.ts';

describe('dispatch', { timeout: 60_000 }, () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('a job acknowledged but never started is sent again when its start is overdue', async () => {
    const work = await tempDir('deployx-ack-');
    cleanups.push(work.remove);
    const repo = await makeRepo(path.join(work.dir, 'repo'), testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server'), jobAckTimeoutMs: 1_000 });
    cleanups.push(() => server.close());
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'ack', labels: { role: 'web' } });

    const received: Job[] = [];
    const socket: Socket = io(server.url + AGENT_NAMESPACE, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { enrollmentToken: token, machineId: 'ack-lost-machine', facts: { hostname: 'ack-lost', os: { family: 'debian' } }, publicKey: testDeviceKey().publicKey },
    });
    cleanups.push(() => void socket.disconnect());
    socket.on('enrolled', (_enrollment: unknown, ack: (res: Ack) => void) => ack({ ok: true }));
    // A raw client reads the signed envelope's payload (it does not verify: the server is the subject here).
    socket.on('job', (envelope: Envelope, ack: (res: Ack) => void) => {
      const job = jobFromPayload(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as JobPayload);
      received.push(job);
      ack({ ok: true });
      // The first delivery is dropped after its ack; the second one runs.
      if (received.length < 2) return;
      const now = new Date().toISOString();
      const result: JobResult = {
        jobId: job.id,
        idempotencyKey: job.idempotencyKey,
        status: 'succeeded',
        steps: job.steps.map((s) => ({ key: s.key, action: s.action, status: 'succeeded', durationMs: 1 })),
        observed: [],
        startedAt: now,
        finishedAt: now,
      };
      socket.emit('job:result', result, () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    await new Promise<void>((resolve) =>
      socket.emit('report', { agentVersion: 'test', facts: { hostname: 'ack-lost', os: { family: 'debian' } }, observed: [], sentAt: new Date().toISOString() }, () => resolve()),
    );

    await waitFor('the first delivery', () => received.length >= 1, 20_000);
    const first = received[0]!;
    await waitFor('the job sent again', () => received.length >= 2, 10_000);
    assert.equal(received[1]!.id, first.id, 'the same job, not a new one');
    await waitFor('the job succeeded', async () => (await server.store.getJob(first.id))?.state === 'succeeded', 10_000);
  });
});
