import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { AGENT_NAMESPACE } from '../../../schemas/protocol.ts';
import { isAgentError } from '../errors.ts';
import { systemClock } from './clock.ts';
import { classifyConnectError, Connection, type ConnectionEvent } from './connection.ts';
import { silentLogger } from '../../../schemas/log.ts';
import { signedHello, testTrust } from '../test-support/server-key.ts';
import { newDeviceKey } from '../state/credentials.ts';

const TEST_DEVICE_KEY = newDeviceKey();

describe('classifyConnectError', () => {
  const table: Array<[name: string, error: unknown, refused: boolean, code: string]> = [
    ['data.code auth.refused', Object.assign(new Error('credential not valid'), { data: { code: 'auth.refused' } }), true, 'auth.refused'],
    ['data.code auth.token-expired', Object.assign(new Error('x'), { data: { code: 'auth.token-expired' } }), true, 'auth.token-expired'],
    ['message is the code', new Error('auth.refused'), true, 'auth.refused'],
    ['protocol version refused', Object.assign(new Error('x'), { data: { code: 'protocol.unsupported' } }), true, 'protocol.unsupported'],
    ['server busy is transient', Object.assign(new Error('busy'), { data: { code: 'server.busy', retryAfterMs: 5000 } }), false, 'server.busy'],
    ['websocket error', new Error('websocket error'), false, 'connect.unreachable'],
    ['untrusted certificate', Object.assign(new Error('websocket error'), { description: { error: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) } }), false, 'connect.tls'],
    ['wrong host name', Object.assign(new Error('websocket error'), { description: { error: Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }) } }), false, 'connect.tls'],
    ['refused connection is not TLS', Object.assign(new Error('websocket error'), { description: { error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) } }), false, 'connect.unreachable'],
    ['timeout', new Error('timeout'), false, 'connect.timeout'],
    ['not an error at all', 'weird', false, 'connect.failed'],
  ];
  for (const [name, error, refused, code] of table) {
    it(name, () => {
      const c = classifyConnectError(error);
      assert.equal(c.refused, refused);
      assert.equal(c.code, code);
    });
  }

  it('says why a certificate was refused and what to do', () => {
    const tls = Object.assign(new Error('websocket error'), { description: { error: Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) } });
    assert.match(classifyConnectError(tls).message, /not trusted \(unable to verify the first certificate\).*--ca FILE/);
  });

  it('passes a server-given retryAfterMs through', () => {
    assert.equal(classifyConnectError(Object.assign(new Error('busy'), { data: { code: 'server.busy', retryAfterMs: 5000 } })).retryAfterMs, 5000);
  });
});

describe('Connection', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closers) await close();
  });

  it('backs off with growing, jittered delays while the server is unreachable', async () => {
    // A port that refuses connections: bind, note the port, close.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const events: ConnectionEvent[] = [];
    const randoms = [1, 1, 1, 1, 1, 0.5];
    let i = 0;
    const connection = new Connection({
      server: `http://127.0.0.1:${port}`,
      credentials: { read: async () => ({ deviceId: 'd', privateKey: TEST_DEVICE_KEY }), write: async () => {} },
      enrollment: { machineId: 'm', facts: async () => ({}) },
      trust: testTrust(),
      onSession: () => assert.fail('no session expected'),
      onEvent: (e) => events.push(e),
      logger: silentLogger,
      clock: systemClock,
      random: () => randoms[i++ % randoms.length]!,
      backoff: { baseMs: 10, capMs: 80 },
    });
    const running = connection.run();
    closers.push(() => connection.stop());
    while (events.length < 6) await new Promise((resolve) => setTimeout(resolve, 10));
    await connection.stop();
    await running;
    const delays = events.slice(0, 6).map((e) => (e.type === 'connect-failed' ? e.retryInMs : -1));
    assert.deepEqual(delays, [10, 20, 40, 80, 80, 40]);
    assert.ok(events.every((e) => e.type === 'connect-failed' && !e.refused && e.code === 'connect.unreachable'));
  });

  it('refuses to start without a credential or a token (transport.not-enrolled)', async () => {
    const connection = new Connection({
      server: 'http://127.0.0.1:9',
      credentials: { read: async () => undefined, write: async () => {} },
      enrollment: { machineId: 'm', facts: async () => ({}) },
      trust: testTrust(),
      onSession: () => {},
      logger: silentLogger,
      clock: systemClock,
    });
    await assert.rejects(connection.run(), (error) => isAgentError(error, 'transport.not-enrolled'));
  });

  /** A socket.io server on 127.0.0.1:<port 0> whose /agent handshake is decided by `admit`. */
  async function startServer(admit: (attempt: number) => Error | undefined): Promise<{ url: string; handshakes: number[]; io: Server }> {
    const http = createHttpServer();
    const io = new Server(http, { transports: ['websocket'] });
    const handshakes: number[] = [];
    io.of(AGENT_NAMESPACE).use((_socket, next) => {
      handshakes.push(performance.now());
      next(admit(handshakes.length));
    });
    // Like the real server: the first message proves the pinned key.
    io.of(AGENT_NAMESPACE).on('connection', (socket) => socket.emit('server:hello', signedHello(String((socket.handshake.auth as { challenge?: unknown }).challenge))));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    });
    return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, handshakes, io };
  }

  const busy = (retryAfterMs: number): Error => Object.assign(new Error('server.busy'), { data: { code: 'server.busy', retryAfterMs } });

  it('waits exactly the retryAfterMs of a server.busy refusal, however far its own backoff has grown', async () => {
    // Two busy refusals (300 ms, then 150 ms), then the handshake is served. The agent's own
    // backoff would wait 20 s or more: a server-given wait replaces it rather than adding to it.
    const server = await startServer((n) => (n === 1 ? busy(300) : n === 2 ? busy(150) : undefined));
    const events: ConnectionEvent[] = [];
    let sessions = 0;
    const connection = new Connection({
      server: server.url,
      credentials: { read: async () => ({ deviceId: 'd', privateKey: TEST_DEVICE_KEY }), write: async () => {} },
      enrollment: { machineId: 'm', facts: async () => ({}) },
      trust: testTrust(),
      onSession: () => void sessions++,
      onEvent: (e) => events.push(e),
      logger: silentLogger,
      clock: systemClock,
      random: () => 0.99,
      backoff: { baseMs: 20_000, capMs: 60_000, outageCapMs: 60_000 },
    });
    const running = connection.run();
    closers.push(() => connection.stop());
    const deadline = Date.now() + 5_000;
    while (sessions === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await connection.stop();
    await running;
    assert.deepEqual(
      events.map((e) => (e.type === 'connect-failed' ? [e.code, e.refused, e.retryInMs] : [e.type])),
      [
        ['server.busy', false, 300],
        ['server.busy', false, 150],
      ],
    );
    assert.equal(sessions, 1, 'served on the third handshake');
    const [h1, h2, h3] = server.handshakes as [number, number, number];
    assert.ok(h2 - h1 >= 290, `the second handshake came ${Math.round(h2 - h1)} ms after the first (≥ 300 asked)`);
    assert.ok(h3 - h2 >= 140 && h3 - h2 < 2_000, `the third came ${Math.round(h3 - h2)} ms after the second (150 asked)`);
  });

  it('a session that was dropped at once keeps the backoff growing; one that lived long enough starts it over', async () => {
    // Sessions 1–3 are dropped by the server right away; session 4 lives 400 ms (> stableSessionMs
    // 200) before the server drops it. random = 1 makes each wait its window's ceiling.
    const server = await startServer(() => undefined);
    let accepted = 0;
    server.io.of(AGENT_NAMESPACE).on('connection', (socket) => {
      accepted++;
      // 50 ms: after the hello is verified (a session began), far below stableSessionMs.
      if (accepted <= 3) setTimeout(() => socket.disconnect(true), 50);
      else if (accepted === 4) setTimeout(() => socket.disconnect(true), 400);
    });
    const events: ConnectionEvent[] = [];
    const connection = new Connection({
      server: server.url,
      credentials: { read: async () => ({ deviceId: 'd', privateKey: TEST_DEVICE_KEY }), write: async () => {} },
      enrollment: { machineId: 'm', facts: async () => ({}) },
      trust: testTrust(),
      onSession: () => {},
      onEvent: (e) => events.push(e),
      logger: silentLogger,
      clock: systemClock,
      random: () => 1,
      backoff: { baseMs: 20, capMs: 1_000 },
      stableSessionMs: 200,
    });
    const running = connection.run();
    closers.push(() => connection.stop());
    const deadline = Date.now() + 5_000;
    while (events.filter((e) => e.type === 'disconnected').length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await connection.stop();
    await running;
    const waits = events.filter((e) => e.type === 'disconnected').map((e) => e.retryInMs);
    assert.deepEqual(waits.slice(0, 4), [20, 40, 80, 20]);
  });
});

