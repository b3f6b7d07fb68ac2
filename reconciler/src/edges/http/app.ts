// The HTTP API and the dashboard. Handlers are async and throw; the error middleware at the end
// is the one place that picks status codes (from the error's `code`). Every /api/v1 route is
// authenticated: people with a session cookie (state changes also need the session's CSRF
// header), tools with a Bearer token (API tokens carry a role; the data dir's token is admin),
// blobs with a statement signed by the device key (schemas/device-auth.ts), webhooks with their HMAC signature. Roles are checked
// here, on the server: viewer reads, operator acts on rollouts, admin deletes devices.
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RevisionsResponse, Role } from '../../../../schemas/protocol.ts';
import type { UiGateway } from '../transport/ui-gateway.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../../../../schemas/log.ts';
import type { Reconciler } from '../../loop/reconciler.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { sendBlob } from './send-blob.ts';
import type { AgentGateway } from '../transport/agent-gateway.ts';
import { planDevice } from '../../core/plan/plan-device.ts';
import { parsePushWebhook } from './webhooks.ts';
import { renderMetrics } from './metrics.ts';
import { addRolloutRoutes } from './rollout-routes.ts';
import { addPlanRoutes, type PlanRouteDeps } from './plan-routes.ts';
import { addProvisioningRoutes, addPxeRoutes } from './pxe-routes.ts';
import { addEnrollmentRoutes } from './enrollment-routes.ts';
import type { EnrollmentActions } from '../../actions/enrollment.ts';
import type { Provisioning } from '../../actions/provisioning.ts';
import { AccessError, CSRF_HEADER, hasRole, sessionCookie, type Access, type Principal } from './access.ts';
import { awaitingEnrollment, declaredRecord, declaredSummary } from './declared-devices.ts';
import { summariseDevice } from './device-summary.ts';
import { actorOf, recordAudit } from '../../actions/audit.ts';

/** Errors per revision in `GET /api/v1/revisions` (the dashboard shows them and "N more"). */
const REVISION_ERRORS_LISTED = 20;

export interface AppDeps {
  /** What `GET /api/v1/plan` and `/inventory` need besides the store. */
  plan: Omit<PlanRouteDeps, 'store' | 'isOnline' | 'now'>;
  store: Store;
  reconciler: Reconciler;
  blobs: BlobStore;
  gateway: () => AgentGateway;
  log: Logger;
  now: () => Date;
  access: Access;
  ui: () => UiGateway;
  webhookSecret: string | undefined;
  /** Bare-metal provisioning: the /pxe routes and /api/v1 provisioning reads; absent, PXE is not served. */
  provisioning?: Provisioning;
  /** Approving enrollments and arming machines (the operator's decisions). */
  enrollment?: EnrollmentActions;
  /** The URL machines are given for this server; default: the Host header they used. */
  publicUrl?: string | undefined;
  /** The built dashboard (index.html, app.js); served at `/` when it exists. */
  dashboardDir?: string;
}

/**
 * Runs an action for the request's principal and appends an audit entry with its outcome
 * (`failure` carries the error's code); the action's error is rethrown.
 */
export type Audited = <T>(res: Response, action: string, target: string, run: () => Promise<T>, details?: Record<string, unknown>) => Promise<T>;

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
    const hex = String(req.params.hex);
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new HttpError(400, 'blob.invalid', 'not a sha256');
    const deviceId = await requireDevice(deps, req, hex);
    if (!(await deps.reconciler.mayFetchBlob(deviceId, hex))) {
      deps.log.warn('blob refused: not the device\'s', { device: deviceId, sha256: hex });
      throw new HttpError(403, 'blob.forbidden', `blob ${hex} is not referenced by the desired state or an open job of device ${deviceId}`);
    }
    const blob = await deps.blobs.get(hex);
    if (!blob) throw new HttpError(404, 'blob.not-found', `no blob ${hex} in any accepted revision; check the job's revision`);
    await sendBlob(req, res, blob);
  });

  if (deps.provisioning) addPxeRoutes(app, { provisioning: deps.provisioning, ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}) });

  const api = express.Router();
  api.use(express.json({ limit: '64kb' }));

  /** Runs a person's or tool's action and records it, succeeded or failed, in the audit log. */
  const audited: Audited = async (res, action, target, run, details) => {
    const actor = actorOf(principalOf(res));
    let value;
    try {
      value = await run();
    } catch (error) {
      await recordAudit(deps.store, { actor, action, target, outcome: 'failure', details: { ...details, code: (error as { code?: string }).code ?? 'internal' } });
      throw error;
    }
    await recordAudit(deps.store, { actor, action, target, outcome: 'success', ...(details ? { details } : {}) });
    return value;
  };

  // The dashboard's first question, answered without an error status when nobody is signed in
  // (a 401 is a console error in every browser): `{session: SessionInfo | null}`.
  api.get('/session/current', async (req, res) => {
    const principal = await deps.access.authenticate({ authorization: req.headers.authorization, cookie: req.headers.cookie });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ session: principal ? deps.access.sessionInfo(principal) : null });
  });

  // Login is the one /api/v1 call without a principal. JSON only: a cross-site form cannot send it.
  api.post('/session', async (req, res) => {
    if (!req.is('application/json')) throw new HttpError(415, 'request.json', 'send JSON: {"name", "password"}');
    const { name, password } = (req.body ?? {}) as { name?: unknown; password?: unknown };
    if (typeof name !== 'string' || typeof password !== 'string' || name === '' || name.length > 100 || password.length > 200) {
      throw new HttpError(400, 'request.invalid', 'name and password are required strings');
    }
    const address = req.ip ?? 'unknown';
    let login;
    try {
      login = await deps.access.login(name, password, address);
    } catch (error) {
      // A wrong password is an entry; a throttled attempt is not (it is refused before the
      // password is looked at, and a flood of them must not grow the log): it is logged.
      if (error instanceof AccessError && error.code === 'auth.bad-credentials') {
        await recordAudit(deps.store, { actor: `user:${name}`, action: 'session.login', target: `user:${name}`, outcome: 'failure', details: { reason: error.code, address } });
      } else if (error instanceof AccessError && error.code === 'auth.throttled') {
        deps.log.warn('login throttled', { user: name, address });
      }
      throw error;
    }
    const { secret, info } = login;
    deps.log.info('login', { user: name });
    await recordAudit(deps.store, { actor: `user:${info.user.name}`, action: 'session.login', target: `user:${info.user.name}`, outcome: 'success', details: { role: info.user.role, address } });
    res.setHeader('Set-Cookie', sessionCookie(secret, deps.access.sessionTtlMs / 1000, req.secure));
    res.json(info);
  });

  api.use(async (req, res, next) => {
    const principal = await deps.access.authenticate({ authorization: req.headers.authorization, cookie: req.headers.cookie });
    if (!principal) throw new AccessError('auth.required', 'log in, or send an API token (Authorization: Bearer …)');
    deps.access.checkCsrf(principal, req.method, req.get(CSRF_HEADER));
    res.locals.principal = principal;
    next();
  });

  api.get('/session', (_req, res) => {
    res.json(deps.access.sessionInfo(principalOf(res)));
  });

  api.delete('/session', async (req, res) => {
    const principal = principalOf(res);
    await deps.access.logout(principal);
    await recordAudit(deps.store, { actor: actorOf(principal), action: 'session.logout', target: `${principal.kind === 'session' ? 'user' : 'token'}:${principal.name}`, outcome: 'success' });
    res.setHeader('Set-Cookie', sessionCookie('', 0, req.secure));
    res.status(204).end();
  });

  // Enrolled devices first, then the devices declared in Git that none has enrolled as yet.
  api.get('/devices', async (req, res) => {
    const limit = clampInt(req.query.limit, 1000, 1, 10_000);
    const offset = clampInt(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const [devices, enrolled, awaiting] = await Promise.all([
      deps.store.listDeviceSummaries({ limit, offset }),
      deps.store.countDevices(),
      awaitingEnrollment(deps.reconciler, deps.store),
    ]);
    const rows = devices.map((d) => summaryOf(deps, d));
    const from = Math.max(0, offset - enrolled);
    if (rows.length < limit) {
      for (const name of awaiting.slice(from, from + limit - rows.length)) {
        const row = declaredSummary(deps.reconciler, name);
        if (row) rows.push(row);
      }
    }
    res.json({ total: enrolled + awaiting.length, devices: rows });
  });

  api.get('/devices/:id', async (req, res) => {
    const id = String(req.params.id);
    const found = await deps.store.getDevice(id);
    const enrolled = found && !found.deletedAt ? found : undefined;
    const declared = enrolled ? undefined : declaredRecord(deps.reconciler.model, id);
    const device = enrolled ?? declared;
    if (!device) throw new HttpError(404, 'device.not-found', `no device ${req.params.id}`);
    if (declared) {
      // Declared, not enrolled: what it will get, and nothing observed yet.
      const desired = deps.reconciler.desiredFor(declared);
      const plan = desired ? planDevice(desired, undefined, [], { now: deps.now() }) : undefined;
      res.json({
        ...declaredSummary(deps.reconciler, id)!,
        facts: {},
        desired: desired ?? null,
        observed: [],
        changes: plan?.changes.map((c) => ({ key: c.key, action: c.action, reason: c.reason, drift: c.drift, reportOnly: c.reportOnly })) ?? [],
        inventory: [],
        jobs: [],
      });
      return;
    }
    const desired = deps.reconciler.desiredFor(device);
    const [observed, inventory, jobs] = await Promise.all([
      deps.store.getObserved(device.id),
      deps.store.getInventory(device.id),
      deps.store.listJobs({ deviceId: device.id, limit: 50 }),
    ]);
    const plan = desired ? planDevice(desired, observed?.resources, inventory, { now: deps.now() }) : undefined;
    res.json({
      ...summaryOf(deps, device),
      facts: device.facts,
      labels: device.labels,
      desired: desired ?? null,
      observed: observed?.resources ?? [],
      changes: plan?.changes.map((c) => ({ key: c.key, action: c.action, reason: c.reason, drift: c.drift, reportOnly: c.reportOnly })) ?? [],
      inventory: inventory.map((i) => ({ key: i.key, fingerprint: i.fingerprint, revision: i.revision, appliedAt: i.appliedAt })),
      jobs,
    });
  });

  api.delete('/devices/:id', requireRole('admin'), async (req, res) => {
    const id = String(req.params.id);
    await audited(res, 'device.delete', `device:${id}`, () => deps.store.deleteDevice(id, deps.now().toISOString()));
    deps.reconciler.forgetDevice(id);
    deps.gateway().disconnect(id);
    deps.ui().deviceRemoved(id);
    deps.log.info('device deleted', { device: id, by: principalOf(res).name });
    res.status(204).end();
  });

  api.get('/revisions', async (req, res) => {
    const limit = clampInt(req.query.limit, 100, 1, 1000);
    const body: RevisionsResponse = {
      current: deps.reconciler.revision ?? null,
      webUrlTemplate: deps.reconciler.model?.fleet?.doc.spec.repoWebUrl ?? null,
      // A listing stays small whatever was committed: the first errors of each revision, and
      // their total; `GET /revisions/:oid` has the first REVISION_ERRORS_KEPT.
      revisions: await deps.store.listRevisions({ limit, errorsPerRevision: REVISION_ERRORS_LISTED }),
    };
    res.json(body);
  });

  api.get('/revisions/:oid', async (req, res) => {
    const revision = await deps.store.getRevision(String(req.params.oid));
    if (!revision) throw new HttpError(404, 'revision.not-found', `no revision ${String(req.params.oid)}`);
    res.json(revision);
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
    const [enrolled, awaiting] = await Promise.all([deps.store.countDevices(), awaitingEnrollment(deps.reconciler, deps.store)]);
    byState.unknown = Math.max(0, enrolled - (byState.in_sync! + byState.drifted! + byState.converging! + byState.failed!));
    byState.awaiting_enrollment = awaiting.length;
    res.json({
      revision: deps.reconciler.revision ?? null,
      devices: { total: enrolled + awaiting.length, online: deps.gateway().connectedCount, byState },
      jobs: await deps.store.countJobsByState(),
    });
  });

  api.get('/stats/history', (_req, res) => {
    res.json({ samples: deps.ui().history() });
  });

  api.get('/notifications', (req, res) => {
    const after = clampInt(req.query.after, 0, 0, Number.MAX_SAFE_INTEGER);
    res.json({ notifications: deps.ui().notifications(after) });
  });

  // The audit log, newest first: `?limit=N` (≤ 1000) and `?before=SEQ` (a page's `next`).
  api.get('/audit', requireRole('admin'), async (req, res) => {
    const limit = clampInt(req.query.limit, 100, 1, 1000);
    const before = clampInt(req.query.before, 0, 1, Number.MAX_SAFE_INTEGER);
    const entries = await deps.store.listAudit({ limit, ...(req.query.before === undefined ? {} : { before }) });
    const last = entries.at(-1);
    res.json({ entries, next: entries.length === limit && last !== undefined && last.seq > 1 ? last.seq : null });
  });

  addRolloutRoutes(api, { rollouts: deps.reconciler.rollouts, operator: requireRole('operator'), audited, now: deps.now });
  addPlanRoutes(api, { ...deps.plan, store: deps.store, isOnline: (id) => deps.gateway().isOnline(id), now: deps.now });
  if (deps.enrollment) addEnrollmentRoutes(api, { enrollment: deps.enrollment, operator: requireRole('operator'), audited });
  if (deps.provisioning) addProvisioningRoutes(api, { provisioning: deps.provisioning, operator: requireRole('operator') });

  app.use('/api/v1', api);
  app.use('/api', (_req, _res, next) => next(new HttpError(404, 'not-found', 'no such API route')));
  if (deps.dashboardDir) serveDashboard(app, deps.dashboardDir);
  app.use(errorMiddleware(deps.log));
  return app;
}

/**
 * The dashboard's files, and its index.html for any other GET that is not an API path, so deep
 * links (`/devices/web-01`) survive a reload. The bundle's names are fixed (`app.js`), so every
 * file is revalidated (ETag / Last-Modified, a 304 when unchanged): an upgraded server is never
 * paired with a cached old bundle.
 */
function serveDashboard(app: express.Express, dir: string): void {
  const index = path.join(dir, 'index.html');
  app.use(express.static(dir, { index: false, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }));
  const reserved = /^\/(api|pxe|socket\.io|healthz|metrics)(\/|$)/;
  app.get(/.*/, (req, res, next) => {
    if (reserved.test(req.path) || path.extname(req.path) !== '') return next();
    if (!existsSync(index)) {
      // A person opened the dashboard: say what is wrong and what to do, in words.
      res.status(503).type('text/plain').send('The DeployX dashboard is not built. Run "npm run build" where DeployX is installed (npm install runs it too), then reload.\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Security-Policy', "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    res.setHeader('X-Frame-Options', 'DENY');
    res.sendFile(index);
  });
}

/** Route guard: the principal's role must be at least `role` (403 `auth.forbidden`). */
export function requireRole(role: Role): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) throw new AccessError('auth.required', 'not authenticated');
    if (!hasRole(principal, role)) {
      throw new AccessError('auth.forbidden', `${principal.name} is ${principal.role}; this needs ${role}`);
    }
    next();
  };
}

function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

function summaryOf(deps: AppDeps, device: Parameters<typeof summariseDevice>[0]) {
  return summariseDevice(device, {
    statuses: deps.reconciler.statuses,
    memberships: deps.reconciler.memberships,
    isOnline: (id) => deps.gateway().isOnline(id),
  });
}

/** The device a blob download comes from: its signed statement for this blob (schemas/device-auth.ts). */
async function requireDevice(deps: AppDeps, req: Request, sha256: string): Promise<string> {
  const verdict = await deps.gateway().authenticateBlobRequest(req.headers.authorization, sha256);
  if (verdict.ok) return verdict.deviceId;
  if (verdict.reason === 'missing') throw new HttpError(401, 'auth.required', 'a signed device statement is required (Authorization: DeployX-Device)');
  throw new HttpError(401, 'auth.refused', `device statement refused (${verdict.reason})`);
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

const STATUS_BY_CODE: Record<string, number> = {
  'auth.required': 401,
  'auth.bad-credentials': 401,
  'auth.throttled': 429,
  'auth.csrf': 403,
  'auth.forbidden': 403,
  'webhook.signature': 401,
  'webhook.bad-payload': 400,
  'webhook.unsupported-event': 202,
  'store.not-found': 404,
  'store.invalid': 400,
  'store.conflict': 409,
  'blob.upstream': 502,
  'blob.store': 503,
  'pxe.invalid': 400,
  'pxe.rate-limited': 429,
  'device.not-found': 404,
  'device.not-pending': 409,
  'device.not-provisionable': 409,
  'request.invalid': 400,
  'pxe.token': 401,
  'pxe.not-found': 404,
  'pxe.step-index': 400,
  'pxe.step-order': 409,
  'pxe.stale': 409,
  'pxe.render': 500,
  'rollout.not-found': 404,
  'rollout.superseded': 409,
  'rollout.finished': 409,
  'rollout.nothing-to-promote': 409,
  'rollout.nothing-to-start': 409,
};

function errorMiddleware(log: Logger) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    // body-parser's refusals (malformed JSON, too large) carry their own 4xx status.
    const parserStatus = (error as { type?: unknown; status?: unknown }).type !== undefined ? (error as { status?: unknown }).status : undefined;
    if (typeof parserStatus === 'number' && parserStatus >= 400 && parserStatus < 500) {
      res.status(parserStatus).json({ error: { code: 'request.invalid', message: (error as Error).message } });
      return;
    }
    const code = (error as { code?: string }).code ?? 'internal';
    const status = error instanceof HttpError ? error.status : (STATUS_BY_CODE[code] ?? 500);
    if (status >= 500) log.error('request failed', { error });
    if (status === 202) {
      res.status(202).json({ accepted: false, ignored: (error as Error).message });
      return;
    }
    // An HttpError's text is written for the caller; anything else may hold internals.
    res.status(status).json({ error: { code, message: status >= 500 && !(error instanceof HttpError) ? 'internal error' : (error as Error).message } });
  };
}
