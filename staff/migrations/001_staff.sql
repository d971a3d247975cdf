-- The staff tables, package staff's own. Versions of kagi before the console had a package of
-- its own created the same tables in recovery's migrations (006 and 008 there); on such a
-- database this adopts them as they are, IF NOT EXISTS, and on a new one creates them.

-- The operator console's staff (§6): support operators and supervisors, apart from customers.
-- They log in with their own passkeys only; nothing here is shared with auth's accounts,
-- passkeys, ceremonies or sessions, so a staff login can never be mistaken for a customer's.
CREATE TABLE IF NOT EXISTS staff (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login_id     text NOT NULL UNIQUE CHECK (login_id ~ '^[A-Za-z0-9._@-]{3,64}$'),
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    role         text NOT NULL CHECK (role IN ('operator', 'supervisor')),
    -- The WebAuthn user handle of the staff member's passkeys: random, never a customer's.
    user_handle  bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    -- A disabled staff member cannot log in or enroll; rows are kept for the audit trail.
    disabled_at  timestamptz
);

-- A staff member's passkeys. Enrolled with a one-time code each; the console's logins are
-- discoverable, so the credential ID is all a login needs to find its row.
CREATE TABLE IF NOT EXISTS staff_credentials (
    credential_id     bytea PRIMARY KEY,
    staff_id          bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    public_key        bytea NOT NULL,
    sign_count        bigint NOT NULL DEFAULT 0,
    aaguid            uuid NOT NULL,
    transports        text[] NOT NULL DEFAULT '{}',
    backup_eligible   boolean NOT NULL,
    backup_state      boolean NOT NULL,
    attestation_type  text NOT NULL,
    created_at        timestamptz NOT NULL,
    last_used_at      timestamptz
);
CREATE INDEX IF NOT EXISTS staff_credentials_staff ON staff_credentials (staff_id);

-- One-time enrollment codes from `kagi staff add`: only the SHA-256 of the code is kept, it is
-- deleted by the enrollment that uses it, and it is worth nothing after expires_at (24 h).
CREATE TABLE IF NOT EXISTS staff_enrollment_codes (
    code_hash   bytea PRIMARY KEY,
    staff_id    bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_enrollment_codes_staff ON staff_enrollment_codes (staff_id);
-- The expiry job purges codes nobody used through this index.
CREATE INDEX IF NOT EXISTS staff_enrollment_codes_expires ON staff_enrollment_codes (expires_at);

-- Staff WebAuthn ceremonies between begin and finish, keyed by the SHA-256 of the challenge as
-- the customers' are (see auth's webauthn_ceremonies): single use, short-lived, any replica
-- finishes what another began. An enrollment is bound to its staff member; a login to nobody.
CREATE TABLE IF NOT EXISTS staff_ceremonies (
    id          bytea PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('enroll', 'login')),
    staff_id    bigint REFERENCES staff (id) ON DELETE CASCADE,
    session     jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    CHECK ((kind = 'enroll') = (staff_id IS NOT NULL))
);
-- The expiry job purges ceremonies nobody finished through this index.
CREATE INDEX IF NOT EXISTS staff_ceremonies_expires ON staff_ceremonies (expires_at);

-- Staff sessions (cookie kagi_staff): only the SHA-256 of the token is kept. They end at
-- expires_at (8 h after the login) or 30 minutes after last_seen_at, whichever comes first.
CREATE TABLE IF NOT EXISTS staff_sessions (
    token_hash    bytea PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
-- Disabling a staff member ends their sessions through this index.
CREATE INDEX IF NOT EXISTS staff_sessions_staff ON staff_sessions (staff_id);
-- The expiry job purges ended sessions through this index.
CREATE INDEX IF NOT EXISTS staff_sessions_expires ON staff_sessions (expires_at);

-- The console's reads per staff member (§6, KAGI_STAFF_READ_LIMIT): one row per staff member,
-- counting the searches and audit-trail reads of a fixed period that started with the first
-- read and ends at resets_at. In PostgreSQL, so every replica adds to the same count; one row
-- per staff member, so nothing needs purging.
CREATE TABLE IF NOT EXISTS staff_reads (
    staff_id  bigint      PRIMARY KEY REFERENCES staff (id) ON DELETE CASCADE,
    hits      integer     NOT NULL,
    resets_at timestamptz NOT NULL
);
