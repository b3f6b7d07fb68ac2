// Test support: a real Git smart-HTTP server, `git http-backend` run as CGI behind node:http on
// 127.0.0.1:0. Serves clone, fetch and push to both isomorphic-git and the git CLI, optionally
// behind Basic or Bearer authentication, and records every request it answered.
//
// The git CLI must talk to it from another process *asynchronously* (async `execFile`): a blocking
// `execFileSync('git', ['push', ...])` in the process hosting this server deadlocks it.
import { execFile, spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const GIT_HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

/** Credentials every request must carry; none when omitted. */
export type TestServerAuth = { username: string; password: string } | { token: string };

export interface StartGitHttpServerOptions {
  /** The directory whose bare repositories are served: `<url>/<name>.git` is `<projectRoot>/<name>.git`. */
  projectRoot: string;
  auth?: TestServerAuth;
}

export interface RecordedRequest {
  method: string;
  /** The path, without the query string. */
  path: string;
  /** `git-upload-pack` (clone, fetch) or `git-receive-pack` (push), when the request names one. */
  service: string | undefined;
  status: number;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** Every answered request, in order. */
  readonly requests: readonly RecordedRequest[];
  close(): Promise<void>;
}

export async function startGitHttpServer(options: StartGitHttpServerOptions): Promise<GitHttpServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    serveCgi(options, req, res, requests);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** `git init --bare` `<projectRoot>/<name>.git` with pushes over HTTP allowed; its path. */
export async function createBareRepo(projectRoot: string, name: string): Promise<string> {
  const path = join(projectRoot, name.endsWith('.git') ? name : `${name}.git`);
  await mkdir(path, { recursive: true });
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
  await execFileAsync('git', ['init', '--bare', '--quiet', '--initial-branch=main', path], { env });
  await execFileAsync('git', ['config', 'http.receivepack', 'true'], { cwd: path, env });
  return path;
}

function serveCgi(
  options: StartGitHttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  requests: RecordedRequest[],
): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const service = url.searchParams.get('service') ?? /\/(git-(?:upload|receive)-pack)$/.exec(url.pathname)?.[1];
  const record = (status: number): void => {
    requests.push({ method: req.method ?? 'GET', path: url.pathname, service: service ?? undefined, status });
  };
  const fail = (status: number, message: string, headers: Record<string, string> = {}): void => {
    record(status);
    req.resume();
    res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
    res.end(`${message}\n`);
  };

  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(url.pathname);
  } catch {
    return fail(400, 'bad path');
  }
  if (pathInfo.split('/').includes('..')) return fail(404, 'not found');

  const user = authenticate(options.auth, req.headers.authorization);
  if (user === null) {
    return fail(401, 'authentication required', { 'WWW-Authenticate': 'Basic realm="deployx-test"' });
  }

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: options.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    PATH_INFO: pathInfo,
    REQUEST_METHOD: req.method ?? 'GET',
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
  };
  // Without CONTENT_LENGTH (a chunked request body) http-backend reads its stdin to the end.
  if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
  const protocol = req.headers['git-protocol'];
  if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;
  // The git CLI gzips large fetch negotiations; http-backend inflates them itself.
  const encoding = req.headers['content-encoding'];
  if (typeof encoding === 'string') env.HTTP_CONTENT_ENCODING = encoding;
  if (user !== undefined) env.REMOTE_USER = user;

  const child = spawn(GIT_HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined); // the backend may exit without reading everything
  req.pipe(child.stdin);

  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersSent) {
      if (!res.write(chunk)) {
        child.stdout.pause();
        res.once('drain', () => child.stdout.resume());
      }
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (end === undefined) return;
    const { status, headers } = parseCgiHeaders(head.subarray(0, end.index).toString('latin1'));
    headersSent = true;
    record(status);
    res.writeHead(status, headers);
    const rest = head.subarray(end.index + end.length);
    if (rest.length > 0) res.write(rest);
  });
  child.on('error', (err) => {
    if (!headersSent) fail(500, `cannot run ${GIT_HTTP_BACKEND}: ${err.message}`);
    else res.destroy(err);
  });
  child.on('close', (code) => {
    if (headersSent) {
      res.end();
    } else if (!res.headersSent) {
      fail(500, `git http-backend exited with ${code}: ${Buffer.concat(stderr).toString('utf8')}`);
    }
  });
  res.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
}

/** The REMOTE_USER for a request: undefined when no auth is configured, null when refused. */
function authenticate(auth: TestServerAuth | undefined, header: string | undefined): string | undefined | null {
  if (auth === undefined) return undefined;
  if (header === undefined) return null;
  if ('token' in auth) {
    return equalStrings(header, `Bearer ${auth.token}`) ? 'token' : null;
  }
  const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  return equalStrings(header, expected) ? auth.username : null;
}

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function findHeaderEnd(buffer: Buffer): { index: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { index: crlf, length: 4 };
  if (lf !== -1) return { index: lf, length: 2 };
  return undefined;
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string | string[]> } {
  let status = 200;
  const headers: Record<string, string | string[]> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      status = Number.parseInt(value, 10) || 500;
      continue;
    }
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else headers[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return { status, headers };
}
