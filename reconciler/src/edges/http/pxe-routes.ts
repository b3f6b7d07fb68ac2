// The /pxe routes (unauthenticated by nature: firmware and installers cannot log in) and the
// authenticated provisioning read API under /api/v1.
//
//   GET  /pxe/boot.ipxe                         the fixed entry script (no query)
//   GET  /pxe/boot.ipxe?mac=…[&uuid&serial&platform&buildarch&profile]   this machine's script
//   GET  /pxe/v1/config/:token/:file            installer config of the token's run
//   GET  /pxe/v1/tasks                          the run's task sequence (Bearer token; ?format=lines for sh)
//   POST /pxe/v1/tasks/:index/status            started | succeeded | failed, exit code, log tail
//   GET  /pxe/v1/artifacts/sha256/:hex?token=   kernel, initrd, WIM, scripts of the run (Range)
//   GET  /pxe/runner/:name                      the task runners (deployx-tasks.sh, .ps1)
//   GET  /api/v1/provisioning/discovered        machines that booted and no Device matches
//   GET  /api/v1/devices/:id/provisioning       state, runs and the step timeline of a device
//   (arming a device for an install boot, and `reprovision`, are in enrollment-routes.ts)
//
// Everything a machine sends is checked strictly (machine-identity.ts); the server URL written
// into scripts and configs is the one the machine used to reach us (Host header, checked), or
// the configured public URL.
import express, { type Request, type RequestHandler, type Router } from 'express';
import { renderTaskLines } from '../../core/pxe/task-sequence.ts';
import { isIdentityProblem, parseMachineIdentity } from '../../core/pxe/machine-identity.ts';
import { STEP_STATUSES, type StepStatus } from '../../core/pxe/task-progress.ts';
import { type Provisioning, ProvisioningError } from '../../actions/provisioning.ts';
import { HttpError, type Audited } from './app.ts';
import { sendBlob } from './send-blob.ts';

export interface PxeRouteDeps {
  provisioning: Provisioning;
  /** `http://deployx.example:8080`: overrides the Host header as the URL machines are given. */
  publicUrl?: string;
}

const HOST = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
const PROFILE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_LOG = 64 * 1024;

function baseUrl(deps: PxeRouteDeps, req: Request): string {
  if (deps.publicUrl) return deps.publicUrl.replace(/\/+$/, '');
  const host = req.headers.host ?? '';
  if (!HOST.test(host)) throw new HttpError(400, 'pxe.invalid', 'bad Host header');
  return `${req.protocol}://${host}`;
}

function bearer(req: Request): string | undefined {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (m) return m[1];
  return typeof req.query.token === 'string' ? req.query.token : undefined;
}

export function addPxeRoutes(app: express.Express, deps: PxeRouteDeps): void {
  const pxe = express.Router();
  const plain = (res: express.Response, body: string | Buffer, type: string) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type(type).send(body);
  };

  pxe.get('/boot.ipxe', async (req, res) => {
    const base = baseUrl(deps, req);
    if (req.query.mac === undefined) {
      plain(res, deps.provisioning.entryScript(base), 'text/plain');
      return;
    }
    const identity = parseMachineIdentity(req.query as Record<string, unknown>);
    if (isIdentityProblem(identity)) throw new HttpError(400, 'pxe.invalid', identity.message);
    const profile = req.query.profile;
    if (profile !== undefined && (typeof profile !== 'string' || !PROFILE.test(profile))) {
      throw new HttpError(400, 'pxe.invalid', 'profile must be a profile name');
    }
    // req.ip: the peer, or with a trusted reverse proxy the client it names (Express `trust proxy`).
    const { script } = await deps.provisioning.boot(identity, base, profile, req.ip ?? req.socket.remoteAddress ?? 'unknown');
    plain(res, script, 'text/plain');
  });

  pxe.get('/v1/config/:token/:file', async (req, res) => {
    const file = String(req.params.file);
    if (!/^[a-z][a-z0-9.-]{0,30}$/.test(file)) throw new HttpError(404, 'pxe.not-found', 'no such config file');
    const { body, type } = await deps.provisioning.installerConfig(String(req.params.token), file, baseUrl(deps, req));
    plain(res, body, type);
  });
  // cloud-init's nocloud datasource asks for `<seed>/` + file; an empty file name is meta-data's directory.
  pxe.get('/v1/config/:token/', (_req, _res) => {
    throw new HttpError(404, 'pxe.not-found', 'name a config file');
  });

  pxe.get('/v1/tasks', async (req, res) => {
    const sequence = await deps.provisioning.tasks(bearer(req), baseUrl(deps, req));
    if (req.query.format === 'lines') plain(res, renderTaskLines(sequence), 'text/plain');
    else {
      res.setHeader('Cache-Control', 'no-store');
      res.json(sequence);
    }
  });

  pxe.post(
    '/v1/tasks/:index/status',
    express.json({ limit: '96kb' }),
    express.text({ type: 'text/*', limit: '96kb' }),
    async (req, res) => {
      const index = Number(req.params.index);
      if (!/^\d{1,4}$/.test(String(req.params.index))) throw new HttpError(400, 'pxe.invalid', 'index must be a task number');
      // JSON body {status, exitCode?, log?}, or a text/plain log tail with ?status=&exitCode= (the sh
      // runner: no JSON escaping in POSIX sh).
      const json = req.is('application/json') ? ((req.body ?? {}) as Record<string, unknown>) : undefined;
      const status = json ? json.status : req.query.status;
      const exitRaw = json ? json.exitCode : req.query.exitCode;
      const log = json ? json.log : typeof req.body === 'string' ? req.body : undefined;
      if (typeof status !== 'string' || !(STEP_STATUSES as readonly string[]).includes(status)) {
        throw new HttpError(400, 'pxe.invalid', `status must be one of ${STEP_STATUSES.join(', ')}`);
      }
      let exitCode: number | undefined;
      if (exitRaw !== undefined && exitRaw !== '') {
        exitCode = Number(exitRaw);
        if (!Number.isInteger(exitCode) || exitCode < -1 || exitCode > 65535) throw new HttpError(400, 'pxe.invalid', 'exitCode must be an integer');
      }
      if (log !== undefined && typeof log !== 'string') throw new HttpError(400, 'pxe.invalid', 'log must be text');
      const result = await deps.provisioning.reportStep(bearer(req), index, {
        status: status as StepStatus,
        ...(exitCode !== undefined ? { exitCode } : {}),
        ...(typeof log === 'string' && log !== '' ? { log: log.slice(-MAX_LOG) } : {}),
      });
      res.json(result);
    },
  );

  pxe.get('/v1/artifacts/sha256/:hex', async (req, res) => {
    await sendBlob(req, res, await deps.provisioning.artifact(bearer(req), String(req.params.hex)));
  });

  pxe.get('/runner/:name', async (req, res) => {
    const { body, type } = await deps.provisioning.runner(String(req.params.name));
    plain(res, body, type);
  });

  app.use('/pxe', pxe);
}

export function addProvisioningRoutes(api: Router, deps: Pick<PxeRouteDeps, 'provisioning'> & { operator?: RequestHandler }): void {
  api.get('/provisioning/discovered', async (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit) || 200));
    res.json({ machines: await deps.provisioning.discovered(limit, req.query.all === '1') });
  });

  // `null` for a device DeployX never provisioned: a normal answer (the device page asks for
  // every device), not a 404 and a console error in the browser.
  api.get('/devices/:id/provisioning', async (req, res) => {
    try {
      res.json(await deps.provisioning.timeline(String(req.params.id)));
    } catch (error) {
      if (!(error instanceof ProvisioningError && error.code === 'pxe.not-found')) throw error;
      res.json(null);
    }
  });
}

export { ProvisioningError };
