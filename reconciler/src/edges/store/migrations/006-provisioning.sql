-- 006: bare-metal provisioning (PXE). (005 is another change's; the migrator applies whatever
-- versions are missing in ascending order, so the two land in either order.)

-- Every machine that PXE-booted, by MAC: what iPXE said about it, when, and which device it is
-- (NULL while it is unknown to Git: a *discovered* machine).
CREATE TABLE pxe_machines (
  mac            TEXT PRIMARY KEY,
  uuid           TEXT,
  serial         TEXT,
  platform       TEXT,
  buildarch      TEXT,
  first_seen_at  TEXT NOT NULL,
  last_seen_at   TEXT NOT NULL,
  boots          INTEGER NOT NULL DEFAULT 1,
  device_id      TEXT,
  chosen_profile TEXT,
  last_decision  TEXT
) WITHOUT ROWID;
CREATE INDEX pxe_machines_seen ON pxe_machines (last_seen_at);

-- Provisioning state per device: discovered → provisioning → provisioned → enrolled.
CREATE TABLE provisioning (
  device_id      TEXT PRIMARY KEY,
  state          TEXT NOT NULL CHECK (state IN ('discovered', 'provisioning', 'provisioned', 'enrolled')),
  mac            TEXT,
  run_id         TEXT,
  updated_at     TEXT NOT NULL,
  provisioned_at TEXT,
  enrolled_at    TEXT
) WITHOUT ROWID;

-- Hostname sequences: one counter per scope (the pattern with its labels filled in). A device
-- keeps the number it was given; numbers are never handed out twice.
CREATE TABLE hostname_sequences (
  scope TEXT PRIMARY KEY,
  last  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE hostname_allocations (
  scope        TEXT NOT NULL,
  device_id    TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  allocated_at TEXT NOT NULL,
  PRIMARY KEY (scope, device_id),
  UNIQUE (scope, seq)
) WITHOUT ROWID;

-- One provisioning run per PXE install boot. The one-time token is stored hashed; it works while
-- the run is active and not expired. A newer run of the device supersedes the older one.
CREATE TABLE provisioning_runs (
  seq                 INTEGER PRIMARY KEY,
  id                  TEXT NOT NULL UNIQUE,
  device_id           TEXT NOT NULL,
  token_hash          TEXT NOT NULL UNIQUE,
  status              TEXT NOT NULL CHECK (status IN ('active', 'succeeded', 'failed', 'superseded')),
  revision            TEXT NOT NULL,
  profile             TEXT NOT NULL,
  image               TEXT NOT NULL,
  hostname            TEXT NOT NULL,
  mac                 TEXT,
  tasks               TEXT NOT NULL,
  enrollment_token_id TEXT,
  created_at          TEXT NOT NULL,
  expires_at          TEXT NOT NULL,
  finished_at         TEXT
);
CREATE INDEX provisioning_runs_device ON provisioning_runs (device_id, seq);

-- The timeline: every task status a runner reported.
CREATE TABLE provisioning_steps (
  seq        INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES provisioning_runs (id),
  device_id  TEXT NOT NULL,
  task_index INTEGER NOT NULL,
  task_type  TEXT NOT NULL,
  task_name  TEXT NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
  exit_code  INTEGER,
  log        TEXT,
  at         TEXT NOT NULL
);
CREATE INDEX provisioning_steps_device ON provisioning_steps (device_id, seq);
CREATE INDEX provisioning_steps_run ON provisioning_steps (run_id, seq);
