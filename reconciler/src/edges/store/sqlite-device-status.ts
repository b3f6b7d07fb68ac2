// Device status: what the loop's device passes decided, its conditions and its retry history
// (migrations/007-device-status.sql). Written in batches by the pass that decided; read whole
// when a loop starts, so a restarted process shows and retries what the first one did.
import type { DeviceStatusRecord, DeviceStatusState, FailureHistory, Store } from './store.ts';
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
      // One row per device, later outcomes winning (a batch of results rarely holds two of one
      // device); those that set or clear the retry history and those that keep it (rollout jobs)
      // are two multi-row upserts.
      const merged = new Map<string, { applied: string | null; attempted: string | null; failure: FailureHistory | null | undefined }>();
      for (const o of outcomes) {
        const row = merged.get(o.deviceId) ?? { applied: null, attempted: null, failure: undefined };
        if (o.succeeded) row.applied = o.revision;
        else row.attempted = o.revision;
        if (o.failure !== undefined) row.failure = o.failure;
        merged.set(o.deviceId, row);
      }
      const setting: SqlValue[][] = [];
      const keeping: SqlValue[][] = [];
      for (const [deviceId, row] of merged) {
        const f = row.failure;
        const values: SqlValue[] = [deviceId, t, row.applied, row.attempted, f?.stepsHash ?? null, f?.count ?? 0, f ? iso(f.at, 'failure.at') : null];
        (f === undefined ? keeping : setting).push(values);
      }
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
