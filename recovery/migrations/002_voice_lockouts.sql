-- Voice-line lockouts (§4.4): failed verifications counted per account and per caller number.
-- One row per subject; the voice line locks the rows it touches (in a fixed order) for the
-- length of its transaction, so parallel calls against one account are counted one after the
-- other and cannot slip past the limit.
CREATE TABLE voice_lockouts (
    subject_kind  text NOT NULL CHECK (subject_kind IN ('account', 'caller')),
    -- the account's id, or the caller's E.164 number
    subject       text NOT NULL,
    failures      integer NOT NULL DEFAULT 0,
    window_start  timestamptz NOT NULL,
    locked_until  timestamptz,
    PRIMARY KEY (subject_kind, subject)
);

-- The expiry job purges lapsed rows through this index.
CREATE INDEX voice_lockouts_window ON voice_lockouts (window_start);
