// Devices: enrollment, device keys (and credentials from before keys), soft deletion, liveness.
import { timingSafeEqual } from 'node:crypto';
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInputRecord, DeviceListItem, DeviceRecord, EnrollDeviceInput, Store } from './store.ts';
import { StoreError } from './store.ts';
import { idList, iso, limitOf, setIf, type SqliteContext } from './sqlite-util.ts';

type DevicesPart = Pick<
  Store,
  | 'enrollDevice'
  | 'setCredential'
  | 'findDeviceByCredential'
  | 'findDeviceKey'
  | 'findDeviceKeys'
  | 'registerDeviceKey'
  | 'getDevice'
  | 'getDevicesMany'
  | 'listDevices'
  | 'listDeviceSummaries'
  | 'listDeviceInputs'
  | 'countDevices'
  | 'deleteDevice'
  | 'touchDevices'
>;

export interface DeviceRow {
  id: string;
  machine_id: string | null;
  name: string;
  labels: string;
  facts: string;
  /** 1 when the device can authenticate (a public key, or a credential from before keys). */
  has_credential: number;
  enrolled_at: string | null;
  last_seen_at: string | null;
  last_report_at: string | null;
  agent_version: string | null;
  reported_revision: string | null;
  deleted_at: string | null;
  approval: string | null;
  approval_claim: string | null;
}

export const DEVICE_COLUMNS =
  'id, machine_id, name, labels, facts, (credential_hash IS NOT NULL OR public_key IS NOT NULL) AS has_credential, enrolled_at, last_seen_at, ' +
  'last_report_at, agent_version, reported_revision, deleted_at, approval, approval_claim';

export function sqliteDevices({ db, now }: SqliteContext): DevicesPart {
  const findDeviceKeys = async (ids: readonly string[]): Promise<Map<string, { device: DeviceRecord; publicKey: string }>> => {
    const found = new Map<string, { device: DeviceRecord; publicKey: string }>();
    if (ids.length === 0) return found;
    // Ahead of queued bulk work: handshakes wait on it (a reconnect storm queues device passes).
    const rows = await db.readFirst((c) =>
      c.all<DeviceRow & { public_key: string }>(
        `SELECT ${DEVICE_COLUMNS}, public_key FROM devices
         WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL AND public_key IS NOT NULL`,
        [idList(ids)],
      ),
    );
    for (const row of rows) found.set(row.id, { device: toDevice(row), publicKey: row.public_key });
    return found;
  };

  return {
    async enrollDevice(input: EnrollDeviceInput) {
      const at = iso(input.now, 'now');
      const name = input.name ?? input.facts.hostname ?? input.id;
      return db.transaction(async (c) => {
        const matches = await c.all<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices WHERE machine_id = ? OR id = ?`,
          [input.machineId, input.id],
        );
        const byMachine = matches.find((d) => d.machine_id === input.machineId);
        const byId = matches.find((d) => d.id === input.id);
        if (byMachine && byId && byId.id !== byMachine.id) {
          throw new StoreError(
            'store.conflict',
            `machine enrolled as device ${byMachine.id} cannot enroll as ${input.id}`,
          );
        }
        // An approved enrollment (a token bound to the device) takes over a pending claim of it.
        const takeover = byId !== undefined && byId.approval === 'pending' && input.pending === undefined;
        if (!byMachine && byId && byId.machine_id !== null && !takeover) {
          throw new StoreError('store.conflict', `device id ${input.id} belongs to another machine`);
        }
        if (takeover && byMachine && byMachine.id !== byId.id) {
          throw new StoreError('store.conflict', `machine enrolled as device ${byMachine.id} cannot enroll as ${input.id}`);
        }
        const id = byMachine?.id ?? byId?.id;
        const values = [
          input.machineId,
          name,
          JSON.stringify(input.labels),
          JSON.stringify(input.facts),
          input.publicKey ?? null,
          input.credentialHash ?? null,
          at,
          input.pending === undefined ? null : 'pending',
          input.pending?.claim ?? null,
        ];
        if (id === undefined) {
          return mustReturn(
            await c.get<DeviceRow>(
              `INSERT INTO devices (machine_id, name, labels, facts, public_key, credential_hash, enrolled_at, approval, approval_claim, id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${DEVICE_COLUMNS}`,
              [...values, input.id],
            ),
          );
        }
        // Re-binding: the machine gets a new key (or credential) and comes back if it was deleted; its
        // observed set and inventory stay, because they describe the same machine.
        return mustReturn(
          await c.get<DeviceRow>(
            `UPDATE devices SET machine_id = ?, name = ?, labels = ?, facts = ?, public_key = ?, credential_hash = ?,
               enrolled_at = ?, approval = ?, approval_claim = ?, deleted_at = NULL
             WHERE id = ? RETURNING ${DEVICE_COLUMNS}`,
            [...values, id],
          ),
        );
      });
    },

    async setCredential(id, credentialHash) {
      const { changes } = await db.transaction((c) =>
        c.run('UPDATE devices SET credential_hash = ? WHERE id = ? AND deleted_at IS NULL', [
          credentialHash,
          id,
        ]),
      );
      if (changes === 0) throw new StoreError('store.not-found', `no device ${id}`);
    },

    async findDeviceByCredential(id, credentialHash) {
      const row = await db.read((c) =>
        c.get<DeviceRow & { credential_hash: string | null }>(
          `SELECT ${DEVICE_COLUMNS}, credential_hash FROM devices
           WHERE id = ? AND deleted_at IS NULL AND credential_hash IS NOT NULL`,
          [id],
        ),
      );
      if (!row || row.credential_hash === null || !sameHash(row.credential_hash, credentialHash)) {
        return undefined;
      }
      return toDevice(row);
    },

    async findDeviceKey(id) {
      return (await findDeviceKeys([id])).get(id);
    },

    findDeviceKeys,

    async registerDeviceKey(id, credentialHash, publicKey) {
      return db.transaction(async (c) => {
        const row = await c.get<DeviceRow & { credential_hash: string | null }>(
          `SELECT ${DEVICE_COLUMNS}, credential_hash FROM devices
           WHERE id = ? AND deleted_at IS NULL AND credential_hash IS NOT NULL AND public_key IS NULL`,
          [id],
        );
        if (!row || row.credential_hash === null || !sameHash(row.credential_hash, credentialHash)) return undefined;
        return mustReturn(
          await c.get<DeviceRow>(
            `UPDATE devices SET public_key = ?, credential_hash = NULL WHERE id = ? RETURNING ${DEVICE_COLUMNS}`,
            [publicKey, id],
          ),
        );
      });
    },

    async getDevice(id) {
      const row = await db.read((c) =>
        c.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [id]),
      );
      return row && toDevice(row);
    },

    async getDevicesMany(ids) {
      const rows = await db.read((c) =>
        c.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id IN (SELECT value FROM json_each(?))`, [idList(ids)]),
      );
      return new Map(rows.map((row) => [row.id, toDevice(row)]));
    },

    async listDevices({ limit, offset = 0 }) {
      pageOf(limit, offset);
      const rows = await db.read((c) =>
        c.all<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices WHERE deleted_at IS NULL ORDER BY id LIMIT ? OFFSET ?`,
          [limit, offset],
        ),
      );
      return rows.map(toDevice);
    },

    async listDeviceInputs(factKeys) {
      for (const key of factKeys) {
        if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new StoreError('store.invalid', `fact key ${JSON.stringify(key)}: letters, digits, _ and - only`);
      }
      const keys = [...new Set(factKeys)];
      const facts = keys.length === 0 ? `'{}'` : `json_object(${keys.map(() => '?, facts -> ?').join(', ')})`;
      const rows = await db.read((c) =>
        c.all<{ id: string; labels: string; facts: string }>(
          `SELECT id, labels, ${facts} AS facts FROM devices WHERE deleted_at IS NULL AND approval IS NULL ORDER BY id`,
          keys.flatMap((key) => [key, `$."${key}"`]),
        ),
      );
      return rows.map((row): DeviceInputRecord => {
        const picked = JSON.parse(row.facts) as Record<string, unknown>;
        for (const key of keys) if (picked[key] === null) delete picked[key];
        return { id: row.id, labels: JSON.parse(row.labels) as DeviceInputRecord['labels'], facts: picked as Facts };
      });
    },

    async listDeviceSummaries({ limit, offset = 0 }) {
      pageOf(limit, offset);
      const columns =
        "id, machine_id, name, labels, json_extract(facts, '$.os') AS os, " +
        '(credential_hash IS NOT NULL OR public_key IS NOT NULL) AS has_credential, enrolled_at, ' +
        'last_seen_at, last_report_at, agent_version, reported_revision, deleted_at, approval, approval_claim';
      const rows = await db.read((c) =>
        c.all<Omit<DeviceRow, 'facts'> & { os: string | null }>(
          `SELECT ${columns} FROM devices WHERE deleted_at IS NULL ORDER BY id LIMIT ? OFFSET ?`,
          [limit, offset],
        ),
      );
      return rows.map(({ os, ...row }): DeviceListItem => {
        const parsed: unknown = os === null ? undefined : JSON.parse(os);
        const facts = parsed !== null && typeof parsed === 'object' ? { os: parsed as NonNullable<Facts['os']> } : {};
        return { ...toDevice({ ...row, facts: '{}' }), facts };
      });
    },

    async countDevices() {
      const row = await db.read((c) =>
        c.get<{ n: number }>('SELECT count(*) AS n FROM devices WHERE deleted_at IS NULL'),
      );
      return row?.n ?? 0;
    },

    async deleteDevice(id, at) {
      const t = at === undefined ? now() : iso(at, 'now');
      const { changes } = await db.transaction((c) =>
        c.run(
          'UPDATE devices SET deleted_at = coalesce(deleted_at, ?), credential_hash = NULL, public_key = NULL WHERE id = ?',
          [t, id],
        ),
      );
      if (changes === 0) throw new StoreError('store.not-found', `no device ${id}`);
    },

    async touchDevices(ids, at) {
      if (ids.length === 0) return;
      const t = iso(at, 'now');
      await db.transaction((c) =>
        c.run(
          `UPDATE devices SET last_seen_at = ?
           WHERE id IN (SELECT value FROM json_each(?)) AND (last_seen_at IS NULL OR last_seen_at < ?)`,
          [t, idList(ids), t],
        ),
      );
    },
  };
}

/** Constant-time comparison of two hash strings (a length difference is not secret). */
function sameHash(stored: string, presented: string): boolean {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function mustReturn(row: DeviceRow | undefined): DeviceRecord {
  if (!row) throw new StoreError('store.internal', 'a write returned no device row');
  return toDevice(row);
}

function pageOf(limit: number, offset: number): void {
  limitOf(limit);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new StoreError('store.invalid', `offset must be a non-negative integer, got ${offset}`);
  }
}

export function toDevice(row: DeviceRow): DeviceRecord {
  const device: DeviceRecord = {
    id: row.id,
    name: row.name,
    labels: JSON.parse(row.labels) as DeviceRecord['labels'],
    facts: JSON.parse(row.facts) as Facts,
    hasCredential: row.has_credential === 1,
  };
  setIf(device, 'machineId', row.machine_id);
  setIf(device, 'enrolledAt', row.enrolled_at);
  setIf(device, 'lastSeenAt', row.last_seen_at);
  setIf(device, 'lastReportAt', row.last_report_at);
  setIf(device, 'agentVersion', row.agent_version);
  setIf(device, 'reportedRevision', row.reported_revision);
  setIf(device, 'deletedAt', row.deleted_at);
  if (row.approval === 'pending') device.approval = 'pending';
  setIf(device, 'approvalClaim', row.approval_claim);
  return device;
}
