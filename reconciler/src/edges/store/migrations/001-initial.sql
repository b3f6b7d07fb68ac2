-- 001: the initial schema.
--
-- Times are ISO-8601 UTC strings with milliseconds ('2025-01-02T03:04:05.678Z'), so they compare
-- and sort as text. JSON columns are TEXT holding JSON. Booleans do not occur.

CREATE TABLE revisions (
  seq          INTEGER PRIMARY KEY,
  oid          TEXT NOT NULL UNIQUE,
  revision     TEXT NOT NULL,
  branch       TEXT NOT NULL,
  author       TEXT NOT NULL,
  message      TEXT NOT NULL,
  committed_at TEXT NOT NULL,
  seen_at      TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
  errors       TEXT NOT NULL DEFAULT '[]'
);
-- listRevisions: newest first by first-seen time.
CREATE INDEX revisions_seen ON revisions (seen_at, seq);
-- latestAccepted: the accepted oid the branch pointed at last.
CREATE INDEX revisions_status_last_seen ON revisions (status, last_seen_at, seq);

CREATE TABLE enrollment_tokens (
  seq          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  created_at   TEXT NOT NULL,
  expires_at   TEXT,
  max_uses     INTEGER CHECK (max_uses IS NULL OR max_uses >= 0),
  uses         INTEGER NOT NULL DEFAULT 0,
  revoked_at   TEXT,
  labels       TEXT NOT NULL DEFAULT '{}',
  bound_device TEXT
);

CREATE TABLE devices (
  id                TEXT PRIMARY KEY,
  machine_id        TEXT,
  name              TEXT NOT NULL,
  labels            TEXT NOT NULL DEFAULT '{}',
  facts             TEXT NOT NULL DEFAULT '{}',
  credential_hash   TEXT,
  enrolled_at       TEXT,
  last_seen_at      TEXT,
  last_report_at    TEXT,
  agent_version     TEXT,
  reported_revision TEXT,
  deleted_at        TEXT
) WITHOUT ROWID;
-- One device per machine; devices created before enrollment have no machine id.
CREATE UNIQUE INDEX devices_machine ON devices (machine_id) WHERE machine_id IS NOT NULL;

-- The latest observed set per device: one row holding the JSON array of resources, sorted by
-- key. The set is always read and replaced whole, and one row per device (instead of one per
-- resource) makes a burst of 10k reports several times cheaper to write. A rowid table keeps a
-- typical set (a few KiB) on the leaf page instead of overflow pages.
CREATE TABLE observed_sets (
  device_id TEXT PRIMARY KEY REFERENCES devices (id),
  resources TEXT NOT NULL
);

CREATE TABLE jobs (
  seq             INTEGER PRIMARY KEY,
  id              TEXT NOT NULL UNIQUE,
  device_id       TEXT NOT NULL REFERENCES devices (id),
  revision        TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  steps           TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN
                    ('pending', 'dispatched', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
  created_at      TEXT NOT NULL,
  dispatched_at   TEXT,
  started_at      TEXT,
  finished_at     TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  result          TEXT,
  rollout_id      TEXT
);
-- pendingJobs, listJobs by device and state.
CREATE INDEX jobs_device_state ON jobs (device_id, state, created_at, seq);
-- listJobs by device.
CREATE INDEX jobs_device_created ON jobs (device_id, created_at, seq);
-- listJobs by state, countJobsByState.
CREATE INDEX jobs_state ON jobs (state, created_at, seq);
-- listJobs unfiltered.
CREATE INDEX jobs_created ON jobs (created_at, seq);
CREATE INDEX jobs_rollout ON jobs (rollout_id) WHERE rollout_id IS NOT NULL;

-- What DeployX applied on each device: the source of prune deletions.
CREATE TABLE inventory (
  device_id   TEXT NOT NULL REFERENCES devices (id),
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  resource    TEXT NOT NULL,
  revision    TEXT NOT NULL,
  applied_at  TEXT NOT NULL,
  PRIMARY KEY (device_id, key)
) WITHOUT ROWID;
