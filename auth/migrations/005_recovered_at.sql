-- The recovery hold (§2.11): when the account was last recovered — a fallback window used to log
-- in, or the passkey created or deleted from a recovery. Other applications hold withdrawals and
-- bank-account changes until KAGI_RECOVERY_HOLD after it.
ALTER TABLE accounts ADD COLUMN recovered_at timestamptz;
