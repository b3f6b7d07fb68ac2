// Per-device job sequences (migration 010): each dispatch of a signed job takes the next number.
import { StoreError } from './store.ts';
import { idList, type SqliteContext } from './sqlite-util.ts';
import type { JobSequencesPart } from './store-parts.ts';

export function sqliteJobSequences({ db }: SqliteContext): JobSequencesPart {
  return {
    async nextJobSequences(deviceIds) {
      if (deviceIds.length === 0) return [];
      // One upsert for the whole batch (one statement per device cost 0.3 s at 10,000). A device
      // named twice conflicts with its own first row and is counted up again; RETURNING's order is
      // SQLite's, so each device's values are handed out ascending in call order.
      const rows = await db.transaction((c) =>
        c.all<{ device_id: string; last_sequence: number }>(
          `INSERT INTO job_sequences (device_id, last_sequence)
           SELECT value, 1 FROM json_each(?) WHERE true
           ON CONFLICT (device_id) DO UPDATE SET last_sequence = last_sequence + 1
           RETURNING device_id, last_sequence`,
          [idList(deviceIds)],
        ),
      );
      const byDevice = new Map<string, number[]>();
      for (const row of rows) {
        const list = byDevice.get(row.device_id);
        if (list) list.push(row.last_sequence);
        else byDevice.set(row.device_id, [row.last_sequence]);
      }
      for (const list of byDevice.values()) list.sort((a, b) => a - b);
      return deviceIds.map((id) => {
        const next = byDevice.get(id)?.shift();
        if (next === undefined) throw new StoreError('store.internal', `no job sequence returned for device ${id}`);
        return next;
      });
    },

    async raiseJobSequence(deviceId, atLeast) {
      if (!Number.isSafeInteger(atLeast) || atLeast < 0) return;
      await db.transaction((c) =>
        c.run(
          `INSERT INTO job_sequences (device_id, last_sequence) VALUES (?, ?)
           ON CONFLICT (device_id) DO UPDATE SET last_sequence = MAX(last_sequence, excluded.last_sequence)`,
          [deviceId, atLeast],
        ),
      );
    },
  };
}
