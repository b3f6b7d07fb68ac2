// `fetch` for a server whose certificate is issued by a private CA (`deployx agent --ca FILE`).
//
// Node 20's global fetch cannot be given CA certificates per call (only NODE_EXTRA_CA_CERTS at
// process start), so blob downloads go through node:https with `ca` instead: the socket
// (socket.io-client → ws) takes the same `ca`. Only what the blob client uses is supported: GET
// with headers and an AbortSignal, answered as a WHATWG Response with a streamed body.
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export function fetchTrusting(ca: string | Buffer): typeof globalThis.fetch {
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const signal = init?.signal ?? undefined;
    const message = await new Promise<IncomingMessage>((resolve, reject) => {
      const options = { method: init?.method ?? 'GET', headers, ...(signal ? { signal } : {}) };
      const req = url.protocol === 'https:' ? httpsRequest(url, { ...options, ca }, resolve) : httpRequest(url, options, resolve);
      req.on('error', reject);
      req.end();
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(message.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
    }
    const status = message.statusCode ?? 502;
    const body = status === 204 || status === 304 ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>);
    return new Response(body, { status, statusText: message.statusMessage ?? '', headers: responseHeaders });
  }) as typeof globalThis.fetch;
}
