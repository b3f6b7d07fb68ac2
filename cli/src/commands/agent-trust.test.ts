// Issue 12, weakness 1: "agents obey whoever answers at the server URL". A FAKE Socket.IO server
// on /agent (127.0.0.1, port 0) drives a REAL `deployx agent` process (sandboxed with --root):
//   - unsigned, mis-signed, expired, replayed and other-device jobs, each with a file.write and
//     a script.run step, are refused with a code and a one-line reason: nothing runs, nothing is
//     written, no body is even downloaded;
//   - a server that cannot prove it holds the key pinned from the enrollment token (its hello is
//     signed by another key, or it sends none) gets no report, no enrollment ack, no job run.
// The fake server is written from the wire format (docs/protocol.md) with schemas/signing.ts
// only, so the same file runs against an agent that predates signed jobs (and fails there).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Server } from 'socket.io';
import {
  generateSigningKeyPair,
  JOB_PAYLOAD_TYPE,
  publicKeyToPem,
  SERVER_HELLO_PAYLOAD_TYPE,
  signEnvelope,
  signingKey,
  type SigningKey,
} from '../../../schemas/signing.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');

interface Fake {
  url: string;
  reports: unknown[];
  blobRequests: string[];
  enrolledAcks: unknown[];
  hellos: number;
  connected(): boolean;
  send(payload: unknown): Promise<unknown>;
  blob(body: string): string;
  waitFor(predicate: () => boolean, ms: number, what: string): Promise<void>;
  close(): Promise<void>;
}

/** hello: `valid` signs with `key`; `foreign` signs with another key (and lists it); `none` sends nothing. */
async function startFake(key: SigningKey, hello: 'valid' | 'foreign' | 'none'): Promise<Fake> {
  const blobs = new Map<string, Buffer>();
  const fake = { reports: [] as unknown[], blobRequests: [] as string[], enrolledAcks: [] as unknown[], hellos: 0 };
  const http: HttpServer = createServer((req, res) => {
    const m = /^\/api\/v1\/blobs\/sha256\/([0-9a-f]{64})$/.exec(req.url ?? '');
    if (!m) {
      if (!(req.url ?? '').startsWith('/socket.io')) res.writeHead(404).end();
      return;
    }
    fake.blobRequests.push(m[1]!);
    const body = blobs.get(m[1]!);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  const io = new Server(http, { transports: ['websocket'] });
  let current: import('socket.io').Socket | undefined;
  const foreign = signingKey(generateSigningKeyPair().privateKey);
  io.of('/agent').on('connection', (socket) => {
    current = socket;
    const auth = socket.handshake.auth as Record<string, unknown>;
    const challenge = typeof auth.challenge === 'string' ? auth.challenge : '';
    if (hello !== 'none') {
      const signer = hello === 'valid' ? key : foreign;
      fake.hellos++;
      socket.emit(
        'server:hello',
        signEnvelope(SERVER_HELLO_PAYLOAD_TYPE, { challenge, keys: [{ keyid: signer.keyid, publicKey: publicKeyToPem(signer.privateKey) }], issuedAt: new Date().toISOString() }, signer),
      );
    }
    if (typeof auth.enrollmentToken === 'string') {
      void socket
        .timeout(10_000)
        .emitWithAck('enrolled', { deviceId: 'dev-1', credential: 'cred-0123456789' })
        .then((ack: unknown) => fake.enrolledAcks.push(ack), () => undefined);
    }
    socket.on('report', (report: unknown, ack: (r: unknown) => void) => {
      fake.reports.push(report);
      ack({ ok: true });
    });
    socket.on('job:result', (_result: unknown, ack: (r: unknown) => void) => ack({ ok: true }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    ...fake,
    get hellos() {
      return fake.hellos;
    },
    connected: () => current?.connected === true,
    send: (payload) => current!.timeout(10_000).emitWithAck('job', payload),
    blob: (body) => {
      const hash = createHash('sha256').update(body).digest('hex');
      blobs.set(hash, Buffer.from(body));
      return hash;
    },
    waitFor: async (predicate, ms, what) => {
      const deadline = Date.now() + ms;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      http.closeAllConnections();
    },
  };
}

interface Running {
  child: ChildProcess;
  lines: string[];
}

function startAgent(args: string[]): Running {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DEPLOYX_ENROLLMENT_TOKEN;
  const child = spawn(process.execPath, [CLI, 'agent', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const take = (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== ''));
  child.stdout!.setEncoding('utf8').on('data', take);
  child.stderr!.setEncoding('utf8').on('data', take);
  return { child, lines };
}

/** `<secret>.<64 hex>` (docs/protocol.md "Enrollment token"). */
function tokenPinning(key: SigningKey): string {
  return `dxe_test-secret-0123456789.${key.keyid.slice('sha256:'.length)}`;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

let dir: string;
before(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-agent-trust-')));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a real agent and a fake server (issue 12, weakness 1)', () => {
  it('refuses unsigned, mis-signed, expired, replayed and other-device jobs: nothing runs, nothing is written', async (t) => {
    const key = signingKey(generateSigningKeyPair().privateKey);
    const attacker = signingKey(generateSigningKeyPair().privateKey);
    const fake = await startFake(key, 'valid');
    t.after(() => fake.close());
    const stateDir = join(dir, 'jobs-state');
    const root = join(dir, 'jobs-root');
    const outside = join(dir, 'outside');
    const agent = startAgent(['--server', fake.url, '--token', tokenPinning(key), '--state', stateDir, '--root', root, '--heartbeat', '60s']);
    t.after(() => agent.child.kill('SIGKILL'));
    await fake.waitFor(() => fake.reports.length >= 1, 30_000, `the first report (agent log: ${agent.lines.join('\n')})`);

    let n = 0;
    /** A job writing /etc/deployx-pwned-<n> (in --root) and running a script that marks `outside`. */
    const job = (overrides: Record<string, unknown> = {}) => {
      n++;
      const fileSha = fake.blob(`pwned ${n}\n`);
      const scriptSha = fake.blob(`mkdir -p '${outside}' && touch '${outside}/ran-${n}'\n`);
      const id = `job-${n}`;
      const steps = [
        { action: 'file.write', key: `file/pwned-${n}`, path: `/etc/deployx-pwned-${n}`, sha256: fileSha, size: -1, mode: '0644' },
        { action: 'script.run', key: `script/pwn-${n}`, interpreter: 'sh', sha256: scriptSha, run: 'always', timeoutSeconds: 30, successExitCodes: [0] },
      ];
      const now = Date.now();
      return {
        job: { id, deviceId: 'dev-1', revision: 'main@sha1:evil', idempotencyKey: `key-${n}`, steps, createdAt: new Date(now).toISOString() },
        payload: {
          deviceId: 'dev-1',
          jobId: id,
          idempotencyKey: `key-${n}`,
          sequence: 10,
          revision: 'main@sha1:evil',
          issuedAt: new Date(now).toISOString(),
          expiresAt: new Date(now + 600_000).toISOString(),
          steps,
          blobs: [fileSha, scriptSha].sort(),
          createdAt: new Date(now).toISOString(),
          ...overrides,
        },
      };
    };

    // A bare job (what the server sent before jobs were signed) first: refused outright.
    const bare = (await fake.send(job().job)) as { ok: boolean; code?: string };
    assert.equal(bare.ok, false, `a bare, unsigned job is refused (ack ${JSON.stringify(bare)})`);
    assert.equal(bare.code, 'job.unsigned');

    // A valid job with no steps: it sets the agent's high-water mark to 10.
    const first = job();
    const empty = { ...first.payload, steps: [], blobs: [] };
    assert.deepEqual(await fake.send(signEnvelope(JOB_PAYLOAD_TYPE, empty, key)), { ok: true });

    const forged = (() => {
      const envelope = signEnvelope(JOB_PAYLOAD_TYPE, job().payload, key);
      const other = signEnvelope(JOB_PAYLOAD_TYPE, job({ jobId: 'job-other' }).payload, key);
      return { ...envelope, signatures: [{ keyid: key.keyid, sig: other.signatures[0]!.sig }] };
    })();
    const cases: Array<[what: string, payload: unknown, code: string]> = [
      ['a bare job (unsigned)', job().job, 'job.unsigned'],
      ['signed by a key the agent does not trust', signEnvelope(JOB_PAYLOAD_TYPE, job({ sequence: 11 }).payload, attacker), 'job.untrusted-key'],
      ['a trusted keyid over a signature of other bytes', forged, 'job.bad-signature'],
      ['expired', signEnvelope(JOB_PAYLOAD_TYPE, job({ sequence: 12, issuedAt: new Date(Date.now() - 7_200_000).toISOString(), expiresAt: new Date(Date.now() - 3_600_000).toISOString() }).payload, key), 'job.expired'],
      ['replayed (sequence equal to the mark)', signEnvelope(JOB_PAYLOAD_TYPE, job({ sequence: 10 }).payload, key), 'job.replayed'],
      ['replayed (sequence below the mark)', signEnvelope(JOB_PAYLOAD_TYPE, job({ sequence: 3 }).payload, key), 'job.replayed'],
      ['for another device', signEnvelope(JOB_PAYLOAD_TYPE, job({ sequence: 13, deviceId: 'dev-2' }).payload, key), 'job.wrong-device'],
    ];
    for (const [what, payload, code] of cases) {
      const ack = (await fake.send(payload)) as { ok: boolean; code?: string; error?: string };
      assert.equal(ack.ok, false, `${what}: refused (ack ${JSON.stringify(ack)})`);
      assert.equal(ack.code, code, `${what}: ${JSON.stringify(ack)}`);
      assert.ok(typeof ack.error === 'string' && ack.error.length > 0 && !ack.error.includes('\n'), `${what}: a one-line reason`);
    }
    // Nothing ran, nothing was written, no body was fetched.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(fake.blobRequests, [], 'no blob of a refused job is downloaded');
    assert.equal(await exists(outside), false, 'no script ran');
    for (let i = 1; i <= n; i++) assert.equal(await exists(join(root, 'etc', `deployx-pwned-${i}`)), false, `file ${i} not written`);
    const refusals = agent.lines.filter((l) => l.includes('"msg":"job refused"'));
    assert.equal(refusals.length, cases.length + 1, `each refusal logged once:\n${agent.lines.join('\n')}`);
    // The mark is on disk, written before the accepted job ran.
    assert.deepEqual(JSON.parse(await readFile(join(stateDir, 'job-sequence.json'), 'utf8')), { deviceId: 'dev-1', highest: 10 });

    // The control: a correctly signed job above the mark runs, and so does its file.
    const good = job({ sequence: 14 });
    assert.deepEqual(await fake.send(signEnvelope(JOB_PAYLOAD_TYPE, good.payload, key)), { ok: true });
    const written = join(root, 'etc', `deployx-pwned-${n}`);
    await fake.waitFor(() => fake.blobRequests.length >= 2, 15_000, 'the good job to fetch its bodies');
    for (let i = 0; i < 100 && !(await exists(join(outside, `ran-${n}`))); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await readFile(written, 'utf8'), `pwned ${n}\n`);
    // A redelivery of that job (same job, same sequence) is acked and not run again.
    assert.deepEqual(await fake.send(signEnvelope(JOB_PAYLOAD_TYPE, good.payload, key)), { ok: true });
  });

  it('does not report, enroll or run anything for a server that cannot prove the pinned key', async (t) => {
    const key = signingKey(generateSigningKeyPair().privateKey);
    const agents: Array<{ fake: Fake; agent: Running; stateDir: string }> = [];
    for (const mode of ['foreign', 'none'] as const) {
      const fake = await startFake(key, mode);
      t.after(() => fake.close());
      const stateDir = join(dir, `unproven-${mode}`);
      const agent = startAgent(['--server', fake.url, '--token', tokenPinning(key), '--state', stateDir, '--root', join(dir, `unproven-root-${mode}`), '--heartbeat', '1s']);
      t.after(() => agent.child.kill('SIGKILL'));
      agents.push({ fake, agent, stateDir });
    }
    // Long enough for the agent to start (tsx), connect, and wait out the 5 s hello timeout.
    await agents[1]!.fake.waitFor(() => agents[1]!.agent.lines.some((l) => l.includes('server not trusted')), 40_000, 'the no-hello agent to give up');
    await agents[0]!.fake.waitFor(() => agents[0]!.agent.lines.some((l) => l.includes('server not trusted')), 10_000, 'the foreign-hello agent to give up');
    for (const { fake, agent, stateDir } of agents) {
      assert.deepEqual(fake.reports, [], `no report: ${agent.lines.join('\n')}`);
      assert.ok(fake.enrolledAcks.every((a) => (a as { ok?: boolean }).ok !== true), 'the enrollment is not accepted');
      assert.equal(await exists(join(stateDir, 'credential.json')), false, 'no credential stored');
      const line = agent.lines.find((l) => l.includes('server not trusted'))!;
      assert.doesNotMatch(line, /\n|at .*\.ts:\d+/, 'one line, no stack');
    }
  });
});
