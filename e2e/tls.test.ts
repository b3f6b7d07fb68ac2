// TLS end to end: a certificate made here by `openssl req -x509`, `serve --tls-cert --tls-key`
// serving the dashboard, its API and the agents' socket on one port, and a real `deployx agent`
// trusting that certificate with `--ca` and converging over WSS. Then the reverse-proxy mode:
// behind `--trust-proxy` a request the proxy marks `X-Forwarded-Proto: https` gets a `Secure`
// session cookie; without the mode the same header from a client is ignored.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';

const run = promisify(execFile);
const PASSWORD = 'correct horse battery';

async function haveOpenssl(): Promise<boolean> {
  try {
    await run('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}
const skip = (await haveOpenssl()) ? false : 'openssl is not installed (apt-get install openssl): the TLS tests need it to make a certificate';

/** A self-signed certificate for localhost and 127.0.0.1, valid for a day. */
async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=DeployX test',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return { cert, key };
}

function httpsRequest(url: string, options: { ca: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, ca: options.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('TLS', { timeout: 120_000, skip }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let server: RunningServer;
  let cert: { cert: string; key: string };
  let ca: string;
  const agents: AgentProcess[] = [];

  before(async () => {
    work = await tempDir('deployx-tls-');
    cert = await makeCertificate(work.dir);
    ca = await readFile(cert.cert, 'utf8');
    const repo = await makeRepo(`${work.dir}/repo`, testFleet());
    server = await startTestServer({
      repo: repo.dir,
      dataDir: `${work.dir}/data`,
      tls: { certFile: cert.cert, keyFile: cert.key },
      users: [{ name: 'ada', role: 'admin', password: PASSWORD }],
    });
  });

  after(async () => {
    for (const agent of agents) await agent.kill();
    await server?.close();
    await work?.remove();
  });

  test('HTTPS serves the dashboard and its API; the session cookie is Secure', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const index = await httpsRequest(`${server.url}/`, { ca });
    assert.equal(index.status, 200);
    assert.match(index.body, /<html/i);
    const login = await httpsRequest(`${server.url}/api/v1/session`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ada', password: PASSWORD }) });
    assert.equal(login.status, 200);
    const setCookie = String(login.headers['set-cookie']);
    assert.match(setCookie, /; Secure/);
    const devices = await httpsRequest(`${server.url}/api/v1/devices`, { ca, headers: { cookie: setCookie.split(';')[0]! } });
    assert.equal(devices.status, 200);
    // Plain HTTP on the TLS port is not answered as HTTP.
    await assert.rejects(fetch(server.url.replace('https:', 'http:') + '/healthz'));
  });

  test('a real agent given --ca connects over WSS and converges', async () => {
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'tls', labels: { role: 'web' } });
    const root = path.join(work.dir, 'device');
    const agent = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'state'), root, extraArgs: ['--ca', cert.cert] });
    agents.push(agent);
    await waitFor('the agent converged over TLS', async () => {
      const bytes = await readFile(path.join(root, 'etc/e2e/app.conf'), 'utf8').catch(() => undefined);
      return bytes === 'listen = 8080\nworkers = 4\n';
    }, 60_000);
    const log = await readFile(agent.logFile, 'utf8');
    assert.doesNotMatch(log, /not encrypted/, 'no plain-HTTP warning for https://');
  });

  test('an agent without the CA refuses the server', async () => {
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'no-ca' });
    const stateDir = path.join(work.dir, 'state-no-ca');
    const agent = await spawnAgent({ server: server.url, token, stateDir, root: path.join(work.dir, 'device-no-ca') });
    agents.push(agent);
    const line = await waitFor('a certificate error in the agent log', async () =>
      (await readFile(agent.logFile, 'utf8').catch(() => '')).split('\n').find((l) => l.includes('"connect.tls"')),
    20_000);
    assert.match(line, /self-signed certificate.*--ca FILE/);
    assert.equal((await server.store.listDevices({ limit: 10 })).length, 1, 'only the agent with --ca enrolled');
  });
});

describe('reverse-proxy mode', { timeout: 60_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  const servers: RunningServer[] = [];

  before(async () => {
    work = await tempDir('deployx-proxy-');
  });
  after(async () => {
    for (const s of servers) await s.close();
    await work?.remove();
  });

  async function serve(name: string, trustProxy: string | false): Promise<RunningServer> {
    const repo = await makeRepo(`${work.dir}/${name}-repo`, testFleet());
    const server = await startTestServer({ repo: repo.dir, dataDir: `${work.dir}/${name}-data`, trustProxy, users: [{ name: 'ada', role: 'admin', password: PASSWORD }] });
    servers.push(server);
    return server;
  }

  async function loginCookie(server: RunningServer, headers: Record<string, string>): Promise<string> {
    const res = await fetch(`${server.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'ada', password: PASSWORD }) });
    assert.equal(res.status, 200);
    return res.headers.get('set-cookie') ?? '';
  }

  test('behind --trust-proxy a login the proxy marks https gets a Secure cookie', async () => {
    const server = await serve('proxied', 'loopback');
    assert.match(await loginCookie(server, { 'x-forwarded-proto': 'https' }), /; Secure$/);
    assert.doesNotMatch(await loginCookie(server, {}), /Secure/, 'plain HTTP to the proxy port itself');
  });

  test('without --trust-proxy a client cannot claim https', async () => {
    const server = await serve('direct', false);
    assert.doesNotMatch(await loginCookie(server, { 'x-forwarded-proto': 'https' }), /Secure/);
  });
});
