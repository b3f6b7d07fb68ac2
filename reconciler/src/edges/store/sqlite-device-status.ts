// Device status: what the loop's device passes decided, its conditions and its retry history
// (migrations/007-device-status.sql). Written in batches by the pass that decided; read whole
// when a loop starts, so a restarted process shows and retries what the first one did.
import type { DeviceStatusRecord, DeviceStatusState, Store } from './store.ts';
import { StoreError } from './store.ts';
import { chunkRows, placeholders, type SqlValue } from './sqlite-db.ts';
import { iso, setIf, type SqliteContext } from './sqlite-util.ts';

type DeviceStatusPart = Pick<Store, 'saveDeviceStatuses' | 'recordDeviceOutcomes' | 'listDeviceStatuses'>;

const STATES: readonly DeviceStatusState[] = ['in_sync', 'drifted', 'converging', 'failed', 'unknown'];

interface StatusRow {
  device_id: string;
  state: DeviceStatusState;
  reason: string;
  revision: string | null;
  pending_steps: number;
  reported_drift: number;
  last_applied_revision: string | null;
  last_attempted_revision: string | null;
  failure_steps_hash: string | null;
  failure_count: number;
  failure_at: string | null;
  updated_at: string;
}

export function sqliteDeviceStatus({ db }: SqliteContext): DeviceStatusPart {
  return {
    async saveDeviceStatuses(statuses) {
      if (statuses.length === 0) return;
      const rows = statuses.map((s): SqlValue[] => {
        if (!STATES.includes(s.state)) throw new StoreError('store.invalid', `unknown device state ${JSON.stringify(s.state)}`);
        return [s.deviceId, s.state, s.reason, s.revision ?? null, s.pendingSteps, s.reportedDrift, iso(s.updatedAt, 'updatedAt')];
      });
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
      await db.transaction(async (c) => {
        // In array order, so a later outcome of one device wins; a handful per batch of results.
        for (const o of outcomes) {
          const keep = o.failure === undefined ? 1 : 0;
          const f = o.failure ?? undefined;
          await c.run(
            `INSERT INTO device_status (device_id, state, reason, updated_at, last_applied_revision, last_attempted_revision,
               failure_steps_hash, failure_count, failure_at)
             VALUES (?, 'unknown', '', ?, ?, ?, ?, ?, ?)
             ON CONFLICT (device_id) DO UPDATE SET
               last_applied_revision = coalesce(excluded.last_applied_revision, last_applied_revision),
               last_attempted_revision = coalesce(excluded.last_attempted_revision, last_attempted_revision),
               failure_steps_hash = CASE WHEN ? THEN failure_steps_hash ELSE excluded.failure_steps_hash END,
               failure_count = CASE WHEN ? THEN failure_count ELSE excluded.failure_count END,
               failure_at = CASE WHEN ? THEN failure_at ELSE excluded.failure_at END`,
            [
              o.deviceId,
              t,
              o.succeeded ? o.revision : null,
              o.succeeded ? null : o.revision,
              f?.stepsHash ?? null,
              f?.count ?? 0,
              f === undefined ? null : iso(f.at, 'failure.at'),
              keep,
              keep,
              keep,
            ],
          );
        }
      });
    },

    async listDeviceStatuses() {
      const rows = await db.read((c) =>
        c.all<StatusRow>(
          `SELECT s.* FROM device_status s JOIN devices d ON d.id = s.device_id
           WHERE d.deleted_at IS NULL ORDER BY s.device_id`,
        ),
      );
      return rows.map(toRecord);
    },
  };
}

function toRecord(row: StatusRow): DeviceStatusRecord {
  const record: DeviceStatusRecord = {
    deviceId: row.device_id,
    state: row.state,
    reason: row.reason,
    pendingSteps: row.pending_steps,
    reportedDrift: row.reported_drift,
    updatedAt: row.updated_at,
  };
  setIf(record, 'revision', row.revision);
  setIf(record, 'lastAppliedRevision', row.last_applied_revision);
  setIf(record, 'lastAttemptedRevision', row.last_attempted_revision);
  if (row.failure_steps_hash !== null && row.failure_count > 0 && row.failure_at !== null) {
    record.failure = { stepsHash: row.failure_steps_hash, count: row.failure_count, at: row.failure_at };
  }
  return record;
}
