-- The voice line's second channel by call back (§4.8, KAGI_IVR_SECOND_FACTOR=callback or auto for
-- numbers that cannot read a text): after the keyed checks pass, the line hangs up and calls the
-- registered number; the window opens only when the person who answers presses 1. One row per
-- call back, keyed by its own CallSid once Twilio gave one, and by a random id that its webhook
-- URLs carry (never anything the caller keyed in). Valid 10 minutes.
CREATE TABLE voice_callbacks (
    id            text PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 64),
    -- The call that asked for it, and the call back once placed.
    call_sid      text NOT NULL,
    callback_sid  text UNIQUE,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The lockout subject of the account number keyed in (auth's AccountNumberKey).
    account_key   text NOT NULL,
    -- The registered number called back (the one the asking call came from).
    phone         text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    -- How it ended: confirmed (1 pressed), declined (another key), no-key, expired, or the
    -- status Twilio reported for a call nobody confirmed on (no-answer, busy, failed, …).
    outcome       text,
    ended_at      timestamptz,
    CHECK ((outcome IS NULL) = (ended_at IS NULL))
);

-- The expiry job purges call backs past their time through this index.
CREATE INDEX voice_callbacks_expires ON voice_callbacks (expires_at);
