// The agent's connection to `<server>/agent`, with its own reconnect loop.
//
// socket.io-client's built-in reconnection is off: it cannot rebuild `auth` between attempts
// and its jitter is partial. Here every attempt
//   1. builds `auth` afresh: `{deviceId, handshake}`, a statement signed by the device key
//      (schemas/device-auth.ts: fresh nonce and time, bound to the pinned server key), or — when
//      there is no stored identity, or the server refused it and a token is at hand —
//      `{enrollmentToken, machineId, facts, publicKey}` with a key made for this enrollment;
//   2. opens one socket (`transports: ['websocket']`, `reconnection: false`, `forceNew`, so 10,000
//      simulated devices in one process get 10,000 connections rather than one multiplexed one);
//   3. on `enrolled` writes the device id and key (0600, atomically) BEFORE acking it; an enrolling
//      socket becomes a session only once that is done, so nothing runs without an identity;
//   4. when the socket ends, waits and goes again (ReconnectBackoff, schemas/backoff.ts): full
//      jitter, at most 5 s apart during the first minute of an outage (a server restart) and
//      growing to 60 s after; a session that lasted `stableSessionMs` starts the count over, a
//      server that accepts and drops at once keeps it growing.
//
// Proof of the server's key: every attempt sends a fresh random `challenge` in `auth`; the
// server's first message must be `server:hello`, signed by a key the agent trusts (pinned from
// the enrollment token, or learnt from an earlier verified hello) and answering that challenge.
// Until it has verified one, the agent sends nothing and accepts nothing (no report, no job, no
// enrollment); without one within `helloTimeoutMs` (5 s), or with a wrong one, it disconnects,
// logs one line and waits REFUSED_BACKOFF (a server that cannot prove its key will not learn
// to). A verified hello's key list becomes the trusted set: that is how a rotation arrives.
//
// Refusals. The server refuses a handshake in its `io.use` middleware with an Error whose
// `data.code` (or message) is an `auth.*` code, or a `protocol.*` code for a protocol it cannot
// speak. A refusal waits REFUSED_BACKOFF (≥ 15 s, up to 10 min) and is logged as an error:
//   credential refused, token at hand → re-enroll with the token (same machineId) next time;
//   credential refused, no token      → run() rejects with `transport.refused` (the CLI exits 3);
//   token refused                     → keep trying slowly (the operator may fix the token).
// Any other connect_error (server down, timeout, TLS) is transient: CONNECT_BACKOFF. A server
// that cannot serve the handshake yet refuses with `{code: 'server.busy', retryAfterMs}`: that
// wait (already jittered by the server) is taken as it is, and does not grow the count.
import { randomBytes } from 'node:crypto';
import { signDeviceHandshake } from '../../../schemas/device-auth.ts';
import { publicKeyToPem } from '../../../schemas/signing.ts';
import { io, type Socket } from 'socket.io-client';
import type { Facts } from '../../../schemas/facts.ts';
import {
  AGENT_NAMESPACE,
  PROTOCOL_VERSION,
  type Ack,
  type AgentAuth,
  type AgentToServer,
  type Enrollment,
  type ServerToAgent,
} from '../../../schemas/protocol.ts';
import { AgentError, describeError, isAgentError } from '../errors.ts';
import { deviceSigningKey, newDeviceKey, type Credentials } from '../state/credentials.ts';
import { Backoff, CONNECT_BACKOFF, ReconnectBackoff, REFUSED_BACKOFF, type BackoffPolicy, type ReconnectPolicy } from './backoff.ts';
import { sleep, type Clock, type ClockTimer } from './clock.ts';
import type { ServerTrust } from './server-trust.ts';
import { SecretSet, type Logger } from '../../../schemas/log.ts';

export type AgentSocket = Socket<ServerToAgent, AgentToServer>;

/** Where the device credential lives; write() is durable before it resolves. */
export interface CredentialStore {
  read(): Promise<Credentials | undefined>;
  write(credentials: Credentials): Promise<void>;
}

export interface EnrollmentSource {
  token?: string;
  /** Stable across restarts: the server re-binds a re-enrolling machine to its device. */
  machineId: string;
  /** Read on every enrollment attempt. */
  facts: () => Promise<Facts>;
}

/** A connected socket whose device identity is known (credential handshake, or enrolled). */
export interface Session {
  socket: AgentSocket;
  identity: Credentials;
  /** Resolves with socket.io's disconnect reason. */
  closed: Promise<string>;
}

export type ConnectionEvent =
  | { type: 'connect-failed'; code: string; refused: boolean; retryInMs: number }
  | { type: 'enrolled'; deviceId: string }
  | { type: 'disconnected'; reason: string; retryInMs: number };

export interface ConnectionOptions {
  /** Base URL of the server (`http://deployx:8080`); AGENT_NAMESPACE is appended. */
  server: string;
  credentials: CredentialStore;
  enrollment: EnrollmentSource;
  /** The server keys this agent trusts; every connection must prove one (server:hello). */
  trust: ServerTrust;
  /** How long after connecting the server has to send a verifiable hello. Default 5 s. */
  helloTimeoutMs?: number;
  /** Called once per session, synchronously after it is established. */
  onSession: (session: Session) => void;
  onEvent?: (event: ConnectionEvent) => void;
  logger: Logger;
  clock: Clock;
  random?: () => number;
  /** Reconnect waits; fields left out come from CONNECT_BACKOFF. */
  backoff?: BackoffPolicy & Partial<ReconnectPolicy>;
  refusedBackoff?: BackoffPolicy;
  /** Transport open + namespace CONNECT. Default 20 s. */
  connectTimeoutMs?: number;
  /** An enrolling socket without `enrolled` this long after connecting is dropped. Default 30 s. */
  enrollTimeoutMs?: number;
  /** Sessions at least this long reset the backoff. Default CONNECT_BACKOFF's (10 s). */
  stableSessionMs?: number;
  /** The credential and token are added here so logs mask them. */
  secrets?: SecretSet;
  /** PEM CA certificates trusted for an https:// server instead of the system's (`--ca`). */
  ca?: string;
}

export interface ConnectErrorClass {
  refused: boolean;
  code: string;
  message: string;
  /** The server's reason for a refusal (`data.reason`), e.g. `handshake-stale`. */
  reason?: string;
  retryAfterMs?: number;
}

const REFUSAL_CODE = /^(auth|protocol)\.[a-z0-9.-]+$/i;

/**
 * Sorts a socket.io `connect_error`. The server's middleware error is `{message, data}`;
 * `data.code` wins, a message that is itself a code (`auth.refused`) counts too. Pure.
 */
export function classifyConnectError(error: unknown): ConnectErrorClass {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { message?: unknown; data?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const data = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as { code?: unknown; retryAfterMs?: unknown; reason?: unknown };
  const dataCode = typeof data.code === 'string' ? data.code : undefined;
  const messageCode = REFUSAL_CODE.test(message.trim()) ? message.trim() : undefined;
  const tls = tlsFailure(error);
  if (tls !== undefined && dataCode === undefined) return { refused: false, code: 'connect.tls', message: tls };
  const code = dataCode ?? messageCode ?? transientCode(message);
  const retryAfterMs =
    typeof data.retryAfterMs === 'number' && Number.isFinite(data.retryAfterMs) && data.retryAfterMs > 0
      ? Math.min(data.retryAfterMs, 3_600_000)
      : undefined;
  return {
    refused: REFUSAL_CODE.test(code),
    code,
    message,
    ...(typeof data.reason === 'string' && /^[a-z0-9.-]{1,64}$/.test(data.reason) ? { reason: data.reason } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

const TLS_CODE = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

/**
 * The reason a TLS handshake refused the server's certificate, from the websocket transport's
 * error (socket.io-client puts the ws error under `description.error`); undefined otherwise.
 * Transient like other connect failures (a proxy on the path may be gone later), but said plainly.
 */
function tlsFailure(error: unknown): string | undefined {
  const cause = (error as { description?: { error?: { code?: unknown; message?: unknown } } } | null)?.description?.error;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === undefined || !TLS_CODE.test(code)) return undefined;
  const reason = typeof cause?.message === 'string' ? cause.message : code;
  return `the server's TLS certificate is not trusted (${reason}); if a private CA issued it, give --ca FILE (or NODE_EXTRA_CA_CERTS)`;
}

function transientCode(message: string): string {
  if (/timeout/i.test(message)) return 'connect.timeout';
  if (/websocket error|ECONNREFUSED|xhr poll error|transport/i.test(message)) return 'connect.unreachable';
  return 'connect.failed';
}

type Outcome =
  | { kind: 'session'; durationMs: number; reason: string }
  | ({ kind: 'failed'; unproven?: boolean } & ConnectErrorClass);

interface BuiltAuth {
  kind: 'credential' | 'enrollment';
  auth: AgentAuth;
  identity?: Credentials;
}

type ChosenAuth = { kind: 'credential'; identity: Credentials } | { kind: 'enrollment'; token: string };

export class Connection {
  private stopped = false;
  private readonly stopController = new AbortController();
  private current: AgentSocket | undefined;
  private running: Promise<void> | undefined;
  /** The server refused the stored credential: enroll with the token until a new one is stored. */
  private credentialRefused = false;
  private known: Credentials | undefined;
  /** The key made for the enrollment under way (PKCS#8 PEM), stored once the server answers. */
  private enrollKey: string | undefined;
  private readonly backoff: ReconnectBackoff;
  private readonly stableSessionMs: number;
  private readonly refusedBackoff: Backoff;
  private readonly url: string;
  private readonly secrets: SecretSet;

  constructor(private readonly options: ConnectionOptions) {
    const { jitter: _jitter, ...backoff } = { ...CONNECT_BACKOFF, ...options.backoff };
    this.stableSessionMs = options.stableSessionMs ?? backoff.stableSessionMs;
    this.backoff = new ReconnectBackoff({ ...backoff, stableSessionMs: this.stableSessionMs }, options.random);
    this.refusedBackoff = new Backoff(options.refusedBackoff ?? REFUSED_BACKOFF, options.random);
    this.url = options.server.replace(/\/+$/, '') + AGENT_NAMESPACE;
    this.secrets = options.secrets ?? new SecretSet();
    this.secrets.add(options.enrollment.token);
  }

  /** The device identity last used or issued (undefined before the first enrollment). */
  get identity(): Credentials | undefined {
    return this.known;
  }

  get connected(): boolean {
    return this.current?.connected === true;
  }

  /**
   * Runs the loop until stop(). Rejects with `transport.refused` (credential refused, no token)
   * or `transport.not-enrolled` (neither a credential nor a token).
   */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Closes the socket and ends the loop; run() resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.current?.disconnect();
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    const { logger, clock } = this.options;
    while (!this.stopped) {
      const built = await this.buildAuth();
      const outcome = await this.attempt(built);
      if (this.stopped) return;

      let delay: number;
      const now = clock.now().getTime();
      if (outcome.kind === 'session') {
        delay = this.backoff.sessionEnded(now);
        if (outcome.durationMs >= this.stableSessionMs) this.refusedBackoff.reset();
        logger.warn('disconnected', { reason: outcome.reason, retryInMs: delay });
        this.emit({ type: 'disconnected', reason: outcome.reason, retryInMs: delay });
      } else if (outcome.unproven) {
        delay = this.refusedBackoff.next();
        logger.error('server not trusted: it did not prove it holds a pinned key; disconnected', { code: outcome.code, reason: outcome.message, retryInMs: delay });
        this.emit({ type: 'connect-failed', code: outcome.code, refused: true, retryInMs: delay });
      } else if (outcome.refused && outcome.reason === 'handshake-stale') {
        // The key is fine; the clocks disagree. Enrolling again would not help.
        delay = this.refusedBackoff.next();
        logger.error("handshake refused: this device's clock and the server's differ by more than 5 minutes; set the time (NTP)", { code: outcome.code, retryInMs: delay });
        this.emit({ type: 'connect-failed', code: outcome.code, refused: true, retryInMs: delay });
      } else if (outcome.refused) {
        if (built.kind === 'credential') {
          if (this.options.enrollment.token === undefined) {
            logger.error('credential refused and no enrollment token: stopping', {
              deviceId: built.identity?.deviceId,
              code: outcome.code,
              reason: outcome.message,
            });
            throw new AgentError(
              'transport.refused',
              `the server refused the credential of device ${built.identity?.deviceId ?? '?'} (${outcome.code}); ` +
                'give an enrollment token (--token or DEPLOYX_ENROLLMENT_TOKEN) to enroll again',
            );
          }
          this.credentialRefused = true;
        }
        delay = Math.max(this.refusedBackoff.next(), outcome.retryAfterMs ?? 0);
        logger.error('handshake refused', {
          auth: built.kind,
          code: outcome.code,
          reason: outcome.message,
          retryInMs: delay,
          ...(built.kind === 'credential' ? { next: 'enroll with the token' } : {}),
        });
        this.emit({ type: 'connect-failed', code: outcome.code, refused: true, retryInMs: delay });
      } else {
        delay = outcome.retryAfterMs === undefined ? this.backoff.failed(now) : this.backoff.told(now, outcome.retryAfterMs);
        logger.warn('connect failed', { code: outcome.code, reason: outcome.message, retryInMs: delay });
        this.emit({ type: 'connect-failed', code: outcome.code, refused: false, retryInMs: delay });
      }
      await sleep(clock, delay, this.stopController.signal);
    }
  }

  private async buildAuth(): Promise<BuiltAuth> {
    const { enrollment, clock } = this.options;
    const chosen = await this.chooseAuth();
    // After choosing: no credential and no token is `transport.not-enrolled` whatever the trust.
    await this.options.trust.load();
    if (chosen.kind === 'enrollment') {
      this.enrollKey ??= newDeviceKey();
      return {
        kind: 'enrollment',
        auth: {
          enrollmentToken: chosen.token,
          machineId: enrollment.machineId,
          facts: await enrollment.facts(),
          publicKey: publicKeyToPem(deviceSigningKey({ privateKey: this.enrollKey }).privateKey),
          protocol: PROTOCOL_VERSION,
        },
      };
    }
    const { identity } = chosen;
    const serverKey = this.options.trust.trusted[0]?.keyid;
    if (serverKey === undefined) throw new AgentError('trust.no-pin', 'no trusted server key to address the handshake to');
    const key = deviceSigningKey(identity);
    const handshake = signDeviceHandshake({ deviceId: identity.deviceId, serverKey, key, now: clock.now() });
    const auth: AgentAuth =
      identity.legacyCredential === undefined
        ? { deviceId: identity.deviceId, handshake, protocol: PROTOCOL_VERSION }
        : { deviceId: identity.deviceId, handshake, credential: identity.legacyCredential, publicKey: publicKeyToPem(key.privateKey), protocol: PROTOCOL_VERSION };
    return { kind: 'credential', auth, identity };
  }

  private async chooseAuth(): Promise<ChosenAuth> {
    const { enrollment, logger } = this.options;
    let stored: Credentials | undefined;
    if (!this.credentialRefused) {
      try {
        stored = await this.options.credentials.read();
      } catch (error) {
        if (!isAgentError(error, 'state.corrupt') || enrollment.token === undefined) throw error;
        logger.error('stored credential unreadable: enrolling again', { error: describeError(error) });
      }
    }
    if (stored) {
      this.known = stored;
      this.secrets.add(stored.privateKey);
      this.secrets.add(stored.legacyCredential);
      return { kind: 'credential', identity: stored };
    }
    if (enrollment.token !== undefined) return { kind: 'enrollment', token: enrollment.token };
    throw new AgentError(
      'transport.not-enrolled',
      'no stored credential and no enrollment token: give --token (or DEPLOYX_ENROLLMENT_TOKEN) for the first connection',
    );
  }

  private attempt(built: BuiltAuth): Promise<Outcome> {
    const { clock, logger } = this.options;
    const challenge = randomBytes(24).toString('base64url');
    return new Promise<Outcome>((resolve) => {
      const socket: AgentSocket = io(this.url, {
        transports: ['websocket'],
        auth: { ...built.auth, challenge } as unknown as Record<string, unknown>,
        reconnection: false,
        forceNew: true,
        autoConnect: false,
        timeout: this.options.connectTimeoutMs ?? 20_000,
        ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
      });
      this.current = socket;
      let identity = built.identity;
      let sessionStartedAt: number | undefined;
      let settled = false;
      let enrollTimer: ClockTimer | undefined;
      let helloTimer: ClockTimer | undefined;
      /** Resolves true once a hello verified, false when it failed. */
      let proven: ((ok: boolean) => void) | undefined;
      const helloDone = new Promise<boolean>((r) => (proven = r));
      let helloOk = false;
      let closeSession: (reason: string) => void = () => {};
      const closed = new Promise<string>((r) => (closeSession = r));

      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(connectTimer);
        if (enrollTimer !== undefined) clock.clearTimeout(enrollTimer);
        if (helloTimer !== undefined) clock.clearTimeout(helloTimer);
        proven?.(false);
        socket.disconnect();
        if (this.current === socket) this.current = undefined;
        resolve(outcome);
      };
      const failed = (code: string, message: string): void => finish({ kind: 'failed', refused: false, code, message });

      const startSession = (): void => {
        if (settled || !helloOk || sessionStartedAt !== undefined || identity === undefined || !socket.connected) return;
        if (enrollTimer !== undefined) clock.clearTimeout(enrollTimer);
        sessionStartedAt = clock.now().getTime();
        this.backoff.connected(sessionStartedAt);
        logger.info('connected', { deviceId: identity.deviceId, auth: built.kind });
        if (identity.legacyCredential !== undefined) this.forgetLegacyCredential(identity);
        try {
          this.options.onSession({ socket, identity, closed });
        } catch (error) {
          logger.error('session setup failed', { error: describeError(error) });
        }
      };

      const connectTimer = clock.setTimeout(
        () => failed('connect.timeout', `no handshake within ${this.options.connectTimeoutMs ?? 20_000} ms`),
        (this.options.connectTimeoutMs ?? 20_000) + 1_000,
      );

      const unproven = (code: string, message: string): void => finish({ kind: 'failed', unproven: true, refused: false, code, message });
      socket.on('server:hello', (hello: unknown) => {
        if (helloOk || settled) return;
        void this.options.trust.acceptHello(hello, challenge, identity?.deviceId).then(
          (verdict) => {
            if (!verdict.ok) {
              unproven(verdict.code, verdict.error);
              return;
            }
            helloOk = true;
            if (helloTimer !== undefined) clock.clearTimeout(helloTimer);
            proven?.(true);
            logger.debug('server proved its key', { keyid: verdict.keyid, keys: verdict.keys.length });
            if (identity !== undefined) {
              startSession();
              return;
            }
            const ms = this.options.enrollTimeoutMs ?? 30_000;
            enrollTimer = clock.setTimeout(() => failed('enroll.timeout', `connected but no enrollment within ${ms} ms`), ms);
          },
          (error: unknown) => unproven('hello.store-failed', `could not store the server keys: ${describeError(error)}`),
        );
      });
      socket.on('enrolled', (enrollment: Enrollment, ack: (res: Ack) => void) => {
        void helloDone.then((ok) => {
          if (!ok) {
            try {
              if (typeof ack === 'function') ack({ ok: false, error: 'the server has not proved its key', code: 'hello.missing' });
            } catch {
              // gone
            }
            return undefined;
          }
          return this.acceptEnrollment(enrollment, ack);
        }).then((stored) => {
          if (settled) return;
          if (!stored) {
            failed('enroll.store-failed', 'could not store the device key');
            return;
          }
          identity = stored;
          startSession();
        });
      });
      socket.on('connect', () => {
        clock.clearTimeout(connectTimer);
        if (helloOk) {
          startSession();
          return;
        }
        const ms = this.options.helloTimeoutMs ?? 5_000;
        helloTimer = clock.setTimeout(() => unproven('hello.timeout', `no verifiable server hello within ${ms} ms`), ms);
      });
      socket.on('connect_error', (error: Error) => {
        finish({ kind: 'failed', ...classifyConnectError(error) });
      });
      socket.on('disconnect', (reason: string) => {
        closeSession(reason);
        if (sessionStartedAt === undefined) failed('connect.dropped', `disconnected before the session began (${reason})`);
        else finish({ kind: 'session', durationMs: clock.now().getTime() - sessionStartedAt, reason });
      });
      socket.connect();
    });
  }

  /**
   * The server registered the key of an identity from before keys (the session began): the old
   * credential opens nothing any more, and is dropped from the state file.
   */
  private forgetLegacyCredential(identity: Credentials): void {
    const current = { deviceId: identity.deviceId, privateKey: identity.privateKey };
    this.options.credentials.write(current).then(
      () => {
        if (this.known === identity) this.known = current;
        this.options.logger.info('device key registered; the old credential is forgotten', { deviceId: identity.deviceId });
      },
      (error: unknown) => this.options.logger.warn('could not rewrite the state file without the old credential', { error: describeError(error) }),
    );
  }

  /** Stores the device id and the enrollment's key, then acks. Resolves with them, or undefined when it could not. */
  private async acceptEnrollment(enrollment: Enrollment, ack: (res: Ack) => void): Promise<Credentials | undefined> {
    const { logger } = this.options;
    const reply = (res: Ack): void => {
      try {
        if (typeof ack === 'function') ack(res);
      } catch {
        // The socket is gone; the server will see no ack and the agent enrolls again.
      }
    };
    if (
      typeof enrollment !== 'object' ||
      enrollment === null ||
      typeof enrollment.deviceId !== 'string' ||
      enrollment.deviceId === '' ||
      enrollment.deviceId.length > 256 ||
      this.enrollKey === undefined
    ) {
      reply({ ok: false, error: 'enrollment needs a deviceId', code: 'enroll.invalid' });
      logger.error('invalid enrollment from the server');
      return undefined;
    }
    const credentials: Credentials = { deviceId: enrollment.deviceId, privateKey: this.enrollKey };
    this.secrets.add(credentials.privateKey);
    try {
      await this.options.credentials.write(credentials);
    } catch (error) {
      reply({ ok: false, error: 'the agent could not store its device key', code: 'state.write-failed' });
      logger.error('cannot store the device key', { error: describeError(error) });
      return undefined;
    }
    this.enrollKey = undefined;
    this.known = credentials;
    this.credentialRefused = false;
    reply({ ok: true });
    logger.info('enrolled', { deviceId: credentials.deviceId });
    this.emit({ type: 'enrolled', deviceId: credentials.deviceId });
    return credentials;
  }

  private emit(event: ConnectionEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // Observers must not break the loop.
    }
  }
}
