import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { isAgentError } from '../errors.ts';
import { systemClock } from './clock.ts';
import { classifyConnectError, Connection, type ConnectionEvent } from './connection.ts';
import { silentLogger } from './logger.ts';

describe('classifyConnectError', () => {
  const table: Array<[name: string, error: unknown, refused: boolean, code: string]> = [
    ['data.code auth.refused', Object.assign(new Error('credential not valid'), { data: { code: 'auth.refused' } }), true, 'auth.refused'],
    ['data.code auth.token-expired', Object.assign(new Error('x'), { data: { code: 'auth.token-expired' } }), true, 'auth.token-expired'],
    ['message is the code', new Error('auth.refused'), true, 'auth.refused'],
    ['protocol version refused', Object.assign(new Error('x'), { data: { code: 'protocol.unsupported' } }), true, 'protocol.unsupported'],
    ['server busy is transient', Object.assign(new Error('busy'), { data: { code: 'server.busy', retryAfterMs: 5000 } }), false, 'server.busy'],
    ['websocket error', new Error('websocket error'), false, 'connect.unreachable'],
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
      credentials: { read: async () => ({ deviceId: 'd', credential: 'secret-credential' }), write: async () => {} },
      enrollment: { machineId: 'm', facts: async () => ({}) },
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
      onSession: () => {},
      logger: silentLogger,
      clock: systemClock,
    });
    await assert.rejects(connection.run(), (error) => isAgentError(error, 'transport.not-enrolled'));
  });
});
