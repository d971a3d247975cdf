-- Bringing the brokerage's customers in (SPEC §12.1): an imported account keeps the password
-- hash of the old system as it is (bcrypt, PBKDF2, scrypt or Argon2 — the column always held a
-- PHC-style string) until its next successful login replaces it with kagi's Argon2id; and its
-- PIN may arrive as such a hash too, kept in pin_legacy_hash until the next verified call
-- replaces it with kagi's keyed hash in pin_hash. An account has exactly one of the two.
ALTER TABLE accounts ALTER COLUMN pin_hash DROP NOT NULL,
    ADD COLUMN pin_legacy_hash text,
    ADD CONSTRAINT accounts_pin_one CHECK ((pin_hash IS NULL) <> (pin_legacy_hash IS NULL));

-- The back office (SPEC §12.2): a suspended account logs in nowhere and the voice line refuses
-- it, until it is resumed.
ALTER TABLE accounts ADD COLUMN suspended_at timestamptz;

-- A change of email or phone by the back office starts the hold like a recovery (§12.2).
ALTER TABLE accounts DROP CONSTRAINT accounts_hold_reason_check,
    ADD CONSTRAINT accounts_hold_reason_check
        CHECK (hold_reason IN ('recovery', 'passkey_added', 'contact_changed'));
