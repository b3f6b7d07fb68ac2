// Operator decisions on enrollment and build mode (actions/enrollment.ts), under /api/v1:
//
//   GET  /enrollment/pending                     devices waiting for approval (viewer)
//   POST /devices/:id/approve                    let a pending device in (operator)
//   POST /devices/:id/reject                     refuse it: deleted, disconnected (operator)
//   GET  /devices/:id/provisioning/arming        the device's live arming or null (viewer)
//   POST /devices/:id/provisioning/arm           {"for": "2h"}: one install boot within that time (operator)
//   POST /devices/:id/provisioning/disarm        cancel it (operator)
//   POST /devices/:id/provisioning/reprovision   = arm for the default 2 h (operator; the older name)
//
// The session's CSRF token is checked for every POST by the /api/v1 middleware (app.ts).
import type { RequestHandler, Response, Router } from 'express';
import type { EnrollmentActions } from '../../actions/enrollment.ts';
import type { DeviceRecord } from '../store/store.ts';
import type { Principal } from './access.ts';
import { HttpError, type Audited } from './app.ts';

export function addEnrollmentRoutes(api: Router, deps: { enrollment: EnrollmentActions; operator: RequestHandler; audited: Audited }): void {
  const { enrollment, operator, audited } = deps;
  const actor = (res: Response) => (res.locals.principal as Principal).name;

  api.get('/enrollment/pending', async (_req, res) => {
    res.json({ devices: (await enrollment.pending()).map(pendingView) });
  });

  api.post('/devices/:id/approve', operator, async (req, res) => {
    const id = String(req.params.id);
    res.json(pendingView(await audited(res, 'device.approve', `device:${id}`, () => enrollment.approve(id, actor(res)))));
  });

  api.post('/devices/:id/reject', operator, async (req, res) => {
    const id = String(req.params.id);
    await audited(res, 'device.reject', `device:${id}`, () => enrollment.reject(id, actor(res)));
    res.json({ id, rejected: true });
  });

  api.get('/devices/:id/provisioning/arming', async (req, res) => {
    res.json({ arming: (await enrollment.arming(String(req.params.id))) ?? null });
  });

  api.post('/devices/:id/provisioning/arm', operator, async (req, res) => {
    const body = (req.body ?? {}) as { for?: unknown };
    if (body.for !== undefined && typeof body.for !== 'string') throw new HttpError(400, 'request.invalid', '"for" must be a duration such as 2h');
    const id = String(req.params.id);
    res.json({ arming: await audited(res, 'device.provision.arm', `device:${id}`, () => enrollment.arm(id, actor(res), body.for as string | undefined)) });
  });

  // The older name of arming (the device installs again at its next network boot, within the
  // default 2 h; its hostname number is kept).
  api.post('/devices/:id/provisioning/reprovision', operator, async (req, res) => {
    const id = String(req.params.id);
    res.json({ arming: await audited(res, 'device.reprovision', `device:${id}`, () => enrollment.arm(id, actor(res))) });
  });

  api.post('/devices/:id/provisioning/disarm', operator, async (req, res) => {
    const id = String(req.params.id);
    res.json({ disarmed: await audited(res, 'device.provision.disarm', `device:${id}`, () => enrollment.disarm(id, actor(res))) });
  });
}

/** What an operator needs to decide on a pending device. */
function pendingView(device: DeviceRecord) {
  return {
    id: device.id,
    name: device.name,
    approval: device.approval ?? 'approved',
    claim: device.approvalClaim ?? null,
    enrolledAt: device.enrolledAt ?? null,
    machineId: device.machineId ?? null,
    hostname: device.facts.hostname ?? null,
    macs: device.facts.network?.macs ?? [],
    ips: device.facts.network?.ips ?? [],
  };
}
