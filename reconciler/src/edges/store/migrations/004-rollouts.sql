-- 004: rollouts, one row per (accepted revision, profile) rollout.
--
-- `state` is the scheduler's RolloutState (core/rollout/schedule.ts) as JSON and `policy` the
-- merged rollout policy it runs under; both are read and replaced whole. `status` repeats the
-- state's status for queries, or is 'superseded' once a newer revision started a rollout of the
-- same profile (`superseded_by` names it); the state then keeps the status it had.
CREATE TABLE rollouts (
  seq           INTEGER PRIMARY KEY,
  id            TEXT NOT NULL UNIQUE,
  revision      TEXT NOT NULL,
  profile       TEXT,
  status        TEXT NOT NULL CHECK (status IN
                  ('progressing', 'paused', 'halted', 'completed', 'partial', 'failed', 'superseded')),
  superseded_by TEXT,
  policy        TEXT NOT NULL,
  state         TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
-- listRollouts: newest first.
CREATE INDEX rollouts_created ON rollouts (created_at, seq);
-- listRollouts by status; currentRollouts (every status but 'superseded').
CREATE INDEX rollouts_status ON rollouts (status, created_at, seq);
