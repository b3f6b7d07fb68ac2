-- 008: the order of the observed state a device's row holds.
--
-- Agents stamp each report and job result with (epoch, seq) at the moment they observe
-- (ObservationOrder in schemas/protocol.ts). These columns hold the stamp of the observed set and
-- reported revision now stored, so an older observation arriving later (a report observed while a
-- job ran, stored after the job's result) does not replace them. The comparison is made inside the
-- UPDATE that writes them (sqlite-reports.ts), so the report and result chains cannot race.
-- NULL: the device never sent a stamp (an older agent), whose messages are taken as newest.
ALTER TABLE devices ADD COLUMN observed_epoch TEXT;
ALTER TABLE devices ADD COLUMN observed_seq INTEGER;
