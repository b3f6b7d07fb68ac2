// Per-device job sequences (PostgreSQL): each dispatch of a signed job takes the next number.
// See sqlite-job-sequences.ts.
import { StoreError } from './store.ts';
import type { PgContext } from './pg-util.ts';
import type { JobSequencesPart } from './store-parts.ts';

export function pgJobSequences({ db }: PgContext): JobSequencesPart {
  return {
    async nextJobSequences(deviceIds) {
      if (deviceIds.length === 0) return [];
      // One upsert for the whole batch. PostgreSQL refuses to update one row twice in a statement,
      // so a device named n times takes n numbers at once: its counter moves by n and it gets the
      // n numbers below the new value, ascending in call order. The upsert locks each counter row
      // until commit, so concurrent callers (other replicas) never get the same number; rows are
      // taken in id order, so two batches cannot deadlock on each other's rows.
      const rows = await db.transaction((c) =>
        c.all<{ device_id: string; last_sequence: number }>(
          `INSERT INTO job_sequences AS s (device_id, last_sequence)
           SELECT id, count(*) FROM unnest($1::text[]) AS id GROUP BY id ORDER BY id
           ON CONFLICT (device_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
           RETURNING device_id, last_sequence`,
          [[...deviceIds]],
        ),
      );
      const last = new Map(rows.map((row) => [row.device_id, row.last_sequence]));
      const taken = new Map<string, number>();
      for (const id of deviceIds) taken.set(id, (taken.get(id) ?? 0) + 1);
      const given = new Map<string, number>();
      return deviceIds.map((id) => {
        const top = last.get(id);
        if (top === undefined) throw new StoreError('store.internal', `no job sequence returned for device ${id}`);
        const n = (given.get(id) ?? 0) + 1;
        given.set(id, n);
        return top - (taken.get(id) ?? 0) + n;
      });
    },

    async raiseJobSequence(deviceId, atLeast) {
      if (!Number.isSafeInteger(atLeast) || atLeast < 0) return;
      await db.transaction((c) =>
        c.run(
          `INSERT INTO job_sequences AS s (device_id, last_sequence) VALUES ($1, $2)
           ON CONFLICT (device_id) DO UPDATE SET last_sequence = GREATEST(s.last_sequence, excluded.last_sequence)`,
          [deviceId, atLeast],
        ),
      );
    },
  };
}
