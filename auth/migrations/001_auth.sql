-- The auth core's tables: accounts, their passkey, sessions, WebAuthn ceremonies in flight,
-- password-login throttling and the audit trail.

CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login_id        text NOT NULL UNIQUE,
    account_number  text NOT NULL UNIQUE CHECK (account_number ~ '^[0-9]{1,12}$'),
    name            text NOT NULL,
    email           text NOT NULL,
    password_hash   text NOT NULL,
    pin_hash        bytea NOT NULL,
    -- WebAuthn user handle: random, never the login ID or account number.
    user_handle     bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_phones (
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    PRIMARY KEY (account_id, phone)
);
CREATE INDEX account_phones_phone ON account_phones (phone);

-- At most one passkey per account (§2.1), enforced by the primary key.
CREATE TABLE passkeys (
    account_id       bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id    bytea NOT NULL UNIQUE,
    public_key       bytea NOT NULL,
    sign_count       bigint NOT NULL DEFAULT 0,
    aaguid           uuid NOT NULL,
    transports       text[] NOT NULL DEFAULT '{}',
    backup_eligible  boolean NOT NULL,
    backup_state     boolean NOT NULL,
    attestation_type text NOT NULL DEFAULT 'none',
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);

-- Sessions are looked up by the SHA-256 of the cookie token, so the table holds nothing that
-- would let a reader of a backup act as a customer.
CREATE TABLE sessions (
    token_hash        bytea PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    assurance         text NOT NULL CHECK (assurance IN ('passkey', 'password', 'password_fallback')),
    created_at        timestamptz NOT NULL,
    authenticated_at  timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- WebAuthn ceremony state between begin and finish: single use, short-lived, shared by replicas.
CREATE TABLE webauthn_ceremonies (
    id          bytea PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('register', 'login')),
    account_id  bigint REFERENCES accounts (id) ON DELETE CASCADE,
    session     jsonb NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- Failed password logins per login ID (known or not, so the limit reveals nothing).
CREATE TABLE login_throttle (
    login_key      bytea PRIMARY KEY,
    failures       integer NOT NULL,
    window_start   timestamptz NOT NULL,
    locked_until   timestamptz
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    account_id  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    event       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_account ON audit_log (account_id, id DESC);
