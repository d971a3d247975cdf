-- The email check's pause (§2.12): every failed check (a wrong pick) of an account is kept for
-- 24 hours; the third within 24 hours pauses password login for the account until
-- password_paused_until. A verified voice-line call or a supervisor lifts the pause early and
-- forgets the failures. Counted here, so every replica, address and device adds to one count.
CREATE TABLE email_check_failures (
    account_id bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    failed_at  timestamptz NOT NULL
);
CREATE INDEX email_check_failures_account ON email_check_failures (account_id, failed_at);
-- The expiry job's purge finds the lapsed failures through it.
CREATE INDEX email_check_failures_failed_at ON email_check_failures (failed_at);

ALTER TABLE accounts ADD COLUMN password_paused_until timestamptz;

-- The hold (§2.11, §2.13): since when, and why, the brokerage's applications are told to hold
-- withdrawals and bank-account changes — a recovery, or a first passkey bound from a password
-- session. The latest start wins; recovered_at still says when the account was last recovered.
ALTER TABLE accounts ADD COLUMN hold_from timestamptz,
    ADD COLUMN hold_reason text CHECK (hold_reason IN ('recovery', 'passkey_added')),
    ADD CONSTRAINT accounts_hold_whole CHECK ((hold_from IS NULL) = (hold_reason IS NULL));
UPDATE accounts SET hold_from = recovered_at, hold_reason = 'recovery' WHERE recovered_at IS NOT NULL;

-- The email check's answer is kept only as a keyed hash (§7): whoever reads the table cannot
-- tell which of the nine is the answer. Pending checks of the old form are dropped: their
-- customers log in again.
DELETE FROM email_checks;
ALTER TABLE email_checks DROP COLUMN answer, DROP COLUMN wrong_picks, ADD COLUMN answer_hash bytea NOT NULL;
