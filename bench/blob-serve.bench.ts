// A 1 GiB blob downloaded by 50 concurrent HTTP clients from the DeployX server (the blob route
// agents use: a request signed by the device key, the device's scope, the on-disk store, send-blob.ts), side by side with a plain
// node:http + fs.createReadStream file server in the same run. Each server runs in a process of
// its own (bench/blob-server-process.ts): its RSS growth during the downloads (peak minus the
// reading just before) is its own. The file is made in a temp dir and deleted after.
//
// The DeployX server gets the blob as a fleet would give it: a FileDeployment with a `url` source
// (the plain server) and its SHA-256; the first request downloads it into the store, verified.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { makeRepo, makeTempDir, removeDir } from '../reconciler/src/edges/git/test-repo.ts';
import { blobPath } from '../schemas/protocol.ts';
import { blobRequestAuthorization } from '../schemas/device-auth.ts';
import { generateSigningKeyPair, publicKeyToPem, signingKey } from '../schemas/signing.ts';
import type { BenchResult } from './measure.ts';

const SIZE = Number(process.env.DEPLOYX_BENCH_BLOB_MB ?? 1024) * 1024 * 1024;
const CLIENTS = Number(process.env.DEPLOYX_BENCH_BLOB_CLIENTS ?? 50);
const RSS_TARGET_MB = 64;
const CHILD = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'blob-server-process.ts');
const deviceKey = generateSigningKeyPair().privateKey;
const device = { id: 'bench-blob', key: signingKey(deviceKey), publicKey: publicKeyToPem(deviceKey) };

interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** The DeployX server's current key (what device requests are addressed to). */
  serverKey?: string;
  stop(): Promise<void>;
}

async function startChild(args: string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { url, serverKey } = await new Promise<{ url: string; serverKey?: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(JSON.parse(line) as { url: string; serverKey?: string }));
    child.once('exit', (code) => reject(new Error(`server process exited with ${code} before serving`)));
  });
  return {
    child,
    url,
    ...(serverKey === undefined ? {} : { serverKey }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** GETs `url` and counts the body; resolves with the byte count (the status must be 200). */
function download(url: string, headers: () => Record<string, string>, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: headers(), agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${method} ${url}: HTTP ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.once('end', () => resolve(bytes));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** CLIENTS concurrent downloads; the server's RSS sampled every 50 ms. */
async function measure(server: ServerProcess, url: string, headers: () => Record<string, string>): Promise<{ mbPerS: number; rssGrowthMb: number; rssBeforeMb: number; seconds: number }> {
  const pid = server.child.pid!;
  await new Promise((r) => setTimeout(r, 500));
  const rssBeforeMb = await rssMb(pid);
  let peak = rssBeforeMb;
  const sampler = setInterval(() => void rssMb(pid).then((mb) => (peak = Math.max(peak, mb)), () => undefined), 50);
  const started = performance.now();
  try {
    const sizes = await Promise.all(Array.from({ length: CLIENTS }, () => download(url, headers)));
    const bad = sizes.filter((n) => n !== SIZE);
    if (bad.length > 0) throw new Error(`${bad.length} downloads were short: ${bad[0]} of ${SIZE} bytes`);
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, await rssMb(pid));
  return { mbPerS: (CLIENTS * SIZE) / 2 ** 20 / seconds, rssGrowthMb: peak - rssBeforeMb, rssBeforeMb, seconds };
}

export async function benchBlobServe(): Promise<BenchResult[]> {
  const dir = await makeTempDir('deployx-bench-blob-');
  const servers: ServerProcess[] = [];
  try {
    // Incompressible bytes, hashed while written.
    const file = path.join(dir, 'image.wim');
    const hash = createHash('sha256');
    const handle = await open(file, 'w');
    for (let written = 0; written < SIZE; ) {
      const chunk = randomBytes(Math.min(16 * 2 ** 20, SIZE - written));
      hash.update(chunk);
      await handle.write(chunk);
      written += chunk.length;
    }
    await handle.close();
    const sha256 = hash.digest('hex');

    const plain = await startChild(['plain', file]);
    servers.push(plain);
    const repo = await makeRepo(path.join(dir, 'repo'), {
      'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: bench }\nspec: {}\n',
      'image.yaml': `apiVersion: deployx.dev/v1\nkind: FileDeployment\nmetadata: { name: image }\nspec:\n  path: /srv/image.wim\n  url: ${plain.url}/image.wim\n  sha256: ${sha256}\n`,
    });
    const deployx = await startChild(['deployx', repo.dir, path.join(dir, 'data'), device.id, Buffer.from(device.publicKey).toString('base64'), sha256]);
    servers.push(deployx);
    const blobUrl = deployx.url + blobPath(sha256);
    // Every request signs afresh, as an agent does (a statement is accepted once).
    const headers = () => ({
      authorization: blobRequestAuthorization({ deviceId: device.id, serverKey: deployx.serverKey!, sha256, key: device.key, now: new Date() }),
    });
    // Until the revision is accepted and the url source stored (the first use downloads it).
    const deadline = Date.now() + 300_000;
    for (;;) {
      try {
        await download(blobUrl, headers, 'HEAD');
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    const base = await measure(plain, `${plain.url}/image.wim`, () => ({}));
    console.log(`plain node:http: ${base.mbPerS.toFixed(0)} MB/s, RSS ${base.rssBeforeMb.toFixed(0)} → +${base.rssGrowthMb.toFixed(1)} MB (${base.seconds.toFixed(1)} s)`);
    const ours = await measure(deployx, blobUrl, headers);
    console.log(`DeployX blob route: ${ours.mbPerS.toFixed(0)} MB/s, RSS ${ours.rssBeforeMb.toFixed(0)} → +${ours.rssGrowthMb.toFixed(1)} MB (${ours.seconds.toFixed(1)} s)`);
    const label = `${SIZE >= 2 ** 30 ? `${SIZE / 2 ** 30} GiB` : `${SIZE / 2 ** 20} MiB`} × ${CLIENTS} clients`;
    return [
      {
        name: `blob serve: DeployX server RSS growth (${label})`,
        value: ours.rssGrowthMb,
        unit: 'MB',
        target: `≤ ${RSS_TARGET_MB} MB`,
        detail: `RSS ${ours.rssBeforeMb.toFixed(0)} MB before; plain node:http server +${base.rssGrowthMb.toFixed(1)} MB`,
      },
      {
        name: `blob serve: throughput DeployX / plain node:http (${label})`,
        value: ours.mbPerS / base.mbPerS,
        unit: '×',
        target: 'report',
        detail: `DeployX ${ours.mbPerS.toFixed(0)} MB/s (${ours.seconds.toFixed(1)} s), plain ${base.mbPerS.toFixed(0)} MB/s (${base.seconds.toFixed(1)} s)`,
      },
    ];
  } finally {
    for (const server of servers.reverse()) await server.stop();
    await removeDir(dir);
  }
}
