-- 010: the per-device sequence of signed jobs (docs/protocol.md "Signed jobs").
--
-- Every dispatch of a job takes the device's next number; the agent refuses a job whose sequence
-- is not above the highest it accepted. Not tied to the devices table: a device deleted and
-- declared again keeps counting up, so an agent that kept its state never sees a number again.
CREATE TABLE job_sequences (
  device_id TEXT PRIMARY KEY,
  last_sequence INTEGER NOT NULL
) WITHOUT ROWID;
