-- A login ceremony begun with a login ID finishes only for that login ID's account, also when
-- the ID is unknown or has no passkey (then it finishes for nobody): otherwise which IDs have
-- a passkey would show in which ceremonies accept any passkey.
ALTER TABLE webauthn_ceremonies ADD COLUMN for_login_id boolean NOT NULL DEFAULT false;
