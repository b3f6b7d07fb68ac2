// Enrollment approval and PXE build mode (PostgreSQL): pending devices, armed machines, and the
// expiry and cap of discovered machines. See sqlite-enrollment.ts. Approving, rejecting and
// consuming an arming are single conditional statements: of two replicas doing the same at once,
// one changes the row and the other (re-checking the condition after the row lock) finds nothing.
import { StoreError } from './store.ts';
import { iso, limitOf } from './store-values.ts';
import { ARMING_COLUMNS, DEVICE_COLUMNS, toArming, toDevice, type ArmingRow, type DeviceRow } from './store-rows.ts';
import type { PgContext } from './pg-util.ts';
import type { EnrollmentPart } from './store-parts.ts';

export function pgEnrollment({ db }: PgContext): EnrollmentPart {
  return {
    async listPendingDevices(limit) {
      const rows = await db.read((c) =>
        c.all<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices WHERE approval = 'pending' AND deleted_at IS NULL ORDER BY enrolled_at, id LIMIT $1`,
          [limitOf(limit)],
        ),
      );
      return rows.map(toDevice);
    },

    async approveDevice(id) {
      const row = await db.transaction((c) =>
        c.get<DeviceRow>(
          `UPDATE devices SET approval = NULL, approval_claim = NULL
           WHERE id = $1 AND approval = 'pending' AND deleted_at IS NULL RETURNING ${DEVICE_COLUMNS}`,
          [id],
        ),
      );
      if (!row) throw new StoreError('store.not-found', `no device ${id} waits for approval`);
      return toDevice(row);
    },

    async rejectDevice(id, at) {
      const t = iso(at, 'at');
      const { changes } = await db.transaction((c) =>
        c.run(
          `UPDATE devices SET deleted_at = $1, credential_hash = NULL, public_key = NULL, machine_id = NULL, approval = NULL, approval_claim = NULL
           WHERE id = $2 AND approval = 'pending' AND deleted_at IS NULL`,
          [t, id],
        ),
      );
      if (changes === 0) throw new StoreError('store.not-found', `no device ${id} waits for approval`);
    },

    async armProvisioning(input) {
      const values = [input.deviceId, iso(input.armedAt, 'armedAt'), iso(input.expiresAt, 'expiresAt'), input.armedBy];
      const row = await db.transaction((c) =>
        c.get<ArmingRow>(
          `INSERT INTO pxe_arming (${ARMING_COLUMNS}) VALUES ($1, $2, $3, $4)
           ON CONFLICT (device_id) DO UPDATE SET armed_at = excluded.armed_at, expires_at = excluded.expires_at, armed_by = excluded.armed_by
           RETURNING ${ARMING_COLUMNS}`,
          values,
        ),
      );
      if (!row) throw new StoreError('store.internal', 'upsert returned no row');
      return toArming(row);
    },

    async disarmProvisioning(deviceId) {
      const { changes } = await db.transaction((c) => c.run('DELETE FROM pxe_arming WHERE device_id = $1', [deviceId]));
      return changes > 0;
    },

    async getArming(deviceId, at) {
      const t = iso(at, 'at');
      const row = await db.read((c) => c.get<ArmingRow>(`SELECT ${ARMING_COLUMNS} FROM pxe_arming WHERE device_id = $1 AND expires_at > $2`, [deviceId, t]));
      return row && toArming(row);
    },

    async consumeArming(deviceId, at) {
      const t = iso(at, 'at');
      const { changes } = await db.transaction(async (c) => {
        const consumed = await c.run('DELETE FROM pxe_arming WHERE device_id = $1 AND expires_at > $2', [deviceId, t]);
        await c.run('DELETE FROM pxe_arming WHERE expires_at <= $1', [t]);
        return consumed;
      });
      return changes > 0;
    },

    async pruneDiscovered({ before, keep }) {
      const t = iso(before, 'before');
      if (!Number.isInteger(keep) || keep < 0) throw new StoreError('store.invalid', `keep must be a non-negative integer, got ${keep}`);
      return db.transaction(async (c) => {
        const old = await c.run('DELETE FROM pxe_machines WHERE device_id IS NULL AND last_seen_at < $1', [t]);
        const over = await c.run(
          `DELETE FROM pxe_machines WHERE device_id IS NULL AND mac NOT IN (
             SELECT mac FROM pxe_machines WHERE device_id IS NULL ORDER BY last_seen_at DESC, mac LIMIT $1)`,
          [keep],
        );
        return old.changes + over.changes;
      });
    },
  };
}
