// Operator decisions on who may be a declared device and which machine may install (issue 12):
// approving or rejecting a pending enrollment, and arming or disarming a machine's one install
// boot (build mode). Called by the HTTP routes (edges/http/enrollment-routes.ts), which the CLI
// (`deployx device`) and the dashboard use. Every decision here is one audit entry, recorded
// by the HTTP route around it (edges/http/enrollment-routes.ts, `audited`).
import type { DeviceRecord, ArmingRecord, Store } from '../edges/store/store.ts';
import { StoreError } from '../edges/store/store.ts';
import type { FleetModel } from '../core/model.ts';
import type { Logger } from '../../../schemas/log.ts';
import { parseDuration, DurationError } from '../../../schemas/duration.ts';

/** How long an arming lasts when the operator does not say (`--for`). */
export const DEFAULT_ARM_MS = 2 * 3_600_000;
/** The longest an arming may last: build mode is a window, not a setting. */
export const MAX_ARM_MS = 7 * 24 * 3_600_000;

export type EnrollmentErrorCode = 'device.not-found' | 'device.not-pending' | 'device.not-provisionable' | 'request.invalid';

export class EnrollmentError extends Error {
  constructor(
    readonly code: EnrollmentErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface EnrollmentDeps {
  store: Store;
  model: () => FleetModel | undefined;
  /** The live connections: let an approved device in, drop a rejected one. */
  gateway: () => { approved(deviceId: string): boolean; disconnect(deviceId: string): void };
  /** The loop forgets a rejected device. */
  forgetDevice: (deviceId: string) => void;
  /** The dashboard hears of the change. */
  deviceChanged: (deviceId: string) => void;
  deviceRemoved: (deviceId: string) => void;
  log: Logger;
  now: () => Date;
}

/** Who acts (the principal's name), for the log and the audit entry. */
export type Actor = string;

export class EnrollmentActions {
  constructor(private readonly deps: EnrollmentDeps) {}

  pending(limit = 500): Promise<DeviceRecord[]> {
    return this.deps.store.listPendingDevices(limit);
  }

  /** Lets a pending device in: it gets its jobs now if connected, else at its next connection. */
  async approve(deviceId: string, actor: Actor): Promise<DeviceRecord> {
    const device = await notPending(deviceId, () => this.deps.store.approveDevice(deviceId));
    this.deps.log.info('device approved', { device: deviceId, by: actor });
    this.deps.gateway().approved(deviceId);
    this.deps.deviceChanged(deviceId);
    return device;
  }

  /** Refuses a pending device: deleted and disconnected; the declared name is free again. */
  async reject(deviceId: string, actor: Actor): Promise<void> {
    await notPending(deviceId, () => this.deps.store.rejectDevice(deviceId, this.deps.now().toISOString()));
    this.deps.log.info('device rejected', { device: deviceId, by: actor });
    this.deps.forgetDevice(deviceId);
    this.deps.gateway().disconnect(deviceId);
    this.deps.deviceRemoved(deviceId);
  }

  /**
   * Arms a declared device's next network boot to install (once), for `duration` (default 2h).
   * Only a device declared with a provisioning profile can be armed.
   */
  async arm(deviceId: string, actor: Actor, duration?: string): Promise<ArmingRecord> {
    let ms = DEFAULT_ARM_MS;
    if (duration !== undefined) {
      try {
        ms = parseDuration(duration);
      } catch (error) {
        if (error instanceof DurationError) throw new EnrollmentError('request.invalid', error.message);
        throw error;
      }
      if (ms > MAX_ARM_MS) throw new EnrollmentError('request.invalid', `arming lasts at most 7d; ${duration} is longer`);
    }
    const model = this.deps.model();
    const declared = model?.devices.get(deviceId)?.doc;
    const profile = declared?.spec.profile === undefined ? undefined : model?.profiles.get(declared.spec.profile)?.doc;
    if (!declared) throw new EnrollmentError('device.not-found', `no Device ${deviceId} is declared at the served revision; commit it first`);
    if (!profile?.spec.provisioning) {
      throw new EnrollmentError('device.not-provisionable', `device ${deviceId} has no profile with provisioning; nothing to install`);
    }
    const at = this.deps.now();
    const arming = await this.deps.store.armProvisioning({
      deviceId,
      armedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + ms).toISOString(),
      armedBy: actor,
    });
    this.deps.log.info('device armed for one install boot', { device: deviceId, until: arming.expiresAt, by: actor });
    return arming;
  }

  /** Cancels an arming; false when there was none. */
  async disarm(deviceId: string, actor: Actor): Promise<boolean> {
    const was = await this.deps.store.disarmProvisioning(deviceId);
    this.deps.log.info('device disarmed', { device: deviceId, by: actor, wasArmed: was });
    return was;
  }

  /** The device's live arming, if any. */
  arming(deviceId: string): Promise<ArmingRecord | undefined> {
    return this.deps.store.getArming(deviceId, this.deps.now().toISOString());
  }
}

async function notPending<T>(deviceId: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (error) {
    if (error instanceof StoreError && error.code === 'store.not-found') {
      throw new EnrollmentError('device.not-pending', `device ${deviceId} does not wait for approval`);
    }
    throw error;
  }
}
