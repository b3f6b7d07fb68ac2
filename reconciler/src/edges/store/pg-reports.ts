// Agent reports and the latest observed set per device (PostgreSQL): the hot path. See
// sqlite-reports.ts for the order of observations and what a burst writes.
//
// A burst is one transaction of a few statements whatever its size: each column travels as one
// array parameter (`unnest`). SQLite's single writer made "read the stored report time, then
// write" safe; here the devices' rows are locked first (`FOR UPDATE`, in id order so two bursts
// cannot deadlock), so a report from another replica waits and then sees this one's time and
// stamp. The newer-observation rule is still decided inside the UPDATE that writes the stamp.
import type { ObservedSnapshot, ReportInput, SaveReportsResult } from './store.ts';
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
import type { Conn, Db } from './pg-db.ts';
import { columns, named, type PgContext } from './pg-util.ts';
import type { ReportsPart } from './store-parts.ts';

/** isNewerObservation in SQL, for an UPDATE of `devices` whose new stamp is (epoch, seq). */
function newerSql(epoch: string, seq: string): string {
  return `(${seq} IS NULL OR devices.observed_seq IS NULL OR devices.observed_epoch IS DISTINCT FROM ${epoch} OR ${seq} > devices.observed_seq)`;
}

export function pgReports({ db }: PgContext): ReportsPart {
  return {
    async saveReports(reports: ReportInput[]): Promise<SaveReportsResult> {
      const { latest, skipped } = latestReports(reports);
      if (latest.size === 0) return { saved: 0, skipped: [...skipped], observedChanged: [], stale: [] };

      return db.transaction(async (c) => {
        const current = await c.all<{ id: string; last_report_at: string | null }>(
          `SELECT id, last_report_at FROM devices
           WHERE deleted_at IS NULL AND id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
          [[...latest.keys()]],
        );
        const lastReportAt = new Map(current.map((d) => [d.id, d.last_report_at]));
        const accepted = acceptReports(latest, lastReportAt, skipped);
        // Facts, agent version and times always; the stamp and revision only where this
        // observation is newer than the stored one (every SET reads the row as it was).
        // RETURNING gives the stamp now stored: the device's report was newer when it is its own.
        const v = columns(
          accepted.map((p) => [p.deviceId, p.facts, p.agentVersion, p.receivedAt, p.epoch, p.seq, p.revision]),
          ['text', 'text', 'text', 'text', 'text', 'bigint', 'text'],
        );
        const newer = newerSql('v.epoch', 'v.seq');
        const stored = await c.all<{ id: string; observed_epoch: string | null; observed_seq: number | null }>(
          `UPDATE devices SET facts = v.facts, agent_version = v.agent_version, last_report_at = v.received_at,
             last_seen_at = GREATEST(coalesce(last_seen_at, ''), v.received_at),
             observed_epoch = CASE WHEN ${newer} THEN v.epoch ELSE observed_epoch END,
             observed_seq = CASE WHEN ${newer} THEN v.seq ELSE observed_seq END,
             reported_revision = CASE WHEN ${newer} THEN v.revision ELSE reported_revision END
           FROM ${v.sql} AS v (id, facts, agent_version, received_at, epoch, seq, revision)
           WHERE devices.id = v.id
           RETURNING devices.id AS id, devices.observed_epoch AS observed_epoch, devices.observed_seq AS observed_seq`,
          v.values,
        );
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
 * Merges job results' observed resources into devices' observed sets by key (mergeObserved in
 * sqlite-reports.ts says when). The devices' rows are locked for the rest of the transaction, so
 * the set read here is the one replaced.
 */
export async function mergeObserved(c: Conn, byDevice: ReadonlyMap<string, readonly ObservedDelta[]>): Promise<void> {
  if (byDevice.size === 0) return;
  const rows = await c.all<StoredObserved>(
    `SELECT d.id, d.observed_epoch, d.observed_seq, o.resources
     FROM devices d LEFT JOIN observed_sets o ON o.device_id = d.id
     WHERE d.id = ANY($1::text[]) ORDER BY d.id FOR UPDATE OF d`,
    [[...byDevice.keys()]],
  );
  const stored = new Map(rows.map((r) => [r.id, r]));
  const candidates = observedMerges(byDevice, stored);
  if (candidates.length === 0) return;
  // The same rule in SQL, in the write of the stamp: only the devices it moved get their set merged.
  const v = columns(
    candidates.map((d) => [d.deviceId, d.order?.epoch ?? null, d.order?.seq ?? null]),
    ['text', 'text', 'bigint'],
  );
  const updated = await c.all<{ id: string }>(
    `UPDATE devices SET observed_epoch = v.epoch, observed_seq = v.seq
     FROM ${v.sql} AS v (id, epoch, seq)
     WHERE devices.id = v.id AND ${newerSql('v.epoch', 'v.seq')}
     RETURNING devices.id AS id`,
    v.values,
  );
  await writeObservedSets(c, mergedSets(candidates, new Set(updated.map((row) => row.id)), stored));
}

/**
 * Upserts (device id, JSON set) rows; a row whose JSON is unchanged is left untouched. Returns the
 * devices whose row was inserted or changed.
 */
async function writeObservedSets(c: Conn, sets: ReadonlyArray<[string, string]>): Promise<string[]> {
  if (sets.length === 0) return [];
  const v = columns(sets, ['text', 'text']);
  const rows = await c.all<{ device_id: string }>(
    `INSERT INTO observed_sets (device_id, resources) SELECT * FROM ${v.sql}
     ON CONFLICT (device_id) DO UPDATE SET resources = excluded.resources
     WHERE observed_sets.resources IS DISTINCT FROM excluded.resources
     RETURNING device_id`,
    v.values,
  );
  return rows.map((row) => row.device_id);
}

async function readObserved(db: Db, ids: readonly string[]): Promise<Map<string, ObservedSnapshot>> {
  const snapshots = new Map<string, ObservedSnapshot>();
  if (ids.length === 0) return snapshots;
  const rows = await db.read((c) =>
    c.all<ObservedRow>(
      `SELECT d.id, d.last_report_at, o.resources
       FROM devices d LEFT JOIN observed_sets o ON o.device_id = d.id
       WHERE d.id = ANY($1::text[])`,
      [named(ids)],
    ),
  );
  for (const row of rows) snapshots.set(row.id, toObservedSnapshot(row));
  return snapshots;
}
