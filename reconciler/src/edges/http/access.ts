// Who is calling: dashboard sessions (cookie), API tokens (Bearer) and the data dir's admin token.
//
// - Passwords are bcrypt hashes (salted, slow). A login for an unknown user spends the same time
//   comparing against a dummy hash, so timing does not tell which names exist.
// - A session is a random secret in an HttpOnly, SameSite=Strict cookie; the store keeps only its
//   SHA-256. Its CSRF token is derived from the secret (another hash), so it needs no storage and
//   a page that can read the CSRF token still cannot forge the cookie.
// - Failed logins are throttled per name and, more loosely (offices share addresses), per client
//   address: a sliding window in memory.
// - Roles are ordered: viewer < operator < admin. The server checks them; the UI only hides.
import { timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Role, SessionInfo } from '../../../../schemas/protocol.ts';
import type { Store } from '../store/store.ts';
import { hashSecret, newSecret } from '../transport/agent-gateway.ts';

export const SESSION_COOKIE = 'dx_session';
export const CSRF_HEADER = 'x-csrf-token';

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const BCRYPT_COST = 11;
/** Compared against for unknown users so a failed login costs the same either way; made once. */
let dummyHash: Promise<string> | undefined;

export interface Principal {
  kind: 'session' | 'token';
  name: string;
  role: Role;
  /** Sessions only. */
  session?: { idHash: string; csrfToken: string; expiresAt: string };
}

export class AccessError extends Error {
  constructor(
    readonly code: 'auth.required' | 'auth.bad-credentials' | 'auth.throttled' | 'auth.csrf' | 'auth.forbidden',
    message: string,
  ) {
    super(message);
  }
}

export interface AccessOptions {
  store: Store;
  now: () => Date;
  /** SHA-256 of the data dir's admin token. */
  adminTokenHash: string;
  sessionTtlMs?: number;
  /** Failed logins allowed per name (default 5) and per client address (default 30) in `throttleWindowMs`. */
  maxFailures?: number;
  maxFailuresPerAddress?: number;
  throttleWindowMs?: number;
}

export async function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_COST);
}

/** Reasons a password is refused when it is set; undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 10) return 'a password needs at least 10 characters';
  if (password.length > 72) return 'bcrypt reads at most 72 bytes: use at most 72 characters';
  return undefined;
}

export function hasRole(principal: Pick<Principal, 'role'>, needed: Role): boolean {
  return ROLE_RANK[principal.role] >= ROLE_RANK[needed];
}

export class Access {
  readonly #failures = new Map<string, number[]>();
  readonly #ttlMs: number;
  readonly #maxFailures: number;
  readonly #maxPerAddress: number;
  readonly #windowMs: number;

  constructor(private readonly options: AccessOptions) {
    this.#ttlMs = options.sessionTtlMs ?? 12 * 3600_000;
    this.#maxFailures = options.maxFailures ?? 5;
    this.#maxPerAddress = options.maxFailuresPerAddress ?? 30;
    this.#windowMs = options.throttleWindowMs ?? 15 * 60_000;
  }

  get sessionTtlMs(): number {
    return this.#ttlMs;
  }

  /** Checks the password and opens a session; returns the cookie's secret once. */
  async login(name: string, password: string, client: string): Promise<{ secret: string; info: SessionInfo }> {
    const keys = [`name:${name}`, `addr:${client}`];
    if (this.#recentFailures(keys[0]!) >= this.#maxFailures || this.#recentFailures(keys[1]!) >= this.#maxPerAddress) {
      throw new AccessError('auth.throttled', 'too many failed logins; try again later');
    }
    const user = await this.options.store.getUser(name);
    const ok = await bcrypt.compare(password, user && !user.disabledAt ? user.passwordHash : await (dummyHash ??= hashPassword('deployx-dummy-password')));
    if (!user || user.disabledAt || !ok) {
      for (const k of keys) this.#fail(k);
      throw new AccessError('auth.bad-credentials', 'wrong name or password');
    }
    // Only the name is forgiven: one good account must not reset the count of a guessing address.
    this.#failures.delete(keys[0]!);
    const secret = newSecret('dxs');
    const now = this.options.now();
    const expiresAt = new Date(now.getTime() + this.#ttlMs).toISOString();
    await this.options.store.createSession({ idHash: hashSecret(secret), user: user.name, createdAt: now.toISOString(), expiresAt });
    return { secret, info: { user: { name: user.name, role: user.role }, csrfToken: csrfTokenFor(secret), expiresAt } };
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.session) await this.options.store.deleteSession(principal.session.idHash);
  }

  /**
   * The principal of a request or socket handshake: a Bearer token (admin token or API token)
   * wins over the cookie. Undefined when neither is present or valid.
   */
  async authenticate(headers: { authorization?: string | undefined; cookie?: string | undefined }): Promise<Principal | undefined> {
    const now = this.options.now().toISOString();
    const bearer = /^Bearer (\S+)$/.exec(headers.authorization ?? '')?.[1];
    if (bearer !== undefined) {
      const hash = hashSecret(bearer);
      if (sameHash(hash, this.options.adminTokenHash)) return { kind: 'token', name: 'admin-token', role: 'admin' };
      const token = await this.options.store.findApiToken(hash, now);
      return token ? { kind: 'token', name: token.name, role: token.role } : undefined;
    }
    const secret = readCookie(headers.cookie, SESSION_COOKIE);
    if (secret === undefined || !/^dxs_[A-Za-z0-9_-]{20,100}$/.test(secret)) return undefined;
    const session = await this.options.store.getSession(hashSecret(secret), now);
    if (!session) return undefined;
    return {
      kind: 'session',
      name: session.user.name,
      role: session.user.role,
      session: { idHash: session.idHash, csrfToken: csrfTokenFor(secret), expiresAt: session.expiresAt },
    };
  }

  /** Cookie-authenticated state changes must carry the session's CSRF token. */
  checkCsrf(principal: Principal, method: string, header: string | undefined): void {
    if (principal.kind !== 'session' || SAFE_METHODS.has(method)) return;
    const expected = principal.session!.csrfToken;
    if (header === undefined || !sameHash(header, expected)) {
      throw new AccessError('auth.csrf', `a state-changing request needs the ${CSRF_HEADER} header of the session`);
    }
  }

  requireRole(principal: Principal, needed: Role): void {
    if (!hasRole(principal, needed)) {
      throw new AccessError('auth.forbidden', `${principal.name} is ${principal.role}; this needs ${needed}`);
    }
  }

  sessionInfo(principal: Principal): SessionInfo {
    if (!principal.session) throw new AccessError('auth.required', 'not a session');
    return { user: { name: principal.name, role: principal.role }, csrfToken: principal.session.csrfToken, expiresAt: principal.session.expiresAt };
  }

  /** Deletes expired sessions and forgets old failures; the server calls it on a timer. */
  async sweep(): Promise<number> {
    const cutoff = this.options.now().getTime() - this.#windowMs;
    for (const [key, times] of this.#failures) {
      const recent = times.filter((t) => t > cutoff);
      if (recent.length === 0) this.#failures.delete(key);
      else this.#failures.set(key, recent);
    }
    return this.options.store.deleteExpiredSessions(this.options.now().toISOString());
  }

  #recentFailures(key: string): number {
    const cutoff = this.options.now().getTime() - this.#windowMs;
    return (this.#failures.get(key) ?? []).filter((t) => t > cutoff).length;
  }

  #fail(key: string): void {
    const times = this.#failures.get(key) ?? [];
    times.push(this.options.now().getTime());
    this.#failures.set(key, times.slice(-this.#maxPerAddress));
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function csrfTokenFor(sessionSecret: string): string {
  return hashSecret(`csrf:${sessionSecret}`);
}

/** The `Set-Cookie` value for a new session (or, with maxAgeSeconds 0, for clearing it). */
export function sessionCookie(secret: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${secret}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
