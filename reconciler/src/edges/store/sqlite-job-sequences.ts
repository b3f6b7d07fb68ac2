// Per-device job sequences (migration 010): each dispatch of a signed job takes the next number.
import type { Store } from './store.ts';
import type { SqliteContext } from './sqlite-util.ts';

type JobSequencesPart = Pick<Store, 'nextJobSequences' | 'raiseJobSequence'>;

export function sqliteJobSequences({ db }: SqliteContext): JobSequencesPart {
  return {
    async nextJobSequences(deviceIds) {
      if (deviceIds.length === 0) return [];
      return db.transaction(async (c) => {
        const out: number[] = [];
        for (const id of deviceIds) {
          const row = await c.get<{ last_sequence: number }>(
            `INSERT INTO job_sequences (device_id, last_sequence) VALUES (?, 1)
             ON CONFLICT (device_id) DO UPDATE SET last_sequence = last_sequence + 1
             RETURNING last_sequence`,
            [id],
          );
          out.push(row!.last_sequence);
        }
        return out;
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
