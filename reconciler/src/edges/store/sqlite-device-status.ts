// Device status: what the loop's device passes decided, its conditions and its retry history
// (migrations/007-device-status.sql). Written in batches by the pass that decided; read whole
// when a loop starts, so a restarted process shows and retries what the first one did.
import { chunkRows, placeholders } from './sqlite-db.ts';
import { iso, type SqliteContext } from './sqlite-util.ts';
import { DEVICE_STATUS_COLUMNS, toDeviceStatus as toRecord, type DeviceStatusRow as StatusRow } from './store-rows.ts';
import { deviceOutcomeRows, deviceStatusValues } from './store-rules.ts';
import type { DeviceStatusPart } from './store-parts.ts';

export function sqliteDeviceStatus({ db }: SqliteContext): DeviceStatusPart {
  return {
    async saveDeviceStatuses(statuses) {
      if (statuses.length === 0) return;
      const rows = statuses.map(deviceStatusValues);
      await db.transaction(async (c) => {
        for (const chunk of chunkRows(rows, 7)) {
          await c.run(
            `INSERT INTO device_status (device_id, state, reason, revision, pending_steps, reported_drift, updated_at)
             VALUES ${placeholders(chunk.length, 7)}
             ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
               revision = excluded.revision, pending_steps = excluded.pending_steps,
               reported_drift = excluded.reported_drift, updated_at = excluded.updated_at`,
            chunk.flat(),
          );
        }
      });
    },

    async recordDeviceOutcomes(outcomes, now) {
      if (outcomes.length === 0) return;
      const t = iso(now, 'now');
      // Those that set or clear the retry history and those that keep it (rollout jobs) are two
      // multi-row upserts.
      const { setting, keeping } = deviceOutcomeRows(outcomes, t);
      const upsert = (failureColumns: boolean) => `INSERT INTO device_status (device_id, state, reason, updated_at, last_applied_revision,
             last_attempted_revision, failure_steps_hash, failure_count, failure_at)
           VALUES %ROWS%
           ON CONFLICT (device_id) DO UPDATE SET
             last_applied_revision = coalesce(excluded.last_applied_revision, last_applied_revision),
             last_attempted_revision = coalesce(excluded.last_attempted_revision, last_attempted_revision)${
               failureColumns
                 ? `,
             failure_steps_hash = excluded.failure_steps_hash, failure_count = excluded.failure_count,
             failure_at = excluded.failure_at`
                 : ''
             }`;
      await db.transaction(async (c) => {
        for (const [rows, failureColumns] of [[setting, true], [keeping, false]] as const) {
          for (const chunk of chunkRows(rows, 7)) {
            const marks = chunk.map(() => "(?, 'unknown', '', ?, ?, ?, ?, ?, ?)").join(', ');
            await c.run(upsert(failureColumns).replace('%ROWS%', marks), chunk.flat());
          }
        }
      });
    },

    async listDeviceStatuses() {
      const rows = await db.read((c) =>
        c.all<StatusRow>(
          `SELECT ${DEVICE_STATUS_COLUMNS.split(', ').map((column) => `s.${column}`).join(', ')} FROM device_status s JOIN devices d ON d.id = s.device_id
           WHERE d.deleted_at IS NULL ORDER BY s.device_id`,
        ),
      );
      return rows.map(toRecord);
    },
  };
}
