// Inventory (PostgreSQL): what DeployX applied on each device, the only source of prune deletions.
// See sqlite-inventory.ts.
import type { InventoryEntry, InventoryUpsert } from './store.ts';
import { lastByKey } from './store-values.ts';
import { INVENTORY_COLUMNS as COLUMNS, toInventoryEntry as toEntry, type InventoryRow } from './store-rows.ts';
import { inventoryChanges } from './store-rules.ts';
import { columns, named, type PgContext } from './pg-util.ts';
import type { InventoryPart } from './store-parts.ts';

export function pgInventory({ db }: PgContext): InventoryPart {
  async function readMany(ids: readonly string[]): Promise<Map<string, InventoryEntry[]>> {
    const entries = new Map<string, InventoryEntry[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return entries;
    const rows = await db.read((c) =>
      c.all<InventoryRow>(`SELECT ${COLUMNS} FROM inventory WHERE device_id = ANY($1::text[]) ORDER BY device_id, key`, [named(ids)]),
    );
    for (const row of rows) entries.get(row.device_id)?.push(toEntry(row));
    return entries;
  }

  async function applyMany(changes: Array<{ deviceId: string; upserts: InventoryUpsert[]; deletes: string[] }>): Promise<void> {
    const { rows, deletes } = inventoryChanges(changes);
    if (rows.length === 0 && deletes.length === 0) return;
    // One upsert may name a (device, key) once: a later row of the batch replaces an earlier one,
    // as INSERT OR REPLACE does on SQLite.
    const upserts = columns(
      lastByKey(rows, (row) => JSON.stringify([row[0], row[1]])),
      ['text', 'text', 'text', 'text', 'text', 'text'],
    );
    const gone = columns(deletes, ['text', 'text']);
    await db.transaction(async (c) => {
      if (deletes.length > 0) {
        await c.run(`DELETE FROM inventory USING ${gone.sql} AS gone (device_id, key) WHERE inventory.device_id = gone.device_id AND inventory.key = gone.key`, gone.values);
      }
      if (rows.length > 0) {
        await c.run(
          `INSERT INTO inventory (${COLUMNS}) SELECT * FROM ${upserts.sql}
           ON CONFLICT (device_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, resource = excluded.resource,
             revision = excluded.revision, applied_at = excluded.applied_at`,
          upserts.values,
        );
      }
    });
  }

  return {
    async getInventory(deviceId) {
      return (await readMany([deviceId])).get(deviceId) ?? [];
    },
    getInventoryMany: readMany,
    applyInventory: (deviceId, upserts, deletes) => applyMany([{ deviceId, upserts, deletes }]),
    applyInventoryMany: (changes) => applyMany(changes),
  };
}
