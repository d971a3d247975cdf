-- Voice-line lockouts count the failures of a rolling 24 hours (§4.4: so many failures "within
-- 24 h"), no longer a fixed window from the first failure, in which 3 failures just before its
-- end and 4 just after it never locked.
--
-- Each failed verification is one row of voice_failures; a subject's count is its rows of the
-- last 24 hours. voice_lockouts keeps one row per subject: the row the voice line locks (FOR
-- UPDATE, the account's before the caller's) for the length of its transaction, so parallel
-- attempts are still counted one after the other; the lockout in force (locked_until, set when
-- one starts); and touched_at, the last attempt, by which the expiry job purges the row.
--
-- The account subject is now a keyed hash of the account number as keyed in (never the number
-- itself), so numbers that are no account are counted and locked exactly like real ones. Rows
-- keyed by the account id under the previous schema cannot be re-keyed here (the key is not in
-- the database) and are dropped, with any account lockout still in force. Callers' counts are
-- kept, each failure dated at the start of its old window.

CREATE TABLE voice_failures (
    subject_kind  text NOT NULL CHECK (subject_kind IN ('account', 'caller')),
    -- as voice_lockouts.subject
    subject       text NOT NULL,
    at            timestamptz NOT NULL
);

-- The count of one subject's recent failures, and the clearing of an account's on success.
CREATE INDEX voice_failures_subject ON voice_failures (subject_kind, subject, at);

-- The expiry job purges failures that no longer count through this index.
CREATE INDEX voice_failures_at ON voice_failures (at);

INSERT INTO voice_failures (subject_kind, subject, at)
SELECT v.subject_kind, v.subject, v.window_start
FROM voice_lockouts v, generate_series(1, v.failures)
WHERE v.subject_kind = 'caller';

DELETE FROM voice_lockouts WHERE subject_kind = 'account';

ALTER TABLE voice_lockouts DROP COLUMN failures;
ALTER TABLE voice_lockouts RENAME COLUMN window_start TO touched_at;
ALTER INDEX voice_lockouts_window RENAME TO voice_lockouts_touched;

COMMENT ON COLUMN voice_lockouts.subject IS
    'caller: the E.164 number; account: auth''s AccountNumberKey of the number keyed in';
