-- A suspension by the back office (SPEC §12.2) closes the account's open window: resumed, the
-- account must be verified again before a password works despite its passkey.
ALTER TABLE fallback_windows DROP CONSTRAINT fallback_windows_close_reason_check,
    ADD CONSTRAINT fallback_windows_close_reason_check CHECK (close_reason IN
        ('expired', 'closed_passkey_created', 'closed_passkey_deleted', 'closed_by_operator', 'closed_account_suspended'));
