-- 003: the resources a job converges to, by resource key (the desired resource for a create or
-- update, the inventory's resource for a delete). When the result arrives, the inventory of what
-- DeployX applied is updated from these, whatever revision is in force by then.
ALTER TABLE jobs ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
