-- 014: the audit log — who did what to which, with what outcome — as a hash chain.
--
-- audit_log: one row per entry, `seq` 1, 2, 3 … without gaps. `hash` is SHA-256 over the
-- previous entry's hash and a canonical encoding of this entry (audit-chain.ts); `prev_hash` is
-- the previous entry's hash (64 zeros for the first). `details` is canonical JSON.
-- audit_head: one row, the last entry's seq and hash, written in the same transaction as the entry.
-- Removing the last entries leaves the head naming an entry that is gone: `deployx audit verify`
-- says so. (Someone who can write the file can rewrite the head too: docs/security.md.)
-- The triggers make the log append-only for every SQL client, DeployX included.
CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,
  at         TEXT NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  target     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  details    TEXT NOT NULL,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
);

CREATE TABLE audit_head (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  seq   INTEGER NOT NULL,
  hash  TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
