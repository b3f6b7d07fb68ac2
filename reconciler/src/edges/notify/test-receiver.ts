// Test support: a real HTTP receiver on 127.0.0.1:0 that records every request (method, path,
// query, headers, raw body, arrival time) and answers what the test's `respond` says, including
// never (`'hang'`) or later (a promise).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` when the body had arrived. */
  receivedAt: number;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';
/** `index` counts requests from 0 across all paths. */
export type Responder = (req: ReceivedRequest, index: number) => Reply | Promise<Reply>;

export interface Receiver {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  readonly requests: readonly ReceivedRequest[];
  /** The requests whose path is `path`, in arrival order. */
  at(path: string): ReceivedRequest[];
  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder = () => ({ status: 200 })): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.search,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: performance.now(),
      };
      const index = requests.push(received) - 1;
      for (const wake of waiters.splice(0)) wake();
      void Promise.resolve(respond(received, index)).then((reply) => {
        if (reply === 'hang') return;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    at: (path) => requests.filter((r) => r.path === path),
    async waitFor(count, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (requests.length < count) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`receiver: ${requests.length} of ${count} requests after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
