// The real AgentGateway for tests: a real SQLite store in a temp dir, socket.io on port 0 bound to
// 127.0.0.1, and real socket.io clients as devices. The hooks record what they were called with.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Server } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { AGENT_NAMESPACE, type Ack, type JobResult } from '../../../../schemas/protocol.ts';
import { createLogger } from '../../../../schemas/log.ts';
import type { JobRecord } from '../store/store.ts';
import { tempStore, type TempStore } from '../store/test-support.ts';
import { memorySigningKeys } from '../keys/server-keys.ts';
import { AgentGateway, type StoredReport } from './agent-gateway.ts';
import { signDeviceHandshake } from '../../../../schemas/device-auth.ts';
import { generateSigningKeyPair, publicKeyToPem, signingKey } from '../../../../schemas/signing.ts';
import { AGENT_MAX_MESSAGE_BYTES } from './payload-bounds.ts';

export interface TestGateway extends TempStore {
  gateway: AgentGateway;
  url: string;
  reported: StoredReport[][];
  resulted: Array<Array<{ deviceId: string; result: JobResult; job: JobRecord }>>;
  /** Enrolls the device in the store and connects a socket.io client as it (closed with the test). */
  connectDevice(deviceId: string): Promise<ClientSocket>;
}

export async function startTestGateway(t: TestContext): Promise<TestGateway> {
  const temp = await tempStore(t);
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], maxHttpBufferSize: AGENT_MAX_MESSAGE_BYTES, serveClient: false });
  const reported: TestGateway['reported'] = [];
  const resulted: TestGateway['resulted'] = [];
  const keys = memorySigningKeys();
  const gateway = new AgentGateway(io, {
    store: temp.store,
    keys,
    log: createLogger({ level: 'error', write: () => undefined }),
    now: () => new Date(),
    hooks: {
      connected: () => undefined,
      disconnected: () => undefined,
      reported: (reports) => void reported.push(reports),
      resulted: async (results) => void resulted.push(results),
      declaredDeviceFor: () => undefined,
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const clients: ClientSocket[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await gateway.close();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });
  return {
    ...temp,
    gateway,
    url,
    reported,
    resulted,
    async connectDevice(deviceId) {
      const { privateKey } = generateSigningKeyPair();
      await temp.store.enrollDevice({
        id: deviceId,
        machineId: `machine-${deviceId}`,
        labels: {},
        facts: { hostname: deviceId },
        publicKey: publicKeyToPem(privateKey),
        now: new Date().toISOString(),
      });
      const handshake = signDeviceHandshake({ deviceId, serverKey: keys.current, key: signingKey(privateKey), now: new Date() });
      const socket = connectClient(`${url}${AGENT_NAMESPACE}`, { auth: { deviceId, handshake }, transports: ['websocket'], reconnection: false });
      clients.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      return socket;
    },
  };
}

let rawAckId = 1_000_000;

/**
 * Emits `event` with a payload given as JSON text, as raw socket.io frames, and resolves with the
 * server's ack: how a hostile or broken device sends what socket.io-client's own encoder (which
 * calls JSON.stringify) could not, such as an array nested 20,000 deep.
 */
export function emitRaw(socket: ClientSocket, event: string, payloadJson: string, timeoutMs = 10_000): Promise<Ack> {
  const engine = socket.io.engine;
  const id = rawAckId++;
  const prefix = `3${AGENT_NAMESPACE},${id}`;
  return new Promise<Ack>((resolve, reject) => {
    const timer = setTimeout(() => {
      engine.off('packet', onPacket);
      reject(new Error(`no ack for raw ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onPacket = (packet: { type: string; data?: unknown }) => {
      if (packet.type !== 'message' || typeof packet.data !== 'string' || !packet.data.startsWith(`${prefix}[`)) return;
      clearTimeout(timer);
      engine.off('packet', onPacket);
      resolve((JSON.parse(packet.data.slice(prefix.length)) as [Ack])[0]);
    };
    engine.on('packet', onPacket);
    engine.write(`2${AGENT_NAMESPACE},${id}[${JSON.stringify(event)},${payloadJson}]`);
  });
}

/** `[[[…]]]` `depth` levels deep as JSON text (~40 KB at 20,000). */
export function nestedJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}
