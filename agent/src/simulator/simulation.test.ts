// The simulator against the recording protocol server: real sockets, real enrollment, jobs,
// results and reports for every device; deterministic faults; restart as the same devices.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job, ObservedPackage, Step } from '../../../schemas/protocol.ts';
import { startProtocolServer, type ProtocolServer } from '../test-support/protocol-server.ts';
import { pinnedToken } from '../test-support/server-key.ts';
import { simulatedFailure } from './faults.ts';
import { startSimulation, type SimulationOptions } from './simulation.ts';
import { deviceSigningKey } from '../state/credentials.ts';
import { publicKeyToPem } from '../../../schemas/signing.ts';

const TOKEN = pinnedToken('sim-token-0123456789');
let dir: string;

before(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'deployx-sim-')));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function blob(s: ProtocolServer, text: string): { sha256: string; size: number } {
  const bytes = Buffer.from(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  s.blobs.set(sha256, bytes);
  return { sha256, size: bytes.length };
}

const fast: Partial<SimulationOptions> = {
  heartbeatMs: 60_000,
  backoff: { baseMs: 20, capMs: 200 },
  refusedBackoff: { baseMs: 50, capMs: 100, minMs: 50 },
  resultBackoff: { baseMs: 50, capMs: 200 },
};

function jobFor(deviceId: string, name: string, steps: Step[], round = 1): Job {
  return {
    id: `job-${name}-${round}`,
    deviceId,
    revision: 'main@sha1:feedbeef',
    idempotencyKey: `key-${name}-${round}`,
    steps,
    createdAt: '2025-01-01T00:00:00Z',
  };
}

describe('startSimulation', () => {
  it('50 devices enroll, run a job each, report, honour failDevices, and come back as the same devices', async (t) => {
    const s = await startProtocolServer({ tokens: [TOKEN] });
    t.after(() => s.close());
    const stateDir = path.join(dir, 'fifty');
    const sim = await startSimulation({
      server: s.url,
      agents: 50,
      token: TOKEN,
      stateDir,
      labels: { role: 'web', site: 'lab' },
      failDevices: ['sim-3', 'sim-17'],
      batchSize: 20,
      latencyMs: 5,
      ...fast,
    });
    t.after(() => sim.stop());
    await sim.ready;
    await s.waitFor(() => new Set(s.reports.map((r) => r.deviceId)).size === 50, 20_000, '50 reporting devices');

    // Enrollment: 50 devices with real-looking, distinct facts.
    assert.equal(s.enrollments.length, 50);
    const byHost = new Map(s.enrollments.map((e) => [e.facts.hostname as string, e]));
    assert.deepEqual([...byHost.keys()].sort(), Array.from({ length: 50 }, (_, i) => `sim-${i + 1}`).sort());
    const sim7 = byHost.get('sim-7')!.facts;
    assert.equal(sim7.os?.packageManager, 'apt');
    assert.match(String(sim7.os?.family), /^(ubuntu|debian)$/);
    assert.deepEqual(sim7.labels, { role: 'web', site: 'lab', index: '7' });
    const macs = s.enrollments.flatMap((e) => e.facts.network?.macs ?? []);
    assert.equal(new Set(macs).size, 50);
    assert.ok(macs.every((m) => /^02(:[0-9a-f]{2}){5}$/.test(m)));

    // Device keys: one 0600 file for all; the server holds each public half.
    const credFile = path.join(stateDir, 'simulator-credentials.json');
    assert.equal((await stat(credFile)).mode & 0o777, 0o600);
    const stored = JSON.parse(await readFile(credFile, 'utf8')) as { devices: Record<string, { deviceId: string; privateKey: string }> };
    assert.equal(Object.keys(stored.devices).length, 50);
    for (const [name, c] of Object.entries(stored.devices)) {
      assert.equal(s.devices.get(c.deviceId)?.publicKey, publicKeyToPem(deviceSigningKey(c).privateKey), name);
    }

    // A job on every device.
    const motd = blob(s, 'Managed by DeployX\n');
    const hardening = blob(s, '#!/bin/sh\nsysctl -w net.ipv4.ip_forward=0\n');
    const steps: Step[] = [
      { action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: '1.24.*' },
      { action: 'file.write', key: 'file//etc/motd', path: '/etc/motd', mode: '0644', ...motd },
      { action: 'script.run', key: 'script/harden', interpreter: 'sh', run: 'onChange', timeoutSeconds: 60, successExitCodes: [0], ...hardening },
    ];
    const acks = await Promise.all(sim.devices.map((d) => s.dispatch(jobFor(d.deviceId!, d.name, steps))));
    assert.ok(acks.every((a) => 'ok' in a && a.ok), 'every job acked ok');
    await s.waitFor(() => s.results.size === 50 && sim.stats().resultsAcked === 50, 20_000, '50 results');

    const failed = sim.devices.filter((d) => s.results.get(`key-${d.name}-1`)!.status === 'failed').map((d) => d.name);
    assert.deepEqual(failed.sort(), ['sim-17', 'sim-3']);
    const ok = s.results.get('key-sim-8-1')!;
    assert.deepEqual(ok.steps.map((x) => x.status), ['succeeded', 'succeeded', 'succeeded']);
    const nginx = ok.observed.find((o) => o.key === 'package/nginx') as ObservedPackage;
    assert.deepEqual(nginx, { key: 'package/nginx', type: 'package', manager: 'apt', name: 'nginx', installed: true, version: '1.24.0' });
    assert.equal(s.resultEvents.length, 50, 'each result delivered once');

    // Blobs: downloaded once each for all 50 devices, with a device credential.
    assert.equal(s.blobRequests.length, 2);
    assert.ok(s.blobRequests.every((r) => r.status === 200));

    // Fresh reports carry the observed inventory.
    await s.waitFor(
      () => s.reports.filter((r) => r.report.observed.some((o) => o.key === 'package/nginx')).length >= 48,
      10_000,
      'reports with the new inventory',
    );
    const stats = sim.stats();
    assert.equal(stats.jobsSucceeded, 48);
    assert.equal(stats.jobsFailed, 2);
    assert.equal(stats.enrolled, 50);
    assert.equal(stats.connected, 50);

    // The same job again (redelivery): acked, not re-run, result re-sent.
    const again = await s.dispatch(jobFor(sim.device('sim-8')!.deviceId!, 'sim-8', steps));
    assert.deepEqual(again, { ok: true });
    await s.waitFor(() => s.resultEvents.length === 51, 5_000, 'the re-sent result');
    assert.equal(sim.stats().jobsSucceeded, 48);

    // Restart: same devices, by credential, no new enrollments.
    await sim.stop();
    const handshakesBefore = s.handshakes.length;
    const again2 = await startSimulation({ server: s.url, agents: 50, stateDir, labels: { role: 'web', site: 'lab' }, batchSize: 25, ...fast });
    t.after(() => again2.stop());
    await again2.ready;
    await s.waitFor(() => s.handshakes.length >= handshakesBefore + 50, 10_000, '50 reconnects');
    const reconnects = s.handshakes.slice(handshakesBefore);
    assert.ok(reconnects.every((h) => h.kind === 'credential' && h.accepted));
    assert.equal(s.enrollments.length, 50);
    assert.deepEqual(
      new Set(reconnects.map((h) => h.deviceId)),
      new Set(Object.values(stored.devices).map((c) => c.deviceId)),
    );
  });

  it('fails (device, job) pairs exactly where simulatedFailure says, and simulates Windows kiosks', async (t) => {
    const s = await startProtocolServer({ tokens: [TOKEN] });
    t.after(() => s.close());
    const sim = await startSimulation({
      server: s.url,
      agents: 20,
      token: TOKEN,
      stateDir: path.join(dir, 'rate'),
      labels: { role: 'kiosk' },
      failureRate: 0.3,
      prefix: 'kiosk',
      ...fast,
    });
    t.after(() => sim.stop());
    await sim.ready;
    await s.waitFor(() => s.reports.length >= 20, 10_000, '20 reports');
    const facts = s.enrollments[0]!.facts;
    assert.equal(facts.os?.family, 'windows');
    assert.equal(facts.os?.packageManager, 'choco');

    const file = blob(s, '[kiosk]\nurl=https://intranet\n');
    const steps: Step[] = [
      { action: 'package.install', key: 'package/firefox', manager: 'choco', name: 'firefox', version: 'latest' },
      { action: 'file.write', key: 'file/C:\\ProgramData\\Kiosk\\kiosk.ini', path: 'C:\\ProgramData\\Kiosk\\kiosk.ini', ...file },
    ];
    await Promise.all(sim.devices.map((d) => s.dispatch(jobFor(d.deviceId!, d.name, steps))));
    await s.waitFor(() => s.results.size === 20, 10_000, '20 results');

    const expected = sim.devices.filter((d) => simulatedFailure(d.name, `key-${d.name}-1`, 0.3)).map((d) => d.name);
    const actual = sim.devices.filter((d) => s.results.get(`key-${d.name}-1`)!.status === 'failed').map((d) => d.name);
    assert.deepEqual(actual, expected);
    assert.ok(expected.length > 0 && expected.length < 20, `a plausible share fails (${expected.length}/20)`);

    // An apt step on a Windows device fails the way a real agent's would.
    const d = sim.devices[0]!;
    await s.dispatch(jobFor(d.deviceId!, d.name, [{ action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: 'any' }], 2));
    await s.waitFor(() => s.results.has(`key-${d.name}-2`), 5_000, 'the apt result');
    assert.match(s.results.get(`key-${d.name}-2`)!.steps[0]!.error ?? '', /^package\.manager-unsupported/);
  });
});
