-- staff_reads moved to package staff with the other staff tables (staff/migrations/001_staff.sql).
-- Kept empty so the version numbers of recovery's set stay as every database recorded them.
SELECT 1;
