-- 007: the loop's state in the store, so a restarted (or second) process continues where the
-- first stopped.
--
-- `device_status`: one row per device, written by the device pass that decided it (batched).
-- `state`/`reason` are what the dashboard shows; `revision` the revision served when decided;
-- `last_applied_revision` the revision of the device's last succeeded job; `last_attempted_revision`
-- the revision of its last job that finished otherwise. The failure columns are the retry history
-- of the loop's own backoff: consecutive failures of the same steps (`failure_steps_hash`), the
-- last at `failure_at`; cleared by a success. Rollout jobs are retried by their rollout instead.
CREATE TABLE device_status (
  device_id               TEXT PRIMARY KEY,
  state                   TEXT NOT NULL CHECK (state IN ('in_sync', 'drifted', 'converging', 'failed', 'unknown')),
  reason                  TEXT NOT NULL,
  revision                TEXT,
  pending_steps           INTEGER NOT NULL DEFAULT 0,
  reported_drift          INTEGER NOT NULL DEFAULT 0,
  last_applied_revision   TEXT,
  last_attempted_revision TEXT,
  failure_steps_hash      TEXT,
  failure_count           INTEGER NOT NULL DEFAULT 0,
  failure_at              TEXT,
  updated_at              TEXT NOT NULL
);

-- Why the server ended a job without the agent's result (`lost`: the device does not hold it).
ALTER TABLE jobs ADD COLUMN reason TEXT;
