// A reconnect storm against the real gateway: the /agent handshake admission (admission.ts)
// queues what it can serve within a few seconds and refuses the rest with server.busy +
// retryAfterMs; real agent connections (agent/src/transport/connection.ts) come back after that
// wait until every one has a session.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Server } from 'socket.io';
import { systemClock } from '../agent/src/transport/clock.ts';
import { Connection, type ConnectionEvent } from '../agent/src/transport/connection.ts';
import { silentLogger } from '../schemas/log.ts';
import { openSqliteStore } from '../reconciler/src/edges/store/sqlite-store.ts';
import type { Store } from '../reconciler/src/edges/store/store.ts';
import { memorySigningKeys } from '../reconciler/src/edges/keys/server-keys.ts';
import { formatEnrollmentToken } from '../schemas/enrollment-token.ts';
import { MemoryServerTrust } from '../agent/src/state/server-trust.ts';
import { ServerTrust } from '../agent/src/transport/server-trust.ts';
import { AgentGateway, type HandshakeAdmission } from '../reconciler/src/edges/transport/agent-gateway.ts';
import { deviceSigningKey, newDeviceKey } from '../agent/src/state/credentials.ts';
import { publicKeyToPem } from '../schemas/signing.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Storm {
  events: ConnectionEvent[];
  connected: Set<string>;
  gateway: AgentGateway;
  store: Store;
  /** The ids of each touchDevices call the gateway made (last seen at connection). */
  touches: string[][];
}

/** DEVICES real agent connections against a real gateway with this admission, until all are in or 15 s. */
async function storm(DEVICES: number, handshakes: HandshakeAdmission): Promise<Storm> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-admission-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sqlite = await openSqliteStore({ file: path.join(dir, 'deployx.db') });
  cleanups.push(() => sqlite.close());
  const touches: string[][] = [];
  const store: Store = { ...sqlite, touchDevices: (ids, at) => (touches.push([...ids]), sqlite.touchDevices(ids, at)) };
  const now = new Date().toISOString();
  const deviceKeys = Array.from({ length: DEVICES }, () => newDeviceKey());
  for (let i = 0; i < DEVICES; i++) {
    const publicKey = publicKeyToPem(deviceSigningKey({ privateKey: deviceKeys[i]! }).privateKey);
    await store.enrollDevice({ id: `d${i}`, machineId: `m${i}`, labels: {}, facts: {}, publicKey, now });
  }

  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  const keys = memorySigningKeys();
  const gateway = new AgentGateway(io, {
    store,
    keys,
    log: silentLogger,
    now: () => new Date(),
    hooks: { connected: () => {}, disconnected: () => {}, reported: () => {}, resulted: async () => {}, declaredDeviceFor: () => undefined },
    handshakes,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await gateway.close();
    io.disconnectSockets(true);
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const events: ConnectionEvent[] = [];
  const connected = new Set<string>();
  const connections = Array.from({ length: DEVICES }, (_, i) => {
    const connection = new Connection({
      server: url,
      credentials: { read: async () => ({ deviceId: `d${i}`, privateKey: deviceKeys[i]! }), write: async () => {} },
      enrollment: { machineId: `m${i}`, facts: async () => ({}) },
      trust: new ServerTrust(new MemoryServerTrust(), formatEnrollmentToken('unused', keys.current)),
      onSession: (session) => connected.add(session.identity.deviceId),
      onEvent: (e) => events.push(e),
      logger: silentLogger,
      clock: systemClock,
      // The agent's own backoff would wait 30 s or more: only the server's retryAfterMs brings
      // the refused back within the deadline below.
      backoff: { baseMs: 30_000, capMs: 60_000, outageCapMs: 60_000, minMs: 30_000 },
    });
    void connection.run();
    cleanups.push(() => connection.stop());
    return connection;
  });
  const deadline = Date.now() + 15_000;
  while (connected.size < DEVICES && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all(connections.map((c) => c.stop()));
  return { events, connected, gateway, store, touches };
}

test('a handshake storm beyond the admission limit and its queue is told server.busy with a jittered retryAfterMs, and every agent gets in', async () => {
  const DEVICES = 40;
  // No queue: every handshake beyond the two being checked is refused.
  const { events, connected, gateway } = await storm(DEVICES, { maxConcurrent: 2, retryAfterMs: [200, 600], queueWaitMs: 0 });

  const busy = events.filter((e) => e.type === 'connect-failed' && e.code === 'server.busy');
  assert.ok(busy.length > 0, 'some handshakes were refused as busy');
  assert.equal(gateway.busyRefusals, busy.length, 'the gateway counted what the agents saw');
  for (const e of busy) {
    assert.ok(e.type === 'connect-failed' && !e.refused && e.retryInMs >= 200 && e.retryInMs <= 600, `waited ${JSON.stringify(e)}`);
  }
  assert.ok(new Set(busy.map((e) => (e.type === 'connect-failed' ? e.retryInMs : 0))).size > 1, 'the waits are jittered');
  assert.deepEqual(
    events.filter((e) => e.type === 'connect-failed' && e.code !== 'server.busy'),
    [],
    'nothing else went wrong',
  );
  assert.equal(connected.size, DEVICES, 'every agent got a session');
});

test('a burst the server can take within a few seconds waits in the queue instead of being refused: no connection is made twice', async () => {
  // Two checks at a time, 40 at once: before the queue, 38 were refused, and each came back on
  // a second connection (in a reconnect storm of 10,000 those refusals took the server's CPU).
  const { events, connected, gateway, store, touches } = await storm(40, { maxConcurrent: 2, retryAfterMs: [200, 600] });
  assert.deepEqual(events.filter((e) => e.type === 'connect-failed'), [], 'no attempt failed or was refused');
  assert.equal(gateway.busyRefusals, 0);
  assert.equal(connected.size, 40, 'every agent got a session on its first connection');
  // "Last seen" is stamped for connections arriving together in one write, not one transaction
  // each: in a storm those single writes queued up in the store ahead of the devices' reports.
  await gateway.close();
  assert.equal(new Set(touches.flat()).size, 40);
  assert.ok(touches.length <= 10, `${touches.length} touchDevices calls for 40 connections`);
  for (const device of await store.listDevices({ limit: 100 })) assert.ok(device.lastSeenAt, `${device.id} was seen`);
});
