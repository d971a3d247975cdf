-- Fallback windows (§3): while one is open, an account that has a passkey may log in with its
-- login ID and password. Rows are never deleted by kagi: a closed window is the history the
-- operator console and the security team read.

CREATE TABLE fallback_windows (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Who first opened it: the channel and the actor ("ivr:<CallSid>", "staff:<login ID>",
    -- "cli") with the reason given. Restarts are recorded in the audit trail.
    opened_via       text NOT NULL CHECK (opened_via IN ('ivr', 'operator')),
    opened_by        text NOT NULL CHECK (opened_by <> ''),
    reason           text NOT NULL DEFAULT '',
    opened_at        timestamptz NOT NULL,
    -- A verification while the window is open restarts it (§3.2) on this same row.
    last_opened_at   timestamptz NOT NULL,
    restarted_count  integer NOT NULL DEFAULT 0,
    expires_at       timestamptz NOT NULL,
    -- Password logins it let through.
    used_count       integer NOT NULL DEFAULT 0,
    last_used_at     timestamptz,
    closed_at        timestamptz,
    close_reason     text CHECK (close_reason IN
                         ('expired', 'closed_passkey_created', 'closed_passkey_deleted', 'closed_by_operator')),
    CHECK ((closed_at IS NULL) = (close_reason IS NULL)),
    CHECK (expires_at > opened_at)
);

-- At most one open window per account (§3.2), enforced here so that concurrent openings
-- (INSERT … ON CONFLICT on this index) can only restart the one window. It is also the index
-- of every "is a window open for this account?" question.
CREATE UNIQUE INDEX fallback_windows_one_open ON fallback_windows (account_id) WHERE closed_at IS NULL;

-- The expiry job's index: only open windows, so an idle run is a probe of an almost empty
-- index however long the history grows.
CREATE INDEX fallback_windows_due ON fallback_windows (expires_at) WHERE closed_at IS NULL;

-- The account's history for the console, and the ON DELETE CASCADE of accounts.
CREATE INDEX fallback_windows_account ON fallback_windows (account_id, id DESC);
