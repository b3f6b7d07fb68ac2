// The rollout API, mounted on the authenticated /api/v1 router:
//
//   GET  /rollouts[?status=S[,S…]][&limit=N][&before=ID]   newest first, each with its counts
//   GET  /rollouts/:id[?devices=true]                       one rollout: waves with device counts
//                                                           per state, the halted wave and its
//                                                           failed devices with their job output;
//                                                           `devices=true` adds every device
//   POST /rollouts/:id/promote | pause | resume             the operator's commands
//   POST /rollouts/:id/start-now  {"reason": "…"}           start the wave a closed maintenance
//                                                           window or a pause holds (audited
//                                                           with its reason)
//
// Commands act on the rollout only: they never change desired state. They answer the rollout as
// it is after the command; a finished or superseded rollout answers 409 (`rollout.finished`,
// `rollout.superseded`), nothing to promote or start 409 (`rollout.nothing-to-promote`,
// `rollout.nothing-to-start`), an unknown id 404 (`rollout.not-found`) — app.ts maps the codes.
// Reading takes a viewer; commands an operator, and each is recorded in the audit log.
import type { RequestHandler, Router } from 'express';
import { ROLLOUT_RECORD_STATUSES, type RolloutRecordStatus } from '../store/store.ts';
import type { RolloutDetail } from '../../../../schemas/protocol.ts';
import { describeRollout, type RolloutCommand, type RolloutDriver, RolloutLookupError } from '../../loop/rollouts.ts';
import { HttpError, type Audited } from './app.ts';

export interface RolloutRouteDeps {
  rollouts: Pick<RolloutDriver, 'list' | 'get' | 'command' | 'failedDevices'>;
  /** Guards the commands (promote, pause, resume): the operator role. */
  operator: RequestHandler;
  /** Records each command in the audit log. */
  audited: Audited;
  /** The clock a rollout's `waiting` is read at. Default: the system clock. */
  now?: () => Date;
}

const COMMANDS: readonly RolloutCommand[] = ['promote', 'pause', 'resume', 'start-now'];

export function addRolloutRoutes(router: Router, deps: RolloutRouteDeps): void {
  const now = deps.now ?? (() => new Date());
  router.get('/rollouts', async (req, res) => {
    const limit = intParam(req.query.limit, 50, 1, 500);
    const status = statusParam(req.query.status);
    const before = typeof req.query.before === 'string' && req.query.before !== '' ? req.query.before : undefined;
    const records = await deps.rollouts.list({ limit, ...(status ? { status } : {}), ...(before ? { before } : {}) });
    res.json({ rollouts: records.map((record) => describeRollout(record, now())) });
  });

  router.get('/rollouts/:id', async (req, res) => {
    const record = await deps.rollouts.get(String(req.params.id));
    if (record === undefined) throw new RolloutLookupError('rollout.not-found', `no rollout ${req.params.id}`);
    const view = describeRollout(record, now());
    const failed = await deps.rollouts.failedDevices(record);
    const body: RolloutDetail = {
      ...view,
      halted: view.halted === null ? null : { ...view.halted, failedDevices: failed.filter((f) => view.halted!.devices.includes(f.device)) },
      failedDevices: failed,
    };
    if (req.query.devices === 'true' || req.query.devices === '1') {
      body.devices = Object.entries(record.state.devices).map(([name, d]) => ({
        name,
        wave: d.wave,
        status: d.status,
        online: d.online,
        attempts: d.attempts,
        failures: d.failures,
        ...(d.retryAt === undefined ? {} : { retryAt: d.retryAt }),
      }));
    }
    res.json(body);
  });

  router.post('/rollouts/:id/:command', deps.operator, async (req, res) => {
    const command = String(req.params.command) as RolloutCommand;
    if (!COMMANDS.includes(command)) throw new HttpError(404, 'not-found', 'no such API route');
    const id = String(req.params.id);
    // Start now overrides a maintenance window or a pause someone chose: it says why, in the audit log.
    const reason = command === 'start-now' ? reasonParam((req.body as { reason?: unknown } | undefined)?.reason) : undefined;
    const record = await deps.audited(res, `rollout.${command}`, `rollout:${id}`, () => deps.rollouts.command(id, command, reason), reason === undefined ? undefined : { reason });
    res.json(describeRollout(record, now()));
  });
}

function statusParam(value: unknown): RolloutRecordStatus[] | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const statuses = value.split(',').map((s) => s.trim());
  for (const status of statuses) {
    if (!ROLLOUT_RECORD_STATUSES.includes(status as RolloutRecordStatus)) {
      throw new HttpError(400, 'rollout.bad-status', `unknown rollout status "${status}" (one of ${ROLLOUT_RECORD_STATUSES.join(', ')})`);
    }
  }
  return statuses as RolloutRecordStatus[];
}

function intParam(value: unknown, fallback: number, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function reasonParam(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, 'rollout.reason-required', 'start now needs a reason: {"reason": "…"} (it is kept in the audit log)');
  if (value.length > 300) throw new HttpError(400, 'rollout.reason-required', 'the reason is at most 300 characters');
  return value.trim();
}
