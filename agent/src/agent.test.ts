// The agent against a recording protocol server (socket.io on 127.0.0.1, port 0): enrollment,
// jobs with real files under --root and blobs over HTTP with Basic auth, progress, result
// spooling and re-delivery, redelivered jobs, refusals, cancel and graceful stop.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, Step } from '../../schemas/protocol.ts';
import { Agent, type AgentOptions } from './agent.ts';
import { isAgentError } from './errors.ts';
import { credentialsPath, deviceSigningKey } from './state/credentials.ts';
import { publicKeyToPem } from '../../schemas/signing.ts';
import { Spool } from './state/spool.ts';
import { exec } from './system/exec.ts';
import { startProtocolServer, type ProtocolServer } from './test-support/protocol-server.ts';
import { pinnedToken, TEST_SERVER_KEY } from './test-support/server-key.ts';
import { ServerTrustFiles } from './state/server-trust.ts';
import type { LinkEvent } from './transport/device-link.ts';
import { createLogger, SecretSet } from '../../schemas/log.ts';

const TOKEN = pinnedToken('enroll-token-0123456789');
let dir: string;
let root: string;
let stateDir: string;
const logLines: string[] = [];
const running: Agent[] = [];
const servers: ProtocolServer[] = [];
const issuedCredentials = new Set<string>();
/** The base64 lines of a stored device key: none may appear in a log line. */
function rememberKey(stateFile: string): void {
  const { privateKey } = JSON.parse(stateFile) as { privateKey: string };
  for (const line of privateKey.split('\n')) if (line.length >= 16 && !line.startsWith('-----')) issuedCredentials.add(line);
}

beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-agent-')));
  root = path.join(dir, 'root');
  stateDir = path.join(dir, 'state');
  await mkdir(root);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop({ graceMs: 100, flushMs: 100 })));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});
after(() => {
  // No line the agent logged in this file carries a credential or the token.
  const text = logLines.join('\n');
  assert.doesNotMatch(text, new RegExp(TOKEN));
  for (const s of issuedCredentials) assert.ok(!text.includes(s), 'an issued credential appeared in a log line');
});

async function server(options: Parameters<typeof startProtocolServer>[0] = {}): Promise<ProtocolServer> {
  const s = await startProtocolServer({ tokens: [TOKEN], ...options });
  servers.push(s);
  return s;
}

function agent(s: ProtocolServer, options: Partial<AgentOptions> = {}): { agent: Agent; events: LinkEvent[] } {
  const events: LinkEvent[] = [];
  const secrets = new SecretSet();
  const a = new Agent({
    server: s.url,
    stateDir,
    root,
    exec,
    secrets,
    logger: createLogger({ write: (line) => logLines.push(line), level: 'debug', secrets }),
    heartbeatMs: 60_000,
    ackTimeoutMs: 2_000,
    backoff: { baseMs: 20, capMs: 200 },
    refusedBackoff: { baseMs: 50, capMs: 100, minMs: 50 },
    resultBackoff: { baseMs: 50, capMs: 200 },
    onEvent: (e) => events.push(e),
    ...options,
  });
  running.push(a);
  return { agent: a, events };
}

async function enrolled(s: ProtocolServer, options: Partial<AgentOptions> = {}): Promise<{ agent: Agent; events: LinkEvent[]; deviceId: string }> {
  const made = agent(s, { token: TOKEN, ...options });
  await made.agent.start();
  await s.waitFor(() => s.reports.length > 0, 10_000, 'the first report');
  rememberKey(readFileSync(credentialsPath(stateDir), 'utf8'));
  return { ...made, deviceId: made.agent.deviceId! };
}

function blob(s: ProtocolServer, text: string): { sha256: string; size: number } {
  const bytes = Buffer.from(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  s.blobs.set(sha256, bytes);
  return { sha256, size: bytes.length };
}

function script(s: ProtocolServer, key: string, body: string): Step {
  return { action: 'script.run', key, interpreter: 'sh', ...blob(s, body), run: 'always', timeoutSeconds: 30, successExitCodes: [0] } as Step;
}

const job = (deviceId: string, id: string, steps: Step[], idempotencyKey = `key-${id}`): Job => ({
  id,
  deviceId,
  revision: 'main@sha1:0123abcd',
  idempotencyKey,
  steps,
  createdAt: '2025-01-01T00:00:00Z',
});

const runsOf = async (): Promise<number> =>
  (await readFile(path.join(root, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l === 'run').length;

describe('Agent: enrollment', () => {
  it('enrolls with the token, stores the credential 0600 before acking, and reconnects with it', async () => {
    const onDisk: Array<string | undefined> = [];
    const s = await server({
      onEnrolledAck: () => onDisk.push(readFileSync(credentialsPath(stateDir), 'utf8')),
    });
    const first = await enrolled(s, { labels: { site: 'lab', role: 'web' } });
    const issued = s.devices.get(first.deviceId)!;

    assert.deepEqual(s.enrollments[0]!.ack, { ok: true });
    assert.equal(s.enrollments[0]!.facts.labels && (s.enrollments[0]!.facts.labels as Record<string, string>).site, 'lab');
    assert.equal(typeof s.enrollments[0]!.facts.hostname, 'string');
    assert.equal(onDisk.length, 1);
    const onDiskThen = JSON.parse(onDisk[0]!) as { deviceId: string; privateKey: string };
    assert.equal(onDiskThen.deviceId, first.deviceId, 'on disk when the ack arrived');
    assert.equal(publicKeyToPem(deviceSigningKey(onDiskThen).privateKey), issued.publicKey, 'the key whose public half the server recorded');
    assert.equal((await stat(credentialsPath(stateDir))).mode & 0o777, 0o600);

    const report = s.reports[0]!;
    assert.equal(report.deviceId, first.deviceId);
    assert.match(report.report.agentVersion, /^\d+\.\d+\.\d+/);
    assert.deepEqual(report.report.observed, []);
    assert.deepEqual((report.report.facts.labels as Record<string, string>), { site: 'lab', role: 'web' });
    await first.agent.stop();

    // A new process on the same state directory, without the token: the stored credential.
    const second = agent(s);
    await second.agent.start();
    await s.waitFor(() => s.reports.length >= 2, 10_000, 'a report from the restarted agent');
    assert.deepEqual(
      s.handshakes.map((h) => [h.kind, h.accepted, h.deviceId]),
      [
        ['enrollment', true, first.deviceId],
        ['credential', true, first.deviceId],
      ],
    );
    assert.equal(s.enrollments.length, 1);
    assert.equal(s.reports[1]!.deviceId, first.deviceId);
  });

  it('stops with transport.refused when its credential is refused and it has no token', async () => {
    const s = await server();
    await mkdir(stateDir, { recursive: true });
    await writeFile(credentialsPath(stateDir), JSON.stringify({ deviceId: 'dev-unknown', credential: 'not-a-valid-credential' }), { mode: 0o600 });
    await new ServerTrustFiles(stateDir).writeKeys([{ keyid: TEST_SERVER_KEY.keyid }]);
    const { agent: a } = agent(s);
    await a.start();
    await assert.rejects(a.finished, (error) => isAgentError(error, 'transport.refused'));
    assert.deepEqual(s.handshakes.map((h) => [h.kind, h.accepted, h.code]), [['credential', false, 'auth.refused']]);
    assert.ok(logLines.some((l) => JSON.parse(l).msg === 'credential refused and no enrollment token: stopping'));
  });

  it('enrolls again with the token when its credential is refused', async () => {
    const s = await server();
    const { deviceId } = await enrolled(s);
    s.revoke(deviceId);
    await s.waitFor(() => s.enrollments.length === 2 && s.reports.length >= 2, 10_000, 're-enrollment');
    assert.deepEqual(
      s.handshakes.map((h) => [h.kind, h.accepted]),
      [
        ['enrollment', true],
        ['credential', false],
        ['enrollment', true],
      ],
    );
    const text = await readFile(credentialsPath(stateDir), 'utf8');
    rememberKey(text);
    const stored = JSON.parse(text) as { deviceId: string; privateKey: string };
    assert.equal(publicKeyToPem(deviceSigningKey(stored).privateKey), s.devices.get(stored.deviceId)!.publicKey);
  });

  it('fails at once without a credential and without a token (transport.not-enrolled)', async () => {
    const s = await server();
    const { agent: a } = agent(s);
    await a.start();
    await assert.rejects(a.finished, (error) => isAgentError(error, 'transport.not-enrolled'));
    assert.equal(s.handshakes.length, 0);
  });
});

describe('Agent: jobs', () => {
  it('acks a job, writes the file under --root from the blob (Basic auth), sends progress, result and a fresh report', async () => {
    const s = await server();
    const { deviceId, events } = await enrolled(s);
    const content = blob(s, 'server_tokens off;\n');
    const write: Step = { action: 'file.write', key: 'file//etc/nginx/conf.d/x.conf', path: '/etc/nginx/conf.d/x.conf', mode: '0640', ...content };
    const reportsBefore = s.reports.length;

    const ack = await s.dispatch(job(deviceId, 'job-1', [write, script(s, 'script/hello', 'echo hello\n')]));
    assert.deepEqual(ack, { ok: true });
    await s.waitFor(() => events.some((e) => e.type === 'result-acked'), 10_000, 'the result ack');

    const onDisk = path.join(root, 'etc/nginx/conf.d/x.conf');
    assert.equal(await readFile(onDisk, 'utf8'), 'server_tokens off;\n');
    assert.equal((await stat(onDisk)).mode & 0o777, 0o640);
    assert.deepEqual(s.blobRequests.map((r) => [r.deviceId, r.status]), [
      [deviceId, 200],
      [deviceId, 200],
    ]);

    const result = s.results.get('key-job-1')!;
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.steps.map((x) => x.status), ['succeeded', 'succeeded']);
    assert.equal(result.steps[1]!.output, 'hello');
    const observedFile = result.observed.find((o) => o.key === write.key);
    assert.equal(observedFile && observedFile.type === 'file' ? observedFile.sha256 : undefined, content.sha256);
    assert.deepEqual(
      s.progress.map((p) => [p.progress.stepIndex, p.progress.status]),
      [
        [0, 'running'],
        [0, 'succeeded'],
        [1, 'running'],
        [1, 'succeeded'],
      ],
    );
    assert.equal(s.resultEvents.length, 1);

    // Removed from the spool once acked (a fresh Spool reads the same directory).
    assert.deepEqual(await (await Spool.open(stateDir)).pending(), []);

    // A fresh report follows, with the file observed and the job's revision.
    await s.waitFor(() => s.reports.length > reportsBefore, 5_000, 'the report after the job');
    const report = s.reports.at(-1)!.report;
    assert.equal(report.revision, 'main@sha1:0123abcd');
    assert.ok(report.observed.some((o) => o.key === write.key && o.type === 'file' && o.sha256 === content.sha256));
  });

  it('re-sends a result whose ack never came after reconnecting; the server records it once', async () => {
    const s = await server({ ackResult: (_result, delivery) => delivery > 1 });
    const { deviceId, events } = await enrolled(s, {
      ackTimeoutMs: 300,
      resultBackoff: { baseMs: 60_000, capMs: 60_000, minMs: 60_000 },
    });
    const ack = await s.dispatch(job(deviceId, 'job-2', [script(s, 'script/once', 'echo one\n')]));
    assert.deepEqual(ack, { ok: true });
    await s.waitFor(() => logLines.some((l) => JSON.parse(l).msg === 'result not acknowledged in time'), 5_000, 'the ack timeout');
    assert.equal((await (await Spool.open(stateDir)).pending()).length, 1, 'still spooled');

    s.kick(deviceId);
    await s.waitFor(() => events.some((e) => e.type === 'result-acked'), 10_000, 'the re-sent result to be acked');

    const deliveries = s.resultEvents.filter((e) => e.result.idempotencyKey === 'key-job-2');
    assert.deepEqual(deliveries.map((d) => d.acked), [false, true]);
    assert.equal(s.results.size, 1);
    assert.deepEqual(deliveries[0]!.result, deliveries[1]!.result, 'the same result, byte for byte');
    assert.equal(await runsOf(), 0);
    assert.deepEqual(await (await Spool.open(stateDir)).pending(), []);
  });

  it('retries a result the server could not store (result.retry) and stops re-sending one it rejects for good', async () => {
    const s = await server({
      ackResult: (result, delivery) =>
        result.idempotencyKey === 'key-job-r1'
          ? delivery < 3
            ? { ok: false, error: 'not stored, send again', code: 'result.retry' }
            : true
          : { ok: false, error: 'unknown job', code: 'result.unknown-job' },
    });
    const { deviceId, events } = await enrolled(s, { resultBackoff: { baseMs: 30, capMs: 60 } });
    await s.dispatch(job(deviceId, 'job-r1', []));
    await s.waitFor(() => events.some((e) => e.type === 'result-acked'), 5_000, 'the retried result');
    assert.deepEqual(s.resultEvents.map((e) => e.acked), [false, false, true]);

    await s.dispatch(job(deviceId, 'job-r2', []));
    await s.waitFor(() => events.some((e) => e.type === 'result-rejected'), 5_000, 'the rejection');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(s.resultEvents.filter((e) => e.result.jobId === 'job-r2').length, 1, 'not re-sent');
    assert.deepEqual(await (await Spool.open(stateDir)).pending(), []);
  });

  it('runs a redelivered job once: while running (joins the run) and after completion (re-sends the result)', async () => {
    const s = await server();
    const { deviceId, events } = await enrolled(s);
    const j = job(deviceId, 'job-3', [script(s, 'script/append', 'echo run >> "$DEPLOYX_ROOT/runs.log"\nsleep 0.3\n')]);

    const [a1, a2] = await Promise.all([s.dispatch(j), s.dispatch(j)]);
    assert.deepEqual([a1, a2], [{ ok: true }, { ok: true }]);
    await s.waitFor(() => events.filter((e) => e.type === 'result-acked').length === 1, 10_000, 'the result');

    const a3 = await s.dispatch(j);
    assert.deepEqual(a3, { ok: true });
    await s.waitFor(() => events.filter((e) => e.type === 'result-acked').length === 2, 10_000, 'the re-sent result');

    assert.equal(await runsOf(), 1, 'the script ran once');
    assert.equal(s.results.size, 1);
    assert.equal(s.resultEvents.length, 2);
    assert.deepEqual(s.resultEvents[0]!.result, s.resultEvents[1]!.result);
    assert.deepEqual(
      events.filter((e) => e.type === 'job').map((e) => (e.type === 'job' ? e.redelivered : undefined)),
      [false, true, true],
    );
  });

  it('refuses malformed jobs, unsigned jobs and jobs for another device with a code', async () => {
    const s = await server();
    const { deviceId } = await enrolled(s);
    assert.deepEqual(await s.dispatch({ ...job(deviceId, 'job-x', []), deviceId: 'someone-else' }, deviceId), {
      ok: false,
      error: 'job job-x is for device someone-else, not ' + deviceId,
      code: 'job.wrong-device',
    });
    const bad = { ...job(deviceId, 'job-y', []), idempotencyKey: '' };
    const ack = await s.dispatch(bad);
    assert.equal(ack && 'code' in ack ? ack.code : undefined, 'job.invalid');
    const unsigned = await s.sendRaw(deviceId, job(deviceId, 'job-z', []));
    assert.equal(unsigned && 'code' in unsigned ? unsigned.code : undefined, 'job.unsigned');
  });

  it('cancels a running job on job:cancel (result `cancelled`)', async () => {
    const s = await server();
    const { deviceId } = await enrolled(s);
    await s.dispatch(job(deviceId, 'job-4', [script(s, 'script/slow', 'sleep 20\n'), script(s, 'script/after', 'echo after\n')]));
    await s.waitFor(() => s.progress.some((p) => p.progress.status === 'running'), 5_000, 'the job to start');
    s.cancel(deviceId, 'job-4');
    await s.waitFor(() => s.results.has('key-job-4'), 10_000, 'the cancelled result');
    const result = s.results.get('key-job-4')!;
    assert.equal(result.status, 'cancelled');
    assert.deepEqual(result.steps.map((x) => x.status), ['failed', 'skipped']);
  });

  it('stops gracefully: lets the running job finish and delivers its result before closing', async () => {
    const s = await server();
    const { deviceId, agent: a } = await enrolled(s);
    await s.dispatch(job(deviceId, 'job-5', [script(s, 'script/short', 'sleep 0.4\necho done\n')]));
    await s.waitFor(() => s.progress.some((p) => p.progress.status === 'running'), 5_000, 'the job to start');
    await a.stop({ graceMs: 10_000 });
    assert.equal(s.results.get('key-job-5')?.status, 'succeeded');
    await s.waitFor(() => !s.connected(deviceId), 2_000, 'the socket to close');
  });

  it('under --root runs no package manager: package steps fail without touching the host, facts say sandbox', async () => {
    const s = await server();
    const calls: string[][] = [];
    const { deviceId } = await enrolled(s, {
      exec: (file, args, options) => {
        calls.push([file, ...args]);
        return exec(file, args, options);
      },
    });
    const facts = s.enrollments[0]!.facts;
    assert.equal(facts.agent?.sandbox, true);
    assert.equal(facts.os?.packageManager, undefined);

    await s.dispatch(job(deviceId, 'job-pkg', [
      { action: 'package.install', key: 'package/chrony', manager: 'apt', name: 'chrony', version: 'any' },
    ]));
    await s.waitFor(() => s.results.has('key-job-pkg'), 5_000, 'the package result');
    const result = s.results.get('key-job-pkg')!;
    assert.equal(result.status, 'failed');
    assert.match(result.steps[0]!.error ?? '', /^package\.manager-unsupported: apt: a sandboxed agent/);
    assert.deepEqual(calls.filter(([file]) => /apt|dpkg/.test(file!)), [], 'no package manager was run');
  });

  it('re-sends a report the server did not store after a short backoff, not a heartbeat later', async () => {
    // The first two reports are refused (the server could not store them); the heartbeat is a minute.
    const s = await server({ ackReport: (_report, n) => (n <= 2 ? { ok: false, error: 'not stored, send again', code: 'report.retry' } : true) });
    const { events } = await enrolled(s);
    await s.waitFor(() => events.some((e) => e.type === 'report-acked'), 15_000, 'a report stored within the backoff (2 s, then 4 s)');
    assert.equal(s.reports.length, 3);
  });

  it('sends a report every heartbeat', async () => {
    const s = await server();
    await enrolled(s, { heartbeatMs: 100 });
    const before = s.reports.length;
    await s.waitFor(() => s.reports.length >= before + 3, 5_000, 'three heartbeat reports');
  });
});

describe('Agent: leftover temp files of a killed write', () => {
  it('removes, at start, its own temp files left by dead writers in managed directories and its state directory — nothing else', async () => {
    const s = await server();
    const first = await enrolled(s);
    const write: Step = { action: 'file.write', key: 'file//etc/app/app.conf', path: '/etc/app/app.conf', mode: '0644', ...blob(s, 'x = 1\n') };
    await s.dispatch(job(first.deviceId, 'job-temp', [write]));
    await s.waitFor(() => s.results.has('key-job-temp'), 10_000, 'the file job');
    await first.agent.stop();

    // A writer that is certainly dead: a child that has exited.
    const dead = await new Promise<number>((resolve, reject) => {
      const child = execFile(process.execPath, ['-e', '']);
      child.on('error', reject);
      child.on('exit', () => resolve(child.pid!));
    });
    const managed = path.join(root, 'etc/app');
    const unmanaged = path.join(root, 'etc/other');
    await mkdir(unmanaged, { recursive: true });
    await mkdir(path.join(managed, `.d.deployx-${dead}-0123456789ab.tmp`));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    const plant = async (dir: string, name: string, mtime?: Date): Promise<string> => {
      const file = path.join(dir, name);
      await writeFile(file, 'partial');
      if (mtime) await utimes(file, mtime, mtime);
      return name;
    };
    const removed = {
      managed: [
        await plant(managed, `.app.conf.deployx-${dead}-0123456789ab.tmp`),
        await plant(managed, '.app.conf.deployx-0123456789ab.tmp', twoHoursAgo),
      ],
      state: [await plant(stateDir, `.inventory.json.deployx-${dead}-aaaaaaaaaaaa.tmp`)],
      spool: [await plant(path.join(stateDir, 'spool', 'jobs'), `.${'f'.repeat(64)}.json.deployx-${dead}-bbbbbbbbbbbb.tmp`)],
    };
    const kept = {
      managed: [
        'app.conf',
        `.d.deployx-${dead}-0123456789ab.tmp`,
        // A young temp file without a writer marker, and one of a live writer (pid 1): maybe in use.
        await plant(managed, '.app.conf.deployx-fedcba987654.tmp'),
        await plant(managed, '.app.conf.deployx-1-0123456789ab.tmp'),
        await plant(managed, 'notes.tmp', twoHoursAgo),
        await plant(managed, `.app.conf.deployx-${dead}-xyz.tmp`, twoHoursAgo),
      ],
      unmanaged: [await plant(unmanaged, `.x.conf.deployx-${dead}-0123456789ab.tmp`)],
    };

    const second = agent(s);
    await second.agent.start();
    await s.waitFor(() => s.reports.length >= 2, 10_000, 'a report from the restarted agent');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(managed)).sort(), [...kept.managed].sort());
    assert.deepEqual(await readdir(unmanaged), kept.unmanaged, 'a directory the agent does not manage is not touched');
    for (const name of removed.state) assert.ok(!(await readdir(stateDir)).includes(name));
    for (const name of removed.spool) assert.ok(!(await readdir(path.join(stateDir, 'spool', 'jobs'))).includes(name));
    assert.equal(await readFile(path.join(managed, 'app.conf'), 'utf8'), 'x = 1\n');
    void removed.managed;
  });
});
