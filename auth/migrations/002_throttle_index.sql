-- The expiry job's PurgeLapsedThrottles finds lapsed rows by window_start: an index, so the
-- purge probes the old rows instead of reading the whole table (which an attack spraying
-- login IDs fills).
CREATE INDEX login_throttle_window ON login_throttle (window_start);
