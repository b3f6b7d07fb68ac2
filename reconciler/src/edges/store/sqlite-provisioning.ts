// Provisioning (PXE): booted machines, per-device state, hostname sequences, runs with their
// hashed one-time tokens, and the task timeline. See migrations/006-provisioning.sql.
import type { MachineBootInput, NewProvisioningRun } from './store.ts';
import { StoreError } from './store.ts';
import { iso, limitOf, type SqliteContext } from './sqlite-util.ts';
import type { Conn } from './sqlite-db.ts';
import {
  MACHINE_COLUMNS,
  PROVISIONING_STATE_COLUMNS as STATE_COLUMNS,
  RUN_COLUMNS,
  STEP_COLUMNS,
  toMachine,
  toProvisioningState as toState,
  toRun,
  toStep,
  type MachineRow,
  type ProvisioningStateRow as StateRow,
  type RunRow,
  type StepRow,
} from './store-rows.ts';
import { decideStep, machineBootValues, ENROLLMENT_TOKEN_INSERT, enrollmentTokenValues, runValues } from './store-rules.ts';
import type { StepStatus } from '../../core/pxe/task-progress.ts';
import type { ProvisioningPart } from './store-parts.ts';

export function sqliteProvisioning({ db }: SqliteContext): ProvisioningPart {
  return {
    async recordMachineBoot(input: MachineBootInput) {
      const row = await db.transaction((c) =>
        c.get<MachineRow>(
          `INSERT INTO pxe_machines (mac, uuid, serial, platform, buildarch, first_seen_at, last_seen_at, boots, device_id, chosen_profile, last_decision)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
           ON CONFLICT (mac) DO UPDATE SET
             uuid = coalesce(excluded.uuid, uuid),
             serial = coalesce(excluded.serial, serial),
             platform = coalesce(excluded.platform, platform),
             buildarch = coalesce(excluded.buildarch, buildarch),
             last_seen_at = max(last_seen_at, excluded.last_seen_at),
             boots = boots + 1,
             device_id = excluded.device_id,
             chosen_profile = coalesce(excluded.chosen_profile, chosen_profile),
             last_decision = excluded.last_decision
           RETURNING ${MACHINE_COLUMNS}`,
          machineBootValues(input),
        ),
      );
      if (!row) throw new StoreError('store.internal', 'upsert returned no row');
      return toMachine(row);
    },

    async getPxeMachine(mac) {
      const row = await db.read((c) => c.get<MachineRow>(`SELECT ${MACHINE_COLUMNS} FROM pxe_machines WHERE mac = ?`, [mac]));
      return row && toMachine(row);
    },

    async listPxeMachines({ limit, unknownOnly }) {
      const rows = await db.read((c) =>
        c.all<MachineRow>(
          `SELECT ${MACHINE_COLUMNS} FROM pxe_machines ${unknownOnly ? 'WHERE device_id IS NULL' : ''}
           ORDER BY last_seen_at DESC, mac LIMIT ?`,
          [limitOf(limit)],
        ),
      );
      return rows.map(toMachine);
    },

    async getProvisioning(deviceId) {
      const row = await db.read((c) => c.get<StateRow>(`SELECT ${STATE_COLUMNS} FROM provisioning WHERE device_id = ?`, [deviceId]));
      return row && toState(row);
    },

    async setProvisioningState(deviceId, state, at, mac) {
      const t = iso(at, 'at');
      const row = await db.transaction((c) =>
        c.get<StateRow>(
          `INSERT INTO provisioning (device_id, state, mac, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, mac = coalesce(excluded.mac, mac), updated_at = excluded.updated_at
           RETURNING ${STATE_COLUMNS}`,
          [deviceId, state, mac ?? null, t],
        ),
      );
      if (!row) throw new StoreError('store.internal', 'upsert returned no row');
      return toState(row);
    },

    async allocateHostnameSeq(scope, deviceId, at) {
      const t = iso(at, 'at');
      return db.transaction(async (c) => {
        const had = await c.get<{ seq: number }>('SELECT seq FROM hostname_allocations WHERE scope = ? AND device_id = ?', [scope, deviceId]);
        if (had) return had.seq;
        const next = await c.get<{ last: number }>(
          `INSERT INTO hostname_sequences (scope, last) VALUES (?, 1)
           ON CONFLICT (scope) DO UPDATE SET last = last + 1 RETURNING last`,
          [scope],
        );
        if (!next) throw new StoreError('store.internal', 'sequence returned no row');
        await c.run('INSERT INTO hostname_allocations (scope, device_id, seq, allocated_at) VALUES (?, ?, ?, ?)', [scope, deviceId, next.last, t]);
        return next.last;
      });
    },

    async startProvisioningRun(run: NewProvisioningRun) {
      const createdAt = iso(run.createdAt, 'createdAt');
      const expiresAt = iso(run.expiresAt, 'expiresAt');
      const tokenValues = enrollmentTokenValues(run.enrollmentToken, createdAt);
      return db.transaction(async (c) => {
        const previous = await c.all<{ enrollment_token_id: string | null }>(
          `UPDATE provisioning_runs SET status = 'superseded', finished_at = ? WHERE device_id = ? AND status = 'active'
           RETURNING enrollment_token_id`,
          [createdAt, run.deviceId],
        );
        for (const p of previous) {
          if (p.enrollment_token_id !== null) {
            await c.run('UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?', [createdAt, p.enrollment_token_id]);
          }
        }
        await c.run(`INSERT INTO enrollment_tokens (${ENROLLMENT_TOKEN_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tokenValues);
        const row = await c.get<RunRow>(
          `INSERT INTO provisioning_runs (id, device_id, token_hash, status, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at)
           VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${RUN_COLUMNS}`,
          runValues(run, createdAt, expiresAt),
        );
        if (!row) throw new StoreError('store.internal', 'insert returned no row');
        await c.run(
          `INSERT INTO provisioning (device_id, state, mac, run_id, updated_at) VALUES (?, 'provisioning', ?, ?, ?)
           ON CONFLICT (device_id) DO UPDATE SET state = 'provisioning', mac = coalesce(excluded.mac, mac), run_id = excluded.run_id,
             updated_at = excluded.updated_at, provisioned_at = NULL, enrolled_at = NULL`,
          [run.deviceId, run.mac ?? null, run.id, createdAt],
        );
        return toRun(row);
      });
    },

    async findActiveRun(tokenHash, at) {
      const t = iso(at, 'at');
      const row = await db.read((c) =>
        c.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE token_hash = ? AND status = 'active' AND expires_at > ?`, [tokenHash, t]),
      );
      return row && toRun(row);
    },

    async listProvisioningRuns(deviceId, limit) {
      const rows = await db.read((c) =>
        c.all<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE device_id = ? ORDER BY seq DESC LIMIT ?`, [deviceId, limitOf(limit)]),
      );
      return rows.map(toRun);
    },

    async recordProvisioningStep(input, accept) {
      const at = iso(input.at, 'at');
      return db.transaction(async (c) => {
        const row = await c.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE id = ?`, [input.runId]);
        const history = await c.all<{ task_index: number; status: StepStatus }>(
          'SELECT task_index, status FROM provisioning_steps WHERE run_id = ? ORDER BY seq',
          [input.runId],
        );
        const decision = decideStep(row, history, input, at, accept);
        if ('done' in decision) return decision.done;
        await c.run(`INSERT INTO provisioning_steps (${STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, decision.step);
        if (decision.finish) {
          await c.run('UPDATE provisioning_runs SET status = ?, finished_at = ? WHERE id = ?', [decision.finish, at, decision.run.id]);
          if (decision.finish === 'succeeded') {
            await c.run(
              `UPDATE provisioning SET state = 'provisioned', provisioned_at = ?, updated_at = ?
               WHERE device_id = ? AND run_id = ? AND state IN ('discovered', 'provisioning')`,
              [at, at, decision.run.deviceId, decision.run.id],
            );
          }
        }
        return decision.recorded;
      });
    },

    async listProvisioningSteps(deviceId, limit) {
      const rows = await db.read((c) =>
        c.all<StepRow>(
          `SELECT ${STEP_COLUMNS} FROM (SELECT seq, ${STEP_COLUMNS} FROM provisioning_steps WHERE device_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
          [deviceId, limitOf(limit)],
        ),
      );
      return rows.map(toStep);
    },

    async devicesAwaitingEnrollment() {
      const rows = await db.read((c) => c.all<{ device_id: string }>(`SELECT device_id FROM provisioning WHERE state IN ('provisioning', 'provisioned')`));
      return rows.map((r) => r.device_id);
    },

    async markEnrolled(deviceId, at) {
      const t = iso(at, 'at');
      const res = await db.transaction((c: Conn) =>
        c.run(
          `UPDATE provisioning SET state = 'enrolled', enrolled_at = ?, updated_at = ?
           WHERE device_id = ? AND state IN ('provisioning', 'provisioned')`,
          [t, t, deviceId],
        ),
      );
      return res.changes > 0;
    },
  };
}
