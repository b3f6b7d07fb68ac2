// Sign and verify cost per job: what the server pays at each dispatch (seal: build the payload,
// serialise once, Ed25519 sign with each valid key) and what the agent pays before running it
// (verifyJob: decode, verify, parse, check). A typical job: four steps (a package, two files, a
// script), signed by one key, and by two during a rotation's grace period. And a device key's
// statements (schemas/device-auth.ts): what an agent pays to sign its handshake, and what the
// server pays to check one (signature, window, replay guard) at every connection.
import { sealJob } from '../schemas/job-envelope.ts';
import type { Job } from '../schemas/protocol.ts';
import { generateSigningKeyPair, publicKeyToPem, signingKey } from '../schemas/signing.ts';
import { trustedKeyMap, verifyJob } from '../agent/src/core/verify-server.ts';
import type { BenchResult } from './measure.ts';
import { checkDeviceHandshake, ReplayGuard, signDeviceHandshake } from '../schemas/device-auth.ts';
import { createPublicKey } from 'node:crypto';

const N = 5_000;

function typicalJob(i: number): Job {
  const hash = (c: string) => c.repeat(64);
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    deviceId: `web-${i % 1000}`,
    revision: 'main@sha1:0123456789abcdef0123456789abcdef01234567',
    idempotencyKey: `web-${i % 1000}:${hash('e')}:${i}`,
    steps: [
      { action: 'package.install', key: 'package/apt/nginx', manager: 'apt', name: 'nginx', version: 'any' },
      { action: 'file.write', key: 'file/etc/nginx/nginx.conf', path: '/etc/nginx/nginx.conf', sha256: hash('a'), size: 2048, mode: '0644', owner: 'root', group: 'root' },
      { action: 'file.write', key: 'file/var/www/index.html', path: '/var/www/index.html', sha256: hash('b'), size: 512, mode: '0644' },
      { action: 'script.run', key: 'script/reload', interpreter: 'sh', sha256: hash('c'), run: 'onChange', timeoutSeconds: 60, successExitCodes: [0] },
    ],
    createdAt: new Date().toISOString(),
  };
}

export async function benchSigning(): Promise<BenchResult[]> {
  const current = signingKey(generateSigningKeyPair().privateKey);
  const retiring = signingKey(generateSigningKeyPair().privateKey);
  const trusted = trustedKeyMap([{ keyid: current.keyid, publicKey: publicKeyToPem(current.privateKey) }]);
  const jobs = Array.from({ length: N }, (_, i) => typicalJob(i));
  const results: BenchResult[] = [];
  for (const [label, keys] of [['1 key', [current]], ['2 keys (rotation)', [current, retiring]]] as const) {
    const issuedAt = new Date();
    // Warm-up, then measure.
    for (let i = 0; i < 200; i++) sealJob(jobs[i]!, { sequence: i + 1, issuedAt, ttlMs: 900_000 }, keys);
    let t = performance.now();
    const sealed = jobs.map((job, i) => sealJob(job, { sequence: i + 1, issuedAt, ttlMs: 900_000 }, keys));
    const signUs = ((performance.now() - t) * 1000) / N;
    t = performance.now();
    let ok = 0;
    for (const [i, envelope] of sealed.entries()) {
      if (verifyJob(envelope, { trusted, deviceId: jobs[i]!.deviceId, now: issuedAt, highest: 0 }).ok) ok++;
    }
    const verifyUs = ((performance.now() - t) * 1000) / N;
    if (ok !== N) throw new Error(`only ${ok} of ${N} jobs verified`);
    const bytes = Buffer.byteLength(JSON.stringify(sealed[0]));
    results.push(
      { name: `seal a 4-step job, ${label} (server, per dispatch)`, value: Math.round(signUs), unit: 'µs', target: '≤ 200 µs', detail: `${N} jobs; envelope ${bytes} B` },
      { name: `verify a 4-step job, ${label} (agent)`, value: Math.round(verifyUs), unit: 'µs', target: '≤ 500 µs', detail: `${N} jobs, one trusted key` },
    );
  }
  // Device handshakes: one per device, as a reconnect storm brings them.
  const devices = Array.from({ length: 2_000 }, () => signingKey(generateSigningKeyPair().privateKey));
  const publicKeys = devices.map((d) => createPublicKey(d.privateKey));
  const serverKeys = new Set([current.keyid]);
  const now = new Date();
  for (let i = 0; i < 200; i++) signDeviceHandshake({ deviceId: `d${i}`, serverKey: current.keyid, key: devices[i]!, now });
  let t = performance.now();
  const handshakes = devices.map((key, i) => signDeviceHandshake({ deviceId: `d${i}`, serverKey: current.keyid, key, now }));
  const signUs = ((performance.now() - t) * 1000) / devices.length;
  const replay = new ReplayGuard();
  t = performance.now();
  let ok = 0;
  for (const [i, handshake] of handshakes.entries()) {
    if (checkDeviceHandshake(handshake, { deviceId: `d${i}`, publicKey: publicKeys[i]!, serverKeys, now, replay }).ok) ok++;
  }
  const checkUs = ((performance.now() - t) * 1000) / devices.length;
  if (ok !== devices.length) throw new Error(`only ${ok} of ${devices.length} handshakes verified`);
  results.push(
    { name: 'sign a device handshake (agent, per connection)', value: Math.round(signUs), unit: 'µs', target: 'report', detail: `${devices.length} device keys` },
    { name: 'check a device handshake (server, per connection)', value: Math.round(checkUs), unit: 'µs', target: '≤ 500 µs', detail: 'Ed25519 verify with the stored key, window, replay guard' },
  );
  return results;
}
