// The REST client: same-origin JSON under /api/v1 with the session cookie, and the CSRF header on
// every state-changing request. Errors arrive as `{error:{code,message}}` and leave as ApiError.
import type { SessionInfo } from '../../../schemas/protocol.ts';
import type { ApiErrorBody } from '../view-model/wire.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** No session (never logged in, expired, or logged out elsewhere). */
  get unauthenticated(): boolean {
    return this.status === 401;
  }
}

export type UnauthorizedHandler = (error: ApiError) => void;

export class ApiClient {
  #csrf: string | undefined;
  #onUnauthorized: UnauthorizedHandler | undefined;

  constructor(readonly base = '') {}

  /** Called on any 401 from an authenticated call: the app shows the login page. */
  onUnauthorized(handler: UnauthorizedHandler): void {
    this.#onUnauthorized = handler;
  }

  /** The signed-in session; an ApiError 401 (not from the network: the server answers 200) when none. */
  async session(): Promise<SessionInfo> {
    const { session } = await this.request<{ session: SessionInfo | null }>('GET', '/api/v1/session/current', undefined, { quiet401: true });
    if (!session) throw new ApiError(401, 'auth.required', 'not signed in');
    this.#csrf = session.csrfToken;
    return session;
  }

  async login(name: string, password: string): Promise<SessionInfo> {
    const info = await this.request<SessionInfo>('POST', '/api/v1/session', { name, password }, { quiet401: true });
    this.#csrf = info.csrfToken;
    return info;
  }

  async logout(): Promise<void> {
    try {
      await this.request<void>('DELETE', '/api/v1/session', undefined, { quiet401: true });
    } finally {
      this.#csrf = undefined;
    }
  }

  get<T>(path: string, init: { signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, init);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /** GET that answers undefined for 404: for optional parts of the API (provisioning). */
  async optional<T>(path: string, init: { signal?: AbortSignal } = {}): Promise<T | undefined> {
    try {
      return await this.get<T>(path, init);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async request<T>(method: string, path: string, body?: unknown, options: { quiet401?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && method !== 'HEAD' && this.#csrf) headers['x-csrf-token'] = this.#csrf;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        credentials: 'same-origin',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, 'network', 'The server cannot be reached');
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json as ApiErrorBody | undefined)?.error;
      const error = new ApiError(res.status, e?.code ?? `http.${res.status}`, e?.message ?? `${method} ${path}: HTTP ${res.status}`);
      if (res.status === 401 && !options.quiet401) this.#onUnauthorized?.(error);
      throw error;
    }
    return json as T;
  }
}
