// A small server that speaks schemas/protocol.ts on 127.0.0.1:<port 0> — namespace /agent with
// auth in `io.use` (device handshakes signed by the device key, checked like the real server
// does with schemas/device-auth.ts), enrollment, `job` dispatch with ack + timeout, `job:cancel`,
// and the blob route with signed device requests — and RECORDS everything it received, so agent tests assert on
// the wire. It stands in for the real reconciler, which is written elsewhere from the same file.
//
// Trust: like the real server it answers every connection with a `server:hello` signed by its
// key (`key`, default TEST_SERVER_KEY: tokens made with pinnedToken() pin it) and sends each
// job as a signed envelope with the device's next sequence. `hello: false` (a server that cannot
// prove the key) and `sendRaw` (anything as a `job`) make it the fake server of the trust tests.
//
// Recording rules a real server follows too: a `job:result` is recorded once per
// idempotencyKey when acknowledged (every delivery is still logged in `resultEvents`); a refused
// handshake is an Error with `data.code` (`auth.refused`).
import { checkBlobRequest, checkDeviceHandshake, parseBlobAuthorization, ReplayGuard } from '../../../schemas/device-auth.ts';
import { parseEnrollmentToken } from '../../../schemas/enrollment-token.ts';
import { sealJob } from '../../../schemas/job-envelope.ts';
import { publicKeyFromPem, publicKeyToPem, SERVER_HELLO_PAYLOAD_TYPE, signEnvelope, type Envelope, type SigningKey } from '../../../schemas/signing.ts';
import { TEST_SERVER_KEY } from './server-key.ts';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import type { Facts } from '../../../schemas/facts.ts';
import {
  AGENT_NAMESPACE,
  type Ack,
  type AgentAuth,
  type AgentReport,
  type AgentToServer,
  type Job,
  type JobAck,
  type JobProgress,
  type JobResult,
  type ServerToAgent,
} from '../../../schemas/protocol.ts';

interface SocketData {
  deviceId: string;
  auth: 'credential' | 'enrollment';
  challenge?: string;
}

type AgentServerSocket = Socket<AgentToServer, ServerToAgent, Record<string, never>, SocketData>;

export interface RecordedHandshake {
  at: number;
  kind: 'credential' | 'enrollment';
  accepted: boolean;
  deviceId?: string;
  machineId?: string;
  code?: string;
}

export interface ProtocolServerOptions {
  /** Accepted enrollment tokens. */
  tokens?: string[];
  /** How to answer a `job:result` (default `{ok: true}`): false swallows the ack, an Ack is sent as is. */
  ackResult?: (result: JobResult, delivery: number) => boolean | Ack;
  /** How to answer the n-th report (1-based) of the server's life: true acks, false sends no ack. Default true. */
  ackReport?: (report: unknown, n: number) => boolean | Ack;
  /** Re-send, on connect, every dispatched job that has no recorded result. Default false. */
  redispatchOnConnect?: boolean;
  /** Called as soon as the agent's ack of `enrolled` arrives (to check what is on disk then). */
  onEnrolledAck?: (deviceId: string, ack: Ack) => void;
  /** Ack wait for `job` and `enrolled`. Default 5 s. */
  ackTimeoutMs?: number;
  /** Signs hellos and jobs. Default TEST_SERVER_KEY. */
  key?: SigningKey;
  /**
   * The hello sent on connect: true (default) a correct one; false none; a function returns
   * what to send instead (a forged or replayed hello).
   */
  hello?: boolean | ((challenge: string, deviceId: string | undefined) => unknown);
  /** How long a sealed job stays valid. Default 10 min. */
  jobTtlMs?: number;
}

export interface TestDevice {
  publicKey?: string;
  credential?: string;
  machineId: string;
}

export interface ProtocolServer {
  url: string;
  handshakes: RecordedHandshake[];
  enrollments: Array<{ deviceId: string; machineId: string; facts: Facts; ack?: Ack }>;
  reports: Array<{ deviceId: string; report: AgentReport }>;
  progress: Array<{ deviceId: string; progress: JobProgress }>;
  /** Every `job:result` delivery, duplicates included. */
  resultEvents: Array<{ deviceId: string; result: JobResult; acked: boolean }>;
  /** Recorded once per idempotencyKey. */
  results: Map<string, JobResult>;
  jobAcks: Array<{ deviceId: string; jobId: string; ack: JobAck | { timeout: true } }>;
  blobRequests: Array<{ sha256: string; deviceId?: string; status: number }>;
  /**
   * deviceId → its public key (SPKI PEM) and machineId. A test may add a device from before keys
   * (`credential`, no key): it registers a key with that credential, as with the real server.
   */
  devices: Map<string, TestDevice>;
  blobs: Map<string, Uint8Array>;
  /** Sends a job (to `to`, default job.deviceId); resolves with the agent's ack (or `{timeout: true}`). */
  dispatch(job: Job, to?: string): Promise<JobAck | { timeout: true }>;
  /** Sends `payload` as a `job` event as it is (an unsigned job, a forged envelope). */
  sendRaw(deviceId: string, payload: unknown): Promise<JobAck | { timeout: true }>;
  /** The device's next job sequence (what dispatch uses). */
  nextSequence(deviceId: string): number;
  cancel(deviceId: string, jobId: string): void;
  /** Server-side disconnect of a device's sockets. */
  kick(deviceId: string): void;
  /** Forget a device's credential: its next handshake is refused. */
  revoke(deviceId: string): void;
  connected(deviceId: string): boolean;
  /** Polls `predicate` every 20 ms. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startProtocolServer(options: ProtocolServerOptions = {}): Promise<ProtocolServer> {
  const tokens = new Set(options.tokens ?? []);
  const ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
  const devices = new Map<string, TestDevice>();
  const replay = new ReplayGuard();
  const check = (deviceId: string, publicKey: string) => ({
    deviceId,
    publicKey: publicKeyFromPem(publicKey),
    serverKeys: new Set([key.keyid]),
    now: new Date(),
    replay,
  });
  const blobs = new Map<string, Uint8Array>();
  const sockets = new Map<string, Set<AgentServerSocket>>();
  const outstanding = new Map<string, Job>();
  const deliveries = new Map<string, number>();
  const sequences = new Map<string, number>();
  const key = options.key ?? TEST_SERVER_KEY;
  const nextSequence = (deviceId: string): number => {
    const n = (sequences.get(deviceId) ?? 0) + 1;
    sequences.set(deviceId, n);
    return n;
  };
  const accepted = (token: string): boolean => [...tokens].some((t) => parseEnrollmentToken(t).secret === parseEnrollmentToken(token).secret);
  let nextDevice = 1;

  const recorded: Omit<ProtocolServer, 'url' | 'dispatch' | 'sendRaw' | 'nextSequence' | 'cancel' | 'kick' | 'revoke' | 'connected' | 'waitFor' | 'close'> = {
    handshakes: [],
    enrollments: [],
    reports: [],
    progress: [],
    resultEvents: [],
    results: new Map(),
    jobAcks: [],
    blobRequests: [],
    devices,
    blobs,
  };

  const http = createServer((req, res) => serveBlob(req, res));
  const io = new Server<AgentToServer, ServerToAgent, Record<string, never>, SocketData>(http, {
    transports: ['websocket'],
  });
  const nsp = io.of(AGENT_NAMESPACE);

  function serveBlob(req: IncomingMessage, res: ServerResponse): void {
    const match = /^\/api\/v1\/blobs\/sha256\/([0-9a-f]{64})$/.exec(req.url ?? '');
    if (!match || req.method !== 'GET') {
      if (!res.headersSent && !(req.url ?? '').startsWith('/socket.io')) {
        res.writeHead(404).end();
      }
      return;
    }
    const sha256 = match[1]!;
    const parsed = parseBlobAuthorization(req.headers.authorization);
    const deviceId = parsed?.deviceId;
    const known = deviceId ? devices.get(deviceId) : undefined;
    let status = 200;
    if (!parsed || known?.publicKey === undefined || !checkBlobRequest(parsed.envelope, sha256, check(parsed.deviceId, known.publicKey)).ok) status = 401;
    else if (!blobs.has(sha256)) status = 404;
    recorded.blobRequests.push({ sha256, ...(deviceId ? { deviceId } : {}), status });
    if (status !== 200) {
      res.writeHead(status).end();
      return;
    }
    const body = blobs.get(sha256)!;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(Buffer.from(body));
  }

  const refuse = (next: (err?: Error) => void, code: string, message: string): void => {
    const error = new Error(message) as Error & { data?: unknown };
    error.data = { code };
    next(error);
  };

  nsp.use((socket, next) => {
    const auth = socket.handshake.auth as Partial<AgentAuth> & Record<string, unknown>;
    if (typeof auth.challenge === 'string') socket.data.challenge = auth.challenge;
    if (typeof auth.deviceId === 'string' && auth.handshake !== undefined) {
      const known = devices.get(auth.deviceId);
      // A device from before keys registers the key it sends, with its credential.
      const legacy = known !== undefined && known.publicKey === undefined && typeof auth.credential === 'string' && auth.credential === known.credential;
      const publicKey = legacy && typeof auth.publicKey === 'string' ? auth.publicKey : known?.publicKey;
      let accepted = false;
      try {
        accepted = publicKey !== undefined && checkDeviceHandshake(auth.handshake, check(auth.deviceId, publicKey)).ok;
      } catch {
        accepted = false;
      }
      if (accepted && legacy && known) devices.set(auth.deviceId, { publicKey: publicKey!, machineId: known.machineId });
      recorded.handshakes.push({
        at: Date.now(),
        kind: 'credential',
        accepted,
        deviceId: auth.deviceId,
        ...(accepted ? {} : { code: 'auth.refused' }),
      });
      if (!accepted) return refuse(next, 'auth.refused', 'auth.refused: unknown device or bad handshake');
      socket.data.deviceId = auth.deviceId;
      socket.data.auth = 'credential';
      return next();
    }
    if (typeof auth.enrollmentToken === 'string' && typeof auth.machineId === 'string') {
      if (!accepted(auth.enrollmentToken)) {
        recorded.handshakes.push({ at: Date.now(), kind: 'enrollment', accepted: false, machineId: auth.machineId, code: 'auth.refused' });
        return refuse(next, 'auth.refused', 'auth.refused: enrollment token not valid');
      }
      const existing = [...devices].find(([, d]) => d.machineId === auth.machineId)?.[0];
      const deviceId = existing ?? `dev-${nextDevice++}`;
      if (typeof auth.publicKey !== 'string') {
        recorded.handshakes.push({ at: Date.now(), kind: 'enrollment', accepted: false, machineId: auth.machineId, code: 'auth.refused' });
        return refuse(next, 'auth.refused', 'auth.refused: enrollment without a public key');
      }
      devices.set(deviceId, { publicKey: auth.publicKey, machineId: auth.machineId });
      recorded.handshakes.push({ at: Date.now(), kind: 'enrollment', accepted: true, deviceId, machineId: auth.machineId });
      recorded.enrollments.push({ deviceId, machineId: auth.machineId, facts: (auth.facts ?? {}) as Facts });
      socket.data.deviceId = deviceId;
      socket.data.auth = 'enrollment';
      return next();
    }
    recorded.handshakes.push({ at: Date.now(), kind: 'credential', accepted: false, code: 'auth.invalid' });
    return refuse(next, 'auth.invalid', 'auth.invalid: handshake auth has neither a credential nor a token');
  });

  nsp.on('connection', (socket) => {
    const deviceId = socket.data.deviceId;
    let set = sockets.get(deviceId);
    if (!set) sockets.set(deviceId, (set = new Set()));
    set.add(socket);
    socket.on('disconnect', () => set.delete(socket));
    const challenge = socket.data.challenge ?? '';
    const helloDevice = socket.data.auth === 'enrollment' ? undefined : deviceId;
    if (options.hello === undefined || options.hello === true) {
      socket.emit(
        'server:hello',
        signEnvelope(
          SERVER_HELLO_PAYLOAD_TYPE,
          { challenge, ...(helloDevice === undefined ? {} : { deviceId: helloDevice }), keys: [{ keyid: key.keyid, publicKey: publicKeyToPem(key.privateKey) }], issuedAt: new Date().toISOString() },
          key,
        ),
      );
    } else if (typeof options.hello === 'function') {
      socket.emit('server:hello', options.hello(challenge, helloDevice) as Envelope);
    }

    socket.on('report', (report, ack) => {
      recorded.reports.push({ deviceId, report });
      const answer = options.ackReport ? options.ackReport(report, recorded.reports.length) : true;
      if (answer !== false) ack(answer === true ? { ok: true } : answer);
    });
    socket.on('job:progress', (progress) => {
      recorded.progress.push({ deviceId, progress });
    });
    socket.on('job:result', (result, ack) => {
      const delivery = (deliveries.get(result.idempotencyKey) ?? 0) + 1;
      deliveries.set(result.idempotencyKey, delivery);
      const answer = options.ackResult ? options.ackResult(result, delivery) : true;
      const reply: Ack | undefined = answer === true ? { ok: true } : answer === false ? undefined : answer;
      const acked = reply?.ok === true;
      recorded.resultEvents.push({ deviceId, result, acked });
      if (acked && !recorded.results.has(result.idempotencyKey)) recorded.results.set(result.idempotencyKey, result);
      if (acked) outstanding.delete(result.idempotencyKey);
      if (reply) ack(reply);
    });

    void (async () => {
      if (socket.data.auth === 'enrollment') {
        const enrollment = recorded.enrollments.findLast((e) => e.deviceId === deviceId);
        try {
          const ack = await socket.timeout(ackTimeoutMs).emitWithAck('enrolled', { deviceId });
          if (enrollment) enrollment.ack = ack;
          options.onEnrolledAck?.(deviceId, ack);
        } catch {
          socket.disconnect(true);
          return;
        }
      }
      if (options.redispatchOnConnect) {
        for (const job of outstanding.values()) if (job.deviceId === deviceId) void send(socket, job);
      }
    })();
  });

  async function send(socket: AgentServerSocket, job: Job): Promise<JobAck | { timeout: true }> {
    // Sealed at each dispatch, like the real server: a re-send gets a new sequence and fresh times.
    const envelope = sealJob(job, { sequence: nextSequence(job.deviceId), issuedAt: new Date(), ttlMs: options.jobTtlMs ?? 600_000 }, [key]);
    return sendEnvelope(socket, job.deviceId, job.id, envelope);
  }

  async function sendEnvelope(socket: AgentServerSocket, deviceId: string, jobId: string, payload: unknown): Promise<JobAck | { timeout: true }> {
    let ack: JobAck | { timeout: true };
    try {
      ack = await socket.timeout(ackTimeoutMs).emitWithAck('job', payload as Envelope);
    } catch {
      ack = { timeout: true };
    }
    recorded.jobAcks.push({ deviceId, jobId, ack });
    return ack;
  }

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;

  const waitFor = async (predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  return {
    url: `http://127.0.0.1:${port}`,
    ...recorded,
    dispatch: async (job, to = job.deviceId) => {
      if (!recorded.results.has(job.idempotencyKey)) outstanding.set(job.idempotencyKey, job);
      const socket = [...(sockets.get(to) ?? [])].at(-1);
      if (!socket) return { timeout: true };
      return send(socket, job);
    },
    sendRaw: async (deviceId, payload) => {
      const socket = [...(sockets.get(deviceId) ?? [])].at(-1);
      if (!socket) return { timeout: true };
      const jobId = typeof payload === 'object' && payload !== null && typeof (payload as { id?: unknown }).id === 'string' ? (payload as { id: string }).id : '?';
      return sendEnvelope(socket, deviceId, jobId, payload);
    },
    nextSequence,
    cancel: (deviceId, jobId) => {
      for (const socket of sockets.get(deviceId) ?? []) socket.emit('job:cancel', { jobId });
    },
    kick: (deviceId) => {
      for (const socket of sockets.get(deviceId) ?? []) socket.disconnect(true);
    },
    revoke: (deviceId) => {
      devices.delete(deviceId);
      for (const socket of sockets.get(deviceId) ?? []) socket.disconnect(true);
    },
    connected: (deviceId) => (sockets.get(deviceId)?.size ?? 0) > 0,
    waitFor,
    close: async () => {
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
      });
      http.closeAllConnections();
    },
  };
}
