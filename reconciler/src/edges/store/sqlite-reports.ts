// Agent reports and the latest observed set per device: the hot path.
//
// A burst of thousands of reports is one transaction of a few multi-row statements (one row per
// statement runs ~20k rows/s, 500-row statements ~300k rows/s). A device's observed set is one
// row (a JSON array sorted by key); an unchanged set — the steady state — is compared by SQLite
// and not rewritten.
//
// Order: reports and job results carry the agent's observation stamp (epoch, seq; ObservationOrder
// in schemas/protocol.ts), and `devices.observed_epoch/observed_seq` hold the stamp of the observed
// set and reported revision stored. An observation is applied only when it is newer (`newerSql`,
// the rule of core/observation-order.ts), decided inside the UPDATE that writes the stamp, so a
// report observed while a job ran never replaces that job's result stored before it. Facts, agent
// version and times are refreshed whatever the order.
import type { ObservedSnapshot, ReportInput, SaveReportsResult } from './store.ts';
import { chunkRows, placeholders, type Conn, type SqlValue } from './sqlite-db.ts';
import { idList, type SqliteContext } from './sqlite-util.ts';
import { toObservedSnapshot, type ObservedRow } from './store-rows.ts';
import {
  acceptReports,
  freshReports,
  latestReports,
  mergedSets,
  observedMerges,
  savedReports,
  type ObservedDelta,
  type StoredObserved,
} from './store-rules.ts';
import type { ReportsPart } from './store-parts.ts';

/** isNewerObservation in SQL, for an UPDATE of `devices` whose new stamp is (epoch, seq). */
function newerSql(epoch: string, seq: string): string {
  return `(${seq} IS NULL OR devices.observed_seq IS NULL OR devices.observed_epoch IS NOT ${epoch} OR ${seq} > devices.observed_seq)`;
}

export function sqliteReports({ db }: SqliteContext): ReportsPart {
  return {
    async saveReports(reports: ReportInput[]): Promise<SaveReportsResult> {
      const { latest, skipped } = latestReports(reports);
      if (latest.size === 0) return { saved: 0, skipped: [...skipped], observedChanged: [], stale: [] };

      return db.transaction(async (c) => {
        const current = await c.all<{ id: string; last_report_at: string | null }>(
          `SELECT id, last_report_at FROM devices
           WHERE deleted_at IS NULL AND id IN (SELECT value FROM json_each(?))`,
          [idList([...latest.keys()])],
        );
        const lastReportAt = new Map(current.map((d) => [d.id, d.last_report_at]));
        const accepted = acceptReports(latest, lastReportAt, skipped);
        // One write per chunk: facts, agent version and times always; the stamp and revision only
        // where this observation is newer than the stored one (every SET reads the row as it was).
        // RETURNING gives the stamp now stored: the device's report was newer when it is its own.
        const stored: Array<{ id: string; observed_epoch: string | null; observed_seq: number | null }> = [];
        const newer = newerSql('v.column5', 'v.column6');
        for (const chunk of chunkRows(accepted, 7)) {
          const params: SqlValue[] = [];
          for (const p of chunk) params.push(p.deviceId, p.facts, p.agentVersion, p.receivedAt, p.epoch, p.seq, p.revision);
          const rows = await c.all<{ id: string; observed_epoch: string | null; observed_seq: number | null }>(
            `UPDATE devices SET facts = v.column2, agent_version = v.column3, last_report_at = v.column4,
               last_seen_at = max(coalesce(last_seen_at, ''), v.column4),
               observed_epoch = CASE WHEN ${newer} THEN v.column5 ELSE observed_epoch END,
               observed_seq = CASE WHEN ${newer} THEN v.column6 ELSE observed_seq END,
               reported_revision = CASE WHEN ${newer} THEN v.column7 ELSE reported_revision END
             FROM (VALUES ${placeholders(chunk.length, 7)}) AS v
             WHERE devices.id = v.column1
             RETURNING devices.id AS id, devices.observed_epoch AS observed_epoch, devices.observed_seq AS observed_seq`,
            params,
          );
          stored.push(...rows);
        }
        const fresh = freshReports(accepted, stored);
        const written = await writeObservedSets(
          c,
          accepted.filter((p) => fresh.has(p.deviceId)).map((p) => [p.deviceId, p.observed]),
        );
        return savedReports(accepted, fresh, written, lastReportAt, skipped);
      });
    },

    async getObserved(deviceId) {
      const many = await readObserved(db, [deviceId]);
      return many.get(deviceId);
    },

    getObservedMany: (ids) => readObserved(db, ids),
  };
}

/**
 * Merges job results' observed resources into devices' observed sets by key (observed after the
 * job ran, they are fresher than the last report — unless a report observed later is stored
 * already: a delta not newer than the device's stamp is dropped). Deltas of one device are taken
 * in the given order. Devices are live: the caller holds their job rows.
 */
export async function mergeObserved(c: Conn, byDevice: ReadonlyMap<string, readonly ObservedDelta[]>): Promise<void> {
  if (byDevice.size === 0) return;
  const rows = await c.all<StoredObserved>(
    `SELECT d.id, d.observed_epoch, d.observed_seq, o.resources
     FROM devices d LEFT JOIN observed_sets o ON o.device_id = d.id
     WHERE d.id IN (SELECT value FROM json_each(?))`,
    [idList([...byDevice.keys()])],
  );
  const stored = new Map(rows.map((r) => [r.id, r]));
  const candidates = observedMerges(byDevice, stored);
  // The same rule in SQL, in the write of the stamp: only the devices it moved get their set merged.
  const moved = new Set<string>();
  for (const chunk of chunkRows(candidates, 3)) {
    const params: SqlValue[] = [];
    for (const d of chunk) params.push(d.deviceId, d.order?.epoch ?? null, d.order?.seq ?? null);
    const updated = await c.all<{ id: string }>(
      `UPDATE devices SET observed_epoch = v.column2, observed_seq = v.column3
       FROM (VALUES ${placeholders(chunk.length, 3)}) AS v
       WHERE devices.id = v.column1 AND ${newerSql('v.column2', 'v.column3')}
       RETURNING devices.id AS id`,
      params,
    );
    for (const row of updated) moved.add(row.id);
  }
  const merged = mergedSets(candidates, moved, stored);
  await writeObservedSets(c, merged);
}

/**
 * Upserts (device id, JSON set) rows; a row whose JSON is unchanged is left untouched. Returns the
 * devices whose row was inserted or changed.
 */
async function writeObservedSets(c: Conn, sets: ReadonlyArray<[string, string]>): Promise<string[]> {
  const written: string[] = [];
  for (const chunk of chunkRows(sets, 2)) {
    const rows = await c.all<{ device_id: string }>(
      `INSERT INTO observed_sets (device_id, resources) VALUES ${placeholders(chunk.length, 2)}
       ON CONFLICT (device_id) DO UPDATE SET resources = excluded.resources
       WHERE observed_sets.resources IS NOT excluded.resources
       RETURNING device_id`,
      chunk.flat(),
    );
    for (const row of rows) written.push(row.device_id);
  }
  return written;
}

async function readObserved(db: SqliteContext['db'], ids: readonly string[]): Promise<Map<string, ObservedSnapshot>> {
  const snapshots = new Map<string, ObservedSnapshot>();
  if (ids.length === 0) return snapshots;
  const rows = await db.read((c) =>
    c.all<ObservedRow>(
      `SELECT d.id, d.last_report_at, o.resources
       FROM devices d LEFT JOIN observed_sets o ON o.device_id = d.id
       WHERE d.id IN (SELECT value FROM json_each(?))`,
      [idList(ids)],
    ),
  );
  for (const row of rows) snapshots.set(row.id, toObservedSnapshot(row));
  return snapshots;
}
