-- The email check (§2.12, ログイン追加認証): a password login that was right waits here until the
-- customer picks, among nine emoji, the one kagi mailed. One pending check per account: a new
-- password login replaces it. Shared by replicas, so any of them can finish it.
CREATE TABLE email_checks (
    -- SHA-256 of the id the browser holds; the id itself is never stored.
    id_hash       bytea PRIMARY KEY,
    account_id    bigint NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    answer        text NOT NULL,
    -- The nine shown, for the audit of a disputed login; a pick is checked against answer only.
    choices       text[] NOT NULL CHECK (cardinality(choices) = 9),
    -- Whether the password was let in by a fallback window: the session is then recovery-only,
    -- and the window must still be open when the check is passed.
    via_window    boolean NOT NULL,
    -- The throttle counts the login was reserved under (auth's throttleKey and, through a
    -- window, windowThrottleKey): wrong picks count there too, and a pass clears them.
    login_key     bytea NOT NULL,
    attempt_key   bytea NOT NULL,
    wrong_picks   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);

-- The expiry job purges checks nobody finished through this index.
CREATE INDEX email_checks_expires ON email_checks (expires_at);
