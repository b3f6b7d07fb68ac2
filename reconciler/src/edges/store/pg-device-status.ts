// Device status (PostgreSQL): what the loop's device passes decided, its conditions and its retry
// history. See sqlite-device-status.ts.
import { iso, lastByKey } from './store-values.ts';
import { DEVICE_STATUS_COLUMNS, toDeviceStatus as toRecord, type DeviceStatusRow as StatusRow } from './store-rows.ts';
import { deviceOutcomeRows, deviceStatusValues } from './store-rules.ts';
import { columns, type PgContext } from './pg-util.ts';
import type { DeviceStatusPart } from './store-parts.ts';

export function pgDeviceStatus({ db }: PgContext): DeviceStatusPart {
  return {
    async saveDeviceStatuses(statuses) {
      if (statuses.length === 0) return;
      // A device named twice: the later status wins, as SQLite's row-by-row upsert leaves it.
      const v = columns(
        lastByKey(statuses.map(deviceStatusValues), (row) => String(row[0])),
        ['text', 'text', 'text', 'text', 'bigint', 'bigint', 'text'],
      );
      await db.transaction((c) =>
        c.run(
          `INSERT INTO device_status (device_id, state, reason, revision, pending_steps, reported_drift, updated_at)
           SELECT * FROM ${v.sql}
           ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
             revision = excluded.revision, pending_steps = excluded.pending_steps,
             reported_drift = excluded.reported_drift, updated_at = excluded.updated_at`,
          v.values,
        ),
      );
    },

    async recordDeviceOutcomes(outcomes, now) {
      if (outcomes.length === 0) return;
      const { setting, keeping } = deviceOutcomeRows(outcomes, iso(now, 'now'));
      const upsert = (failureColumns: boolean, rows: string) => `INSERT INTO device_status AS s (device_id, state, reason, updated_at,
             last_applied_revision, last_attempted_revision, failure_steps_hash, failure_count, failure_at)
           SELECT v.device_id, 'unknown', '', v.updated_at, v.applied, v.attempted, v.steps_hash, v.count, v.at
           FROM ${rows} AS v (device_id, updated_at, applied, attempted, steps_hash, count, at)
           ON CONFLICT (device_id) DO UPDATE SET
             last_applied_revision = coalesce(excluded.last_applied_revision, s.last_applied_revision),
             last_attempted_revision = coalesce(excluded.last_attempted_revision, s.last_attempted_revision)${
               failureColumns
                 ? `,
             failure_steps_hash = excluded.failure_steps_hash, failure_count = excluded.failure_count,
             failure_at = excluded.failure_at`
                 : ''
             }`;
      await db.transaction(async (c) => {
        for (const [rows, failureColumns] of [[setting, true], [keeping, false]] as const) {
          if (rows.length === 0) continue;
          const v = columns(rows, ['text', 'text', 'text', 'text', 'text', 'bigint', 'text']);
          await c.run(upsert(failureColumns, v.sql), v.values);
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
