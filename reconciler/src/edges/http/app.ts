// The HTTP API. Handlers are async and throw; the error middleware at the end is the one place
// that picks status codes (from the error's `code`). Every /api/v1 route is authenticated:
// the read API with the admin API token (Bearer), blobs with a device credential (Basic),
// webhooks with their HMAC signature.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { hashSecret } from '../transport/agent-gateway.ts';
import type { Store, DeviceRecord } from '../store/store.ts';
import type { Logger } from '../log.ts';
import type { Reconciler } from '../../loop/reconciler.ts';
import type { BlobIndex } from '../../loop/blob-index.ts';
import type { AgentGateway } from '../transport/agent-gateway.ts';
import { planDevice } from '../../core/plan/plan-device.ts';
import { parsePushWebhook } from './webhooks.ts';
import { renderMetrics } from './metrics.ts';
import { addRolloutRoutes } from './rollout-routes.ts';
import { addPlanRoutes, type PlanRouteDeps } from './plan-routes.ts';

export interface AppDeps {
  /** What `GET /api/v1/plan` and `/inventory` need besides the store. */
  plan: Omit<PlanRouteDeps, 'store' | 'isOnline' | 'now'>;
  store: Store;
  reconciler: Reconciler;
  blobs: BlobIndex;
  gateway: () => AgentGateway;
  log: Logger;
  now: () => Date;
  apiTokenHash: string;
  webhookSecret: string | undefined;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, revision: deps.reconciler.revision ?? null });
  });

  app.get('/metrics', async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await renderMetrics(deps));
  });

  // Webhooks need the raw body for the signature.
  app.post('/api/v1/webhooks/git', express.raw({ type: '*/*', limit: '5mb' }), (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const push = parsePushWebhook(req.headers, body, deps.webhookSecret);
    deps.log.info('webhook received', { provider: push.provider, ref: push.ref, after: push.after });
    deps.reconciler.enqueueSource();
    res.status(202).json({ accepted: true });
  });

  app.get('/api/v1/blobs/sha256/:hex', async (req, res) => {
    await requireDevice(deps, req);
    const hex = String(req.params.hex);
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new HttpError(400, 'blob.invalid', 'not a sha256');
    const bytes = await deps.blobs.read(hex);
    if (!bytes) throw new HttpError(404, 'blob.not-found', `no blob ${hex}`);
    sendRange(req, res, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  const api = express.Router();
  api.use((req, _res, next) => {
    requireApiToken(deps, req);
    next();
  });

  api.get('/devices', async (req, res) => {
    const limit = clampInt(req.query.limit, 1000, 1, 10_000);
    const offset = clampInt(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const devices = await deps.store.listDevices({ limit, offset });
    const total = await deps.store.countDevices();
    res.json({ total, devices: devices.map((d) => deviceSummary(deps, d)) });
  });

  api.get('/devices/:id', async (req, res) => {
    const device = await deps.store.getDevice(String(req.params.id));
    if (!device || device.deletedAt) throw new HttpError(404, 'device.not-found', `no device ${req.params.id}`);
    const desired = deps.reconciler.desiredFor(device);
    const [observed, inventory, jobs] = await Promise.all([
      deps.store.getObserved(device.id),
      deps.store.getInventory(device.id),
      deps.store.listJobs({ deviceId: device.id, limit: 50 }),
    ]);
    const plan = desired ? planDevice(desired, observed?.resources, inventory, { now: deps.now() }) : undefined;
    res.json({
      ...deviceSummary(deps, device),
      facts: device.facts,
      labels: device.labels,
      desired: desired ?? null,
      observed: observed?.resources ?? [],
      changes: plan?.changes.map((c) => ({ key: c.key, action: c.action, reason: c.reason, drift: c.drift, reportOnly: c.reportOnly })) ?? [],
      inventory: inventory.map((i) => ({ key: i.key, fingerprint: i.fingerprint, revision: i.revision, appliedAt: i.appliedAt })),
      jobs,
    });
  });

  api.delete('/devices/:id', async (req, res) => {
    const id = String(req.params.id);
    await deps.store.deleteDevice(id, deps.now().toISOString());
    deps.gateway().disconnect(id);
    res.status(204).end();
  });

  api.get('/revisions', async (req, res) => {
    const limit = clampInt(req.query.limit, 100, 1, 1000);
    res.json({ current: deps.reconciler.revision ?? null, revisions: await deps.store.listRevisions({ limit }) });
  });

  api.get('/jobs', async (req, res) => {
    const limit = clampInt(req.query.limit, 100, 1, 1000);
    const deviceId = typeof req.query.device === 'string' ? req.query.device : undefined;
    const state = typeof req.query.state === 'string' ? (req.query.state as never) : undefined;
    res.json({ jobs: await deps.store.listJobs({ limit, ...(deviceId ? { deviceId } : {}), ...(state ? { state } : {}) }) });
  });

  api.get('/stats', async (_req, res) => {
    const byState: Record<string, number> = { in_sync: 0, drifted: 0, converging: 0, failed: 0, unknown: 0 };
    for (const status of deps.reconciler.statuses.values()) byState[status.state] = (byState[status.state] ?? 0) + 1;
    const total = await deps.store.countDevices();
    byState.unknown = Math.max(0, total - (byState.in_sync! + byState.drifted! + byState.converging! + byState.failed!));
    res.json({
      revision: deps.reconciler.revision ?? null,
      devices: { total, online: deps.gateway().connectedCount, byState },
      jobs: await deps.store.countJobsByState(),
    });
  });

  addRolloutRoutes(api, { rollouts: deps.reconciler.rollouts });
  addPlanRoutes(api, { ...deps.plan, store: deps.store, isOnline: (id) => deps.gateway().isOnline(id), now: deps.now });

  app.use('/api/v1', api);
  app.use('/api', (_req, _res, next) => next(new HttpError(404, 'not-found', 'no such API route')));
  app.use(errorMiddleware(deps.log));
  return app;
}

function deviceSummary(deps: AppDeps, device: DeviceRecord) {
  const status = deps.reconciler.statuses.get(device.id);
  return {
    id: device.id,
    name: device.name,
    online: deps.gateway().isOnline(device.id),
    state: status?.state ?? 'unknown',
    reason: status?.reason ?? 'not reconciled yet',
    revision: device.reportedRevision ?? null,
    lastSeenAt: device.lastSeenAt ?? null,
    lastReportAt: device.lastReportAt ?? null,
    agentVersion: device.agentVersion ?? null,
    os: device.facts.os ?? null,
  };
}

function requireApiToken(deps: AppDeps, req: Request): void {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match || !sameHash(hashSecret(match[1]!), deps.apiTokenHash)) {
    throw new HttpError(401, 'auth.required', 'an API token is required (Authorization: Bearer …)');
  }
}

async function requireDevice(deps: AppDeps, req: Request): Promise<string> {
  const match = /^Basic (\S+)$/.exec(req.headers.authorization ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new HttpError(401, 'auth.required', 'a device credential is required');
  const deviceId = decoded.slice(0, colon);
  const credentialHash = hashSecret(decoded.slice(colon + 1));
  if (deps.gateway().connectedWith(deviceId, credentialHash)) return deviceId;
  const device = await deps.store.findDeviceByCredential(deviceId, credentialHash);
  if (!device) throw new HttpError(401, 'auth.refused', 'bad device credential');
  return device.id;
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Serves `bytes`, honouring a single `Range: bytes=a-b` request. */
function sendRange(req: Request, res: Response, bytes: Buffer): void {
  res.setHeader('Accept-Ranges', 'bytes');
  res.type('application/octet-stream');
  const range = req.headers.range;
  const match = range ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
  if (!range || !match || (match[1] === '' && match[2] === '')) {
    res.send(bytes);
    return;
  }
  const size = bytes.length;
  let start = match[1] === '' ? size - Number(match[2]) : Number(match[1]);
  let end = match[1] === '' || match[2] === '' ? size - 1 : Number(match[2]);
  start = Math.max(0, start);
  end = Math.min(end, size - 1);
  if (start > end || start >= size) {
    res.status(416).setHeader('Content-Range', `bytes */${size}`).end();
    return;
  }
  res.status(206).setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.send(bytes.subarray(start, end + 1));
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

const STATUS_BY_CODE: Record<string, number> = {
  'webhook.signature': 401,
  'webhook.bad-payload': 400,
  'webhook.unsupported-event': 202,
  'store.not-found': 404,
  'store.invalid': 400,
  'store.conflict': 409,
  'blob.upstream': 502,
  'rollout.not-found': 404,
  'rollout.superseded': 409,
  'rollout.finished': 409,
  'rollout.nothing-to-promote': 409,
};

function errorMiddleware(log: Logger) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const code = (error as { code?: string }).code ?? 'internal';
    const status = error instanceof HttpError ? error.status : (STATUS_BY_CODE[code] ?? 500);
    if (status >= 500) log.error('request failed', { error });
    if (status === 202) {
      res.status(202).json({ accepted: false, ignored: (error as Error).message });
      return;
    }
    res.status(status).json({ error: { code, message: status >= 500 ? 'internal error' : (error as Error).message } });
  };
}
