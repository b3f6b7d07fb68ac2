// Devices (PostgreSQL): enrollment, device keys (and credentials from before keys), soft deletion,
// liveness. See sqlite-devices.ts.
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInputRecord, DeviceRecord, EnrollDeviceInput } from './store.ts';
import { StoreError } from './store.ts';
import { iso, pageOf } from './store-values.ts';
import { DEVICE_COLUMNS, DEVICE_COLUMNS_NO_FACTS, toDevice, toDeviceSummary, type DeviceRow } from './store-rows.ts';
import { ENROLL_SET, enrollmentTarget, enrollValues, factKeysOf, sameHash } from './store-rules.ts';
import { named, params, type PgContext } from './pg-util.ts';
import type { DevicesPart } from './store-parts.ts';

export function pgDevices({ db, now }: PgContext): DevicesPart {
  const findDeviceKeys = async (ids: readonly string[]): Promise<Map<string, { device: DeviceRecord; publicKey: string }>> => {
    const found = new Map<string, { device: DeviceRecord; publicKey: string }>();
    if (ids.length === 0) return found;
    const rows = await db.read((c) =>
      c.all<DeviceRow & { public_key: string }>(
        `SELECT ${DEVICE_COLUMNS}, public_key FROM devices
         WHERE id = ANY($1::text[]) AND deleted_at IS NULL AND public_key IS NOT NULL`,
        [named(ids)],
      ),
    );
    for (const row of rows) found.set(row.id, { device: toDevice(row), publicKey: row.public_key });
    return found;
  };

  return {
    async enrollDevice(input: EnrollDeviceInput) {
      const values = enrollValues(input);
      // SERIALIZABLE: the decision reads the devices of this machine and of this id; two replicas
      // enrolling the same machine (or claiming the same id) at once would both see neither and
      // both insert. One of them fails its serialization check and runs again, seeing the other.
      return db.transaction(
        async (c) => {
          const matches = await c.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE machine_id = $1 OR id = $2`, [
            input.machineId,
            input.id,
          ]);
          const id = enrollmentTarget(matches, input);
          if (id === undefined) {
            return mustReturn(
              await c.get<DeviceRow>(
                `INSERT INTO devices (${ENROLL_SET.join(', ')}, id) VALUES (${params(values.length + 1)}) RETURNING ${DEVICE_COLUMNS}`,
                [...values, input.id],
              ),
            );
          }
          // Re-binding: the machine gets a new key (or credential) and comes back if it was deleted;
          // its observed set and inventory stay, because they describe the same machine.
          return mustReturn(
            await c.get<DeviceRow>(
              `UPDATE devices SET ${ENROLL_SET.map((column, i) => `${column} = $${i + 1}`).join(', ')}, deleted_at = NULL
               WHERE id = $${values.length + 1} RETURNING ${DEVICE_COLUMNS}`,
              [...values, id],
            ),
          );
        },
        { isolation: 'serializable' },
      );
    },

    async setCredential(id, credentialHash) {
      const { changes } = await db.transaction((c) =>
        c.run('UPDATE devices SET credential_hash = $1 WHERE id = $2 AND deleted_at IS NULL', [credentialHash, id]),
      );
      if (changes === 0) throw new StoreError('store.not-found', `no device ${id}`);
    },

    async findDeviceByCredential(id, credentialHash) {
      const row = await db.read((c) =>
        c.get<DeviceRow & { credential_hash: string | null }>(
          `SELECT ${DEVICE_COLUMNS}, credential_hash FROM devices
           WHERE id = $1 AND deleted_at IS NULL AND credential_hash IS NOT NULL`,
          [id],
        ),
      );
      if (!row || row.credential_hash === null || !sameHash(row.credential_hash, credentialHash)) return undefined;
      return toDevice(row);
    },

    async findDeviceKey(id) {
      return (await findDeviceKeys([id])).get(id);
    },

    findDeviceKeys,

    async registerDeviceKey(id, credentialHash, publicKey) {
      return db.transaction(async (c) => {
        // The row stays locked until the key is stored: a second registration waits and then
        // finds the credential cleared.
        const row = await c.get<DeviceRow & { credential_hash: string | null }>(
          `SELECT ${DEVICE_COLUMNS}, credential_hash FROM devices
           WHERE id = $1 AND deleted_at IS NULL AND credential_hash IS NOT NULL AND public_key IS NULL
           FOR UPDATE`,
          [id],
        );
        if (!row || row.credential_hash === null || !sameHash(row.credential_hash, credentialHash)) return undefined;
        return mustReturn(
          await c.get<DeviceRow>(`UPDATE devices SET public_key = $1, credential_hash = NULL WHERE id = $2 RETURNING ${DEVICE_COLUMNS}`, [
            publicKey,
            id,
          ]),
        );
      });
    },

    async getDevice(id) {
      const row = await db.read((c) => c.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`, [id]));
      return row && toDevice(row);
    },

    async getDevicesMany(ids) {
      const rows = await db.read((c) => c.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ANY($1::text[])`, [named(ids)]));
      return new Map(rows.map((row) => [row.id, toDevice(row)]));
    },

    async listDevices({ limit, offset = 0 }) {
      pageOf(limit, offset);
      const rows = await db.read((c) =>
        c.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE deleted_at IS NULL ORDER BY id LIMIT $1 OFFSET $2`, [limit, offset]),
      );
      return rows.map(toDevice);
    },

    async listDeviceInputs(factKeys) {
      const keys = factKeysOf(factKeys);
      // One JSON object of the asked keys, as text (a missing key is null, dropped below).
      const facts = keys.length === 0 ? `'{}'` : `json_build_object(${keys.map((_, i) => `$${i + 1}::text, facts::json -> $${i + 1}::text`).join(', ')})::text`;
      const rows = await db.read((c) =>
        c.all<{ id: string; labels: string; facts: string }>(
          `SELECT id, labels, ${facts} AS facts FROM devices WHERE deleted_at IS NULL AND approval IS NULL ORDER BY id`,
          keys,
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
          `SELECT ${DEVICE_COLUMNS_NO_FACTS}, (facts::json -> 'os')::text AS os FROM devices
           WHERE deleted_at IS NULL ORDER BY id LIMIT $1 OFFSET $2`,
          [limit, offset],
        ),
      );
      return rows.map(toDeviceSummary);
    },

    async countDevices() {
      const row = await db.read((c) => c.get<{ n: number }>('SELECT count(*) AS n FROM devices WHERE deleted_at IS NULL'));
      return row?.n ?? 0;
    },

    async deleteDevice(id, at) {
      const t = at === undefined ? now() : iso(at, 'now');
      const { changes } = await db.transaction((c) =>
        c.run('UPDATE devices SET deleted_at = coalesce(deleted_at, $1), credential_hash = NULL, public_key = NULL WHERE id = $2', [t, id]),
      );
      if (changes === 0) throw new StoreError('store.not-found', `no device ${id}`);
    },

    async touchDevices(ids, at) {
      if (ids.length === 0) return;
      const t = iso(at, 'now');
      await db.transaction((c) =>
        c.run(
          `UPDATE devices SET last_seen_at = $1
           WHERE id = ANY($2::text[]) AND (last_seen_at IS NULL OR last_seen_at < $1)`,
          [t, named(ids)],
        ),
      );
    },
  };
}

function mustReturn(row: DeviceRow | undefined): DeviceRecord {
  if (!row) throw new StoreError('store.internal', 'a write returned no device row');
  return toDevice(row);
}
