-- 012: enrollment approval and PXE build mode (issue 12).

-- A device enrolled by an agent that claimed a declared device (MAC, hostname, serial) with a
-- token not bound to it waits for an operator: `approval = 'pending'` (NULL: approved). A
-- pending device is connected but gets no job, and its reports are not stored.
-- `approval_claim` says how it claimed the name (for the operator deciding), e.g. `mac`.
ALTER TABLE devices ADD COLUMN approval TEXT CHECK (approval IN ('pending'));
ALTER TABLE devices ADD COLUMN approval_claim TEXT;
CREATE INDEX devices_pending ON devices (approval) WHERE approval IS NOT NULL;

-- Build mode: a declared machine gets an install boot only while an operator has armed it, and
-- once: the row is deleted when its install boot hands out the one-time provisioning token.
CREATE TABLE pxe_arming (
  device_id  TEXT PRIMARY KEY,
  armed_at   TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  armed_by   TEXT NOT NULL
) WITHOUT ROWID;
