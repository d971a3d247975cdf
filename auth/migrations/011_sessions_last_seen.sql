-- The expiry job ends the sessions idle past the timeout (KAGI_SESSION_IDLE), not only those
-- past their lifetime, so that the applications that got tokens from one hear of its end
-- (SPEC §11.5): it finds them by their last use.
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
