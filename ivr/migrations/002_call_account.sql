-- A call is linked to the account it verified or failed on (the number keyed in, or the code's),
-- with the outcome of its latest verification, so the operator console can list an account's
-- recent calls. NULL while no verification ran, or when no account has the number keyed in.
ALTER TABLE ivr_calls ADD COLUMN account_id bigint, ADD COLUMN outcome text;
CREATE INDEX ivr_calls_account ON ivr_calls (account_id, started_at DESC) WHERE account_id IS NOT NULL;
