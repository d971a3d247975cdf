-- The voice line's second channel (§4.8, KAGI_IVR_SECOND_FACTOR=sms): the code texted to the
-- registered phone the call came from, waiting to be keyed in on the same call. One per call,
-- single use, stored only as a keyed hash (auth's VoiceCodeHash, bound to the CallSid).
CREATE TABLE voice_codes (
    call_sid     text PRIMARY KEY CHECK (length(call_sid) BETWEEN 1 AND 64),
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The lockout subject of the account number keyed in (auth's AccountNumberKey), so a wrong
    -- code counts where a wrong PIN does.
    account_key  text NOT NULL,
    caller       text NOT NULL,
    code_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- The expiry job purges codes nobody keyed in through this index.
CREATE INDEX voice_codes_expires ON voice_codes (expires_at);
