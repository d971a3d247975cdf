-- The staff tables moved to package staff (staff/migrations/001_staff.sql), which creates them
-- where this migration created them before, and adopts them where it did. Kept empty so the
-- version numbers of recovery's set stay as every database recorded them.
SELECT 1;
