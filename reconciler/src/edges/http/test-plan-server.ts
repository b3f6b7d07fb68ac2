// For plan tests: the plan routes served for real — a SQLite store in a temp dir holding an
// inventory's devices, a GitSource on a local repository, express on 127.0.0.1 port 0 — behind
// a bearer token check and an error handler shaped like app.ts's (HttpError → its status and
// `{ error: { code, message } }`).
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { InventoryFile } from '../../actions/plan-revision.ts';
import { GitSource } from '../git/git-source.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { HttpError } from './app.ts';
import { addPlanRoutes } from './plan-routes.ts';

export interface PlanServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

export async function startPlanServer(options: { repoDir: string; fleetPath?: string; inventory: InventoryFile; now: Date }): Promise<PlanServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployx-plan-server-'));
  const store = await openSqliteStore({ file: join(dataDir, 'deployx.sqlite') });
  const source = await GitSource.open({ url: options.repoDir, dataDir, branch: 'main' });
  await source.fetch();
  const online = new Set<string>();
  for (const device of options.inventory.devices) {
    const seen = device.lastSeenAt ?? options.now.toISOString();
    await store.enrollDevice({
      id: device.id,
      machineId: `machine-${device.id}`,
      labels: device.labels,
      facts: device.facts,
      credentialHash: `hash-${device.id}`,
      now: seen,
    });
    if (device.lastSeenAt !== null) await store.touchDevices([device.id], device.lastSeenAt);
    if (device.online) online.add(device.id);
  }

  const token = 'plan-test-token';
  const app = express();
  const api = express.Router();
  api.use((req, _res, next) => {
    if (req.headers.authorization !== `Bearer ${token}`) throw new HttpError(401, 'auth.required', 'an API token is required (Authorization: Bearer …)');
    next();
  });
  addPlanRoutes(api, {
    store,
    source,
    fleetPath: options.fleetPath,
    isOnline: (id) => online.has(id),
    now: () => options.now,
  });
  app.use('/api/v1', api);
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = error instanceof HttpError ? error.status : 500;
    res.status(status).json({ error: { code: (error as { code?: string }).code ?? 'internal', message: (error as Error).message } });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
