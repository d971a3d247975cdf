-- The voice line's second-channel sends (§4.8): every code texted and every call back placed,
-- once for the account and once for the calling number, so that each can be capped
-- (KAGI_SECOND_CHANNEL_LIMIT, default 3 an hour and 5 a day). A send is counted whether or not
-- it was confirmed; a refused one (over the cap) is not a send. The voice line counts and
-- records them while it holds the subjects' voice_lockouts rows (FOR UPDATE, the account's
-- before the caller's), so parallel calls, on any replica, are counted one after the other and
-- cannot slip past the cap.
CREATE TABLE voice_sends (
    subject_kind  text NOT NULL CHECK (subject_kind IN ('account', 'caller')),
    -- as voice_lockouts.subject: auth's AccountNumberKey of the number keyed in, or the
    -- caller's E.164 number
    subject       text NOT NULL,
    at            timestamptz NOT NULL
);

-- The count of one subject's recent sends.
CREATE INDEX voice_sends_subject ON voice_sends (subject_kind, subject, at);

-- The expiry job purges sends older than the longest cap through this index.
CREATE INDEX voice_sends_at ON voice_sends (at);
