-- 002: an index of open jobs only, for pendingJobs.
--
-- With only jobs_device_state/jobs_device_created, SQLite (without statistics) walked a device's
-- whole job history to find its few open jobs. This partial index holds only open jobs, already in
-- (created_at, seq) order. pendingJobs names it with INDEXED BY, and its WHERE repeats this
-- condition term for term, as SQLite requires to use a partial index.
CREATE INDEX jobs_pending ON jobs (device_id, created_at, seq) WHERE state IN ('pending', 'dispatched');
