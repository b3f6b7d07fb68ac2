// Inventory: what DeployX applied on each device, the only source of prune deletions.
import type { InventoryEntry, InventoryUpsert } from './store.ts';
import { chunkRows, placeholders } from './sqlite-db.ts';
import { idList, type SqliteContext } from './sqlite-util.ts';
import { INVENTORY_COLUMNS as COLUMNS, toInventoryEntry as toEntry, type InventoryRow } from './store-rows.ts';
import { inventoryChanges } from './store-rules.ts';
import type { InventoryPart } from './store-parts.ts';

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
      const { rows, deletes } = inventoryChanges(changes);
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
