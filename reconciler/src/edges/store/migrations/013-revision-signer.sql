-- 013: the verified signer of a revision's commit (commit signature verification, issue 12):
-- JSON {method, fingerprint, identity}, NULL when the server did not verify signatures (mode off)
-- or the revision was rejected before its signature was trusted.
ALTER TABLE revisions ADD COLUMN signer TEXT;
