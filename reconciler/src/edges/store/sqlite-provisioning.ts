// Provisioning (PXE): booted machines, per-device state, hostname sequences, runs with their
// hashed one-time tokens, and the task timeline. See migrations/006-provisioning.sql.
import type {
  MachineBootInput,
  NewProvisioningRun,
  ProvisioningRecord,
  ProvisioningRun,
  ProvisioningRunStatus,
  ProvisioningRunTask,
  ProvisioningStep,
  PxeMachine,
  Store,
} from './store.ts';
import { StoreError } from './store.ts';
import type { ProvisioningState } from '../../core/pxe/boot-decision.ts';
import type { StepStatus } from '../../core/pxe/task-progress.ts';
import { iso, isoOrNull, limitOf, setIf, type SqliteContext } from './sqlite-util.ts';
import type { Conn } from './sqlite-db.ts';

type ProvisioningPart = Pick<
  Store,
  | 'recordMachineBoot'
  | 'getPxeMachine'
  | 'listPxeMachines'
  | 'getProvisioning'
  | 'setProvisioningState'
  | 'allocateHostnameSeq'
  | 'startProvisioningRun'
  | 'findActiveRun'
  | 'listProvisioningRuns'
  | 'recordProvisioningStep'
  | 'listProvisioningSteps'
  | 'devicesAwaitingEnrollment'
  | 'markEnrolled'
>;

interface MachineRow {
  mac: string;
  uuid: string | null;
  serial: string | null;
  platform: string | null;
  buildarch: string | null;
  first_seen_at: string;
  last_seen_at: string;
  boots: number;
  device_id: string | null;
  chosen_profile: string | null;
  last_decision: string | null;
}

interface StateRow {
  device_id: string;
  state: ProvisioningState;
  mac: string | null;
  run_id: string | null;
  updated_at: string;
  provisioned_at: string | null;
  enrolled_at: string | null;
}

interface RunRow {
  id: string;
  device_id: string;
  token_hash: string;
  status: ProvisioningRunStatus;
  revision: string;
  profile: string;
  image: string;
  hostname: string;
  mac: string | null;
  tasks: string;
  enrollment_token_id: string | null;
  created_at: string;
  expires_at: string;
  finished_at: string | null;
}

interface StepRow {
  run_id: string;
  device_id: string;
  task_index: number;
  task_type: string;
  task_name: string;
  status: StepStatus;
  exit_code: number | null;
  log: string | null;
  at: string;
}

const MACHINE_COLUMNS = 'mac, uuid, serial, platform, buildarch, first_seen_at, last_seen_at, boots, device_id, chosen_profile, last_decision';
const STATE_COLUMNS = 'device_id, state, mac, run_id, updated_at, provisioned_at, enrolled_at';
const RUN_COLUMNS =
  'id, device_id, token_hash, status, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at, finished_at';
const STEP_COLUMNS = 'run_id, device_id, task_index, task_type, task_name, status, exit_code, log, at';

/** Longest log tail kept per step. */
export const MAX_STEP_LOG = 16 * 1024;

export function sqliteProvisioning({ db }: SqliteContext): ProvisioningPart {
  return {
    async recordMachineBoot(input: MachineBootInput) {
      const at = iso(input.at, 'at');
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
          [
            input.mac,
            input.uuid ?? null,
            input.serial ?? null,
            input.platform ?? null,
            input.buildarch ?? null,
            at,
            at,
            input.deviceId,
            input.chosenProfile ?? null,
            input.decision,
          ],
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
      const token = run.enrollmentToken;
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
        await c.run(
          `INSERT INTO enrollment_tokens (id, name, token_hash, created_at, expires_at, max_uses, labels, bound_device)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            token.id,
            token.name,
            token.tokenHash,
            token.createdAt === undefined ? createdAt : iso(token.createdAt, 'createdAt'),
            isoOrNull(token.expiresAt, 'expiresAt'),
            token.maxUses ?? null,
            JSON.stringify(token.labels ?? {}),
            token.boundDevice ?? null,
          ],
        );
        const row = await c.get<RunRow>(
          `INSERT INTO provisioning_runs (id, device_id, token_hash, status, revision, profile, image, hostname, mac, tasks, enrollment_token_id, created_at, expires_at)
           VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${RUN_COLUMNS}`,
          [run.id, run.deviceId, run.tokenHash, run.revision, run.profile, run.image, run.hostname, run.mac ?? null, JSON.stringify(run.tasks), token.id, createdAt, expiresAt],
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
        if (!row || row.status !== 'active' || row.expires_at <= at) return { outcome: 'inactive' as const };
        const run = toRun(row);
        const history = await c.all<{ task_index: number; status: StepStatus }>(
          'SELECT task_index, status FROM provisioning_steps WHERE run_id = ? ORDER BY seq',
          [input.runId],
        );
        const verdict = accept(
          run.tasks,
          history.map((h) => ({ index: h.task_index, status: h.status })),
          { index: input.index, status: input.status },
        );
        if (!verdict.ok) return { outcome: 'refused' as const, code: verdict.code, message: verdict.message };
        if (verdict.duplicate) return { outcome: 'duplicate' as const, run };
        const task = run.tasks[input.index]!;
        await c.run(
          `INSERT INTO provisioning_steps (run_id, device_id, task_index, task_type, task_name, status, exit_code, log, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [run.id, run.deviceId, input.index, task.type, task.name, input.status, input.exitCode ?? null, input.log === undefined ? null : input.log.slice(-MAX_STEP_LOG), at],
        );
        if (verdict.finish) {
          await c.run('UPDATE provisioning_runs SET status = ?, finished_at = ? WHERE id = ?', [verdict.finish, at, run.id]);
          if (verdict.finish === 'succeeded') {
            await c.run(
              `UPDATE provisioning SET state = 'provisioned', provisioned_at = ?, updated_at = ?
               WHERE device_id = ? AND run_id = ? AND state IN ('discovered', 'provisioning')`,
              [at, at, run.deviceId, run.id],
            );
          }
          return { outcome: 'recorded' as const, run: { ...run, status: verdict.finish, finishedAt: at } };
        }
        return { outcome: 'recorded' as const, run };
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

function toMachine(row: MachineRow): PxeMachine {
  const m: PxeMachine = { mac: row.mac, firstSeenAt: row.first_seen_at, lastSeenAt: row.last_seen_at, boots: row.boots };
  setIf(m, 'uuid', row.uuid);
  setIf(m, 'serial', row.serial);
  setIf(m, 'platform', row.platform);
  setIf(m, 'buildarch', row.buildarch);
  setIf(m, 'deviceId', row.device_id);
  setIf(m, 'chosenProfile', row.chosen_profile);
  setIf(m, 'lastDecision', row.last_decision);
  return m;
}

function toState(row: StateRow): ProvisioningRecord {
  const r: ProvisioningRecord = { deviceId: row.device_id, state: row.state, updatedAt: row.updated_at };
  setIf(r, 'mac', row.mac);
  setIf(r, 'runId', row.run_id);
  setIf(r, 'provisionedAt', row.provisioned_at);
  setIf(r, 'enrolledAt', row.enrolled_at);
  return r;
}

function toRun(row: RunRow): ProvisioningRun {
  const r: ProvisioningRun = {
    id: row.id,
    deviceId: row.device_id,
    tokenHash: row.token_hash,
    status: row.status,
    revision: row.revision,
    profile: row.profile,
    image: row.image,
    hostname: row.hostname,
    tasks: JSON.parse(row.tasks) as ProvisioningRunTask[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  setIf(r, 'mac', row.mac);
  setIf(r, 'enrollmentTokenId', row.enrollment_token_id);
  setIf(r, 'finishedAt', row.finished_at);
  return r;
}

function toStep(row: StepRow): ProvisioningStep {
  const s: ProvisioningStep = {
    runId: row.run_id,
    deviceId: row.device_id,
    index: row.task_index,
    type: row.task_type,
    name: row.task_name,
    status: row.status,
    at: row.at,
  };
  setIf(s, 'exitCode', row.exit_code);
  setIf(s, 'log', row.log);
  return s;
}
