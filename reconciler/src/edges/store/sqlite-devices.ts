// Devices: enrollment, device keys (and credentials from before keys), soft deletion, liveness.
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInputRecord, DeviceRecord, EnrollDeviceInput } from './store.ts';
import { StoreError } from './store.ts';
import { idList, iso, type SqliteContext } from './sqlite-util.ts';
import { pageOf } from './store-values.ts';
import { DEVICE_COLUMNS, DEVICE_COLUMNS_NO_FACTS, toDevice, toDeviceSummary, type DeviceRow } from './store-rows.ts';
import { ENROLL_SET, enrollmentTarget, enrollValues, factKeysOf, sameHash } from './store-rules.ts';
import type { DevicesPart } from './store-parts.ts';

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
      const values = enrollValues(input);
      return db.transaction(async (c) => {
        const matches = await c.all<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices WHERE machine_id = ? OR id = ?`,
          [input.machineId, input.id],
        );
        const id = enrollmentTarget(matches, input);
        if (id === undefined) {
          return mustReturn(
            await c.get<DeviceRow>(
              `INSERT INTO devices (${ENROLL_SET.join(', ')}, id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${DEVICE_COLUMNS}`,
              [...values, input.id],
            ),
          );
        }
        // Re-binding: the machine gets a new key (or credential) and comes back if it was deleted; its
        // observed set and inventory stay, because they describe the same machine.
        return mustReturn(
          await c.get<DeviceRow>(
            `UPDATE devices SET ${ENROLL_SET.map((column) => `${column} = ?`).join(', ')}, deleted_at = NULL
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
      const keys = factKeysOf(factKeys);
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
      const rows = await db.read((c) =>
        c.all<Omit<DeviceRow, 'facts'> & { os: string | null }>(
          `SELECT ${DEVICE_COLUMNS_NO_FACTS}, json_extract(facts, '$.os') AS os FROM devices
           WHERE deleted_at IS NULL ORDER BY id LIMIT ? OFFSET ?`,
          [limit, offset],
        ),
      );
      return rows.map(toDeviceSummary);
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

function mustReturn(row: DeviceRow | undefined): DeviceRecord {
  if (!row) throw new StoreError('store.internal', 'a write returned no device row');
  return toDevice(row);
}
