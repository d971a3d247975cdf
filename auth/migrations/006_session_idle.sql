-- Sessions also end after KAGI_SESSION_IDLE without a request, beside their absolute lifetime:
-- last_seen_at is when the session was last used (touched at most once a minute).
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;
