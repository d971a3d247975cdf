---- tern: disable-tx ----
-- The trail's index by time was descending: every line, each later than the last, went in at
-- the index's left end, where PostgreSQL splits a full page in halves, so the index stayed
-- about half empty — some 1.8 times its size, on a table that is never purged. Ascending, a
-- line goes in at the right end, where pages are split at the fill factor, and the newest-first
-- read (AuditTrail) walks it backwards as before. It is built concurrently, so logins go on
-- writing the trail meanwhile, and every step may run again after an interruption.
DROP INDEX CONCURRENTLY IF EXISTS audit_log_at_ascending;
CREATE INDEX CONCURRENTLY audit_log_at_ascending ON audit_log (at, id);
DROP INDEX CONCURRENTLY IF EXISTS audit_log_at;
ALTER INDEX audit_log_at_ascending RENAME TO audit_log_at;
