// The CLI's calls to a server's /api/v1 with an API token (`DEPLOYX_API_TOKEN`): one place for the
// request, the one-line error, and the split between "the server refused" (exit 1) and "could not
// ask" (exit 2).

/** Refused by the server (exit 1), with its error code. */
export class RefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON API call; a 404 or 409 with an error code is a RefusedError, anything else failing an Error. */
export async function callApi<T>(server: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const url = server + path;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok && parsed !== undefined) return parsed as T;
  const detail = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  if (detail?.code !== undefined && (response.status === 404 || response.status === 409)) {
    throw new RefusedError(detail.code, detail.message ?? `HTTP ${response.status}`);
  }
  throw new Error(`${method} ${url}: HTTP ${response.status} ${detail ? `${detail.code}: ${detail.message}` : text.slice(0, 200)}`);
}
