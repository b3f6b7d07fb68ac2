-- 009: a rejected revision keeps its first 200 errors (REVISION_ERRORS_KEPT) and their total.
--
-- Older versions stored every error: a 12 MB commit stored 127,101 (44 MB) that every listing read
-- back. Existing rows are counted, then cut to their first 200 (json_each keeps array order).
ALTER TABLE revisions ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;
UPDATE revisions SET error_count = json_array_length(errors);
UPDATE revisions
   SET errors = (SELECT json_group_array(json(value))
                   FROM (SELECT value FROM json_each(revisions.errors) ORDER BY key LIMIT 200))
 WHERE error_count > 200;
