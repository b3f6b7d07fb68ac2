// Provisioning (PXE, PostgreSQL): booted machines, per-device state, hostname sequences, runs with
// their hashed one-time tokens, and the task timeline. See sqlite-provisioning.ts.
//
// Where SQLite's single writer made a read-then-write safe, a lock makes it so here: a hostname
// scope's counter row is locked while a device's number is looked up and handed out; a run's row
// while a task report is checked against its steps; a device's runs are superseded and started
// in a SERIALIZABLE transaction, so two install boots of one device leave one active run.
import type { MachineBootInput, NewProvisioningRun } from './store.ts';
import { StoreError } from './store.ts';
import { iso, limitOf } from './store-values.ts';
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
import { decideStep, ENROLLMENT_TOKEN_INSERT, enrollmentTokenValues, machineBootValues, runValues } from './store-rules.ts';
import type { StepStatus } from '../../core/pxe/task-progress.ts';
import { params, type PgContext } from './pg-util.ts';
import type { ProvisioningPart } from './store-parts.ts';

export function pgProvisioning({ db }: PgContext): ProvisioningPart {
  return {
    async recordMachineBoot(input: MachineBootInput) {
      const row = await db.transaction((c) =>
        c.get<MachineRow>(
          `INSERT INTO pxe_machines AS m (mac, uuid, serial, platform, buildarch, first_seen_at, last_seen_at, device_id, chosen_profile, last_decision, boots)
           VALUES (${params(10)}, 1)
           ON CONFLICT (mac) DO UPDATE SET
             uuid = coalesce(excluded.uuid, m.uuid),
             serial = coalesce(excluded.serial, m.serial),
             platform = coalesce(excluded.platform, m.platform),
             buildarch = coalesce(excluded.buildarch, m.buildarch),
             last_seen_at = GREATEST(m.last_seen_at, excluded.last_seen_at),
             boots = m.boots + 1,
             device_id = excluded.device_id,
             chosen_profile = coalesce(excluded.chosen_profile, m.chosen_profile),
             last_decision = excluded.last_decision
           RETURNING ${MACHINE_COLUMNS}`,
          machineBootValues(input),
        ),
      );
      if (!row) throw new StoreError('store.internal', 'upsert returned no row');
      return toMachine(row);
    },

    async getPxeMachine(mac) {
      const row = await db.read((c) => c.get<MachineRow>(`SELECT ${MACHINE_COLUMNS} FROM pxe_machines WHERE mac = $1`, [mac]));
      return row && toMachine(row);
    },

    async listPxeMachines({ limit, unknownOnly }) {
      const rows = await db.read((c) =>
        c.all<MachineRow>(
          `SELECT ${MACHINE_COLUMNS} FROM pxe_machines ${unknownOnly ? 'WHERE device_id IS NULL' : ''}
           ORDER BY last_seen_at DESC, mac LIMIT $1`,
          [limitOf(limit)],
        ),
      );
      return rows.map(toMachine);
    },

    async getProvisioning(deviceId) {
      const row = await db.read((c) => c.get<StateRow>(`SELECT ${STATE_COLUMNS} FROM provisioning WHERE device_id = $1`, [deviceId]));
      return row && toState(row);
    },

    async setProvisioningState(deviceId, state, at, mac) {
      const t = iso(at, 'at');
      const row = await db.transaction((c) =>
        c.get<StateRow>(
          `INSERT INTO provisioning AS p (device_id, state, mac, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, mac = coalesce(excluded.mac, p.mac), updated_at = excluded.updated_at
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
        // The scope's counter row exists (at 0) and is locked before anything is read: a second
        // allocation in the scope waits here, then finds this device's number or the next one.
        await c.run('INSERT INTO hostname_sequences (scope, last) VALUES ($1, 0) ON CONFLICT (scope) DO NOTHING', [scope]);
        const counter = await c.get<{ last: number }>('SELECT last FROM hostname_sequences WHERE scope = $1 FOR UPDATE', [scope]);
        if (!counter) throw new StoreError('store.internal', 'sequence returned no row');
        const had = await c.get<{ seq: number }>('SELECT seq FROM hostname_allocations WHERE scope = $1 AND device_id = $2', [scope, deviceId]);
        if (had) return had.seq;
        const next = counter.last + 1;
        await c.run('UPDATE hostname_sequences SET last = $2 WHERE scope = $1', [scope, next]);
        await c.run('INSERT INTO hostname_allocations (scope, device_id, seq, allocated_at) VALUES ($1, $2, $3, $4)', [scope, deviceId, next, t]);
        return next;
      });
    },

    async startProvisioningRun(run: NewProvisioningRun) {
      const createdAt = iso(run.createdAt, 'createdAt');
      const expiresAt = iso(run.expiresAt, 'expiresAt');
      const tokenValues = enrollmentTokenValues(run.enrollmentToken, createdAt);
      return db.transaction(
        async (c) => {
          const previous = await c.all<{ enrollment_token_id: string | null }>(
            `UPDATE provisioning_runs SET status = 'superseded', finished_at = $1 WHERE device_id = $2 AND status = 'active'
             RETURNING enrollment_token_id`,
            [createdAt, run.deviceId],
          );
          const revoked = previous.map((p) => p.enrollment_token_id).filter((id): id is string => id !== null);
          if (revoked.length > 0) {
            await c.run('UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = ANY($2::text[])', [createdAt, revoked]);
          }
          await c.run(`INSERT INTO enrollment_tokens (${ENROLLMENT_TOKEN_INSERT}) VALUES (${params(tokenValues.length)})`, tokenValues);
          const values = runValues(run, createdAt, expiresAt);
          const row = await c.get<RunRow>(
            `INSERT INTO provisioning_runs (id, device_id, token_hash, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at, status)
             VALUES (${params(values.length)}, 'active') RETURNING ${RUN_COLUMNS}`,
            values,
          );
          if (!row) throw new StoreError('store.internal', 'insert returned no row');
          await c.run(
            `INSERT INTO provisioning AS p (device_id, state, mac, run_id, updated_at) VALUES ($1, 'provisioning', $2, $3, $4)
             ON CONFLICT (device_id) DO UPDATE SET state = 'provisioning', mac = coalesce(excluded.mac, p.mac), run_id = excluded.run_id,
               updated_at = excluded.updated_at, provisioned_at = NULL, enrolled_at = NULL`,
            [run.deviceId, run.mac ?? null, run.id, createdAt],
          );
          return toRun(row);
        },
        { isolation: 'serializable' },
      );
    },

    async findActiveRun(tokenHash, at) {
      const t = iso(at, 'at');
      const row = await db.read((c) =>
        c.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE token_hash = $1 AND status = 'active' AND expires_at > $2`, [tokenHash, t]),
      );
      return row && toRun(row);
    },

    async listProvisioningRuns(deviceId, limit) {
      const rows = await db.read((c) =>
        c.all<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE device_id = $1 ORDER BY seq DESC LIMIT $2`, [deviceId, limitOf(limit)]),
      );
      return rows.map(toRun);
    },

    async recordProvisioningStep(input, accept) {
      const at = iso(input.at, 'at');
      return db.transaction(async (c) => {
        // The run stays locked until the step is written: two reports of one run are checked
        // against each other's steps, never both against the same history.
        const row = await c.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE id = $1 FOR UPDATE`, [input.runId]);
        const history = await c.all<{ task_index: number; status: StepStatus }>(
          'SELECT task_index, status FROM provisioning_steps WHERE run_id = $1 ORDER BY seq',
          [input.runId],
        );
        const decision = decideStep(row, history, input, at, accept);
        if ('done' in decision) return decision.done;
        await c.run(`INSERT INTO provisioning_steps (${STEP_COLUMNS}) VALUES (${params(decision.step.length)})`, decision.step);
        if (decision.finish) {
          await c.run('UPDATE provisioning_runs SET status = $1, finished_at = $2 WHERE id = $3', [decision.finish, at, decision.run.id]);
          if (decision.finish === 'succeeded') {
            await c.run(
              `UPDATE provisioning SET state = 'provisioned', provisioned_at = $1, updated_at = $1
               WHERE device_id = $2 AND run_id = $3 AND state IN ('discovered', 'provisioning')`,
              [at, decision.run.deviceId, decision.run.id],
            );
          }
        }
        return decision.recorded;
      });
    },

    async listProvisioningSteps(deviceId, limit) {
      const rows = await db.read((c) =>
        c.all<StepRow>(
          `SELECT ${STEP_COLUMNS} FROM (SELECT seq, ${STEP_COLUMNS} FROM provisioning_steps WHERE device_id = $1 ORDER BY seq DESC LIMIT $2) AS last ORDER BY seq`,
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
      const res = await db.transaction((c) =>
        c.run(
          `UPDATE provisioning SET state = 'enrolled', enrolled_at = $1, updated_at = $1
           WHERE device_id = $2 AND state IN ('provisioning', 'provisioned')`,
          [t, deviceId],
        ),
      );
      return res.changes > 0;
    },
  };
}
