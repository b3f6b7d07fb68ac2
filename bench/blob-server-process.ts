// A file server of the blob benchmark, in a process of its own so its RSS is its own:
//   plain FILE            node:http + fs.createReadStream of FILE for every GET (the baseline)
//   deployx REPO DATA ID KEY SHA      the DeployX server composition (startServer) on REPO, with the
//                                     device ID enrolled with public KEY (base64 of the PEM) and an
//                                     open job referencing blob SHA, so it may download that blob
// Prints one JSON line `{"url", "serverKey"?}` on stdout when it serves; exits on SIGTERM.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { ServerConfig } from '../reconciler/src/config.ts';
import { createLogger } from '../schemas/log.ts';
import { startServer } from '../reconciler/src/main.ts';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'plain') {
  const file = args[0]!;
  const size = statSync(file).size;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    if (req.method === 'HEAD') return void res.end();
    pipeline(createReadStream(file), res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
} else if (mode === 'deployx') {
  const [repo, dataDir, deviceId, publicKey, sha256] = args as [string, string, string, string, string];
  const config: ServerConfig = {
    repo,
    path: undefined,
    branch: 'main',
    dataDir,
    host: '127.0.0.1',
    port: 0,
    pollIntervalMs: 0,
    gitAuth: undefined,
    webhookSecret: undefined,
    apiToken: undefined,
    jobAckTimeoutMs: 30_000,
    logLevel: 'warn',
  };
  const server = await startServer(config, { log: createLogger({ level: 'warn' }) });
  const now = new Date().toISOString();
  await server.store.enrollDevice({ id: deviceId, machineId: deviceId, labels: {}, facts: {}, publicKey: Buffer.from(publicKey, 'base64').toString(), now });
  await server.store.createJobs([
    {
      id: 'bench-job',
      deviceId,
      revision: 'bench',
      idempotencyKey: 'bench-job',
      steps: [{ action: 'file.write', key: 'file/image', path: '/srv/image.wim', sha256, size: 0 }],
      createdAt: now,
    },
  ]);
  console.log(JSON.stringify({ url: server.url, serverKey: server.serverKeys.current }));
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  console.error('usage: blob-server-process.ts plain FILE | deployx REPO DATA DEVICE PUBLIC-KEY-BASE64 SHA256');
  process.exit(2);
}
