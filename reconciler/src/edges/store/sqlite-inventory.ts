// Inventory: what DeployX applied on each device, the only source of prune deletions.
import type { DesiredResource } from '../../core/model.ts';
import type { InventoryEntry, InventoryUpsert, Store } from './store.ts';
import { StoreError } from './store.ts';
import { chunkRows, placeholders, type SqlValue } from './sqlite-db.ts';
import { idList, iso, type SqliteContext } from './sqlite-util.ts';

type InventoryPart = Pick<Store, 'getInventory' | 'applyInventory' | 'getInventoryMany' | 'applyInventoryMany'>;

interface InventoryRow {
  device_id: string;
  key: string;
  fingerprint: string;
  resource: string;
  revision: string;
  applied_at: string;
}

const COLUMNS = 'device_id, key, fingerprint, resource, revision, applied_at';

export function sqliteInventory({ db }: SqliteContext): InventoryPart {
  async function readMany(ids: readonly string[]): Promise<Map<string, InventoryEntry[]>> {
    const entries = new Map<string, InventoryEntry[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return entries;
    const rows = await db.read((c) =>
      c.all<InventoryRow>(
        `SELECT ${COLUMNS} FROM inventory WHERE device_id IN (SELECT value FROM json_each(?))
         ORDER BY device_id, key`,
        [idList(ids)],
      ),
    );
    for (const row of rows) entries.get(row.device_id)?.push(toEntry(row));
    return entries;
  }

  return {
    async getInventory(deviceId) {
      return (await readMany([deviceId])).get(deviceId) ?? [];
    },

    getInventoryMany: readMany,

    applyInventory: (deviceId, upserts: InventoryUpsert[], deletes: string[]) => applyMany([{ deviceId, upserts, deletes }]),
    applyInventoryMany: (changes) => applyMany(changes),
  };

  async function applyMany(changes: Array<{ deviceId: string; upserts: InventoryUpsert[]; deletes: string[] }>): Promise<void> {
      const rows: SqlValue[][] = [];
      const deletes: Array<[string, string]> = [];
      for (const { deviceId, upserts, deletes: keys } of changes) {
        const upserted = new Set(upserts.map((u) => u.key));
        const clash = keys.find((k) => upserted.has(k));
        if (clash !== undefined) {
          throw new StoreError('store.invalid', `inventory key ${clash} is both upserted and deleted`);
        }
        for (const u of upserts) {
          rows.push([deviceId, u.key, u.fingerprint, JSON.stringify(u.resource), u.revision, iso(u.appliedAt, 'appliedAt')]);
        }
        for (const key of keys) deletes.push([deviceId, key]);
      }
      if (rows.length === 0 && deletes.length === 0) return;
      await db.transaction(async (c) => {
        if (deletes.length > 0) {
          await c.run(
            `DELETE FROM inventory WHERE (device_id, key) IN
               (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
            [JSON.stringify(deletes)],
          );
        }
        for (const chunk of chunkRows(rows, 6)) {
          await c.run(
            `INSERT OR REPLACE INTO inventory (${COLUMNS}) VALUES ${placeholders(chunk.length, 6)}`,
            chunk.flat(),
          );
        }
      });
  }
}

function toEntry(row: InventoryRow): InventoryEntry {
  return {
    deviceId: row.device_id,
    key: row.key,
    fingerprint: row.fingerprint,
    resource: JSON.parse(row.resource) as DesiredResource,
    revision: row.revision,
    appliedAt: row.applied_at,
  };
}
