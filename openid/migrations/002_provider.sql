-- The OpenID Provider's state (SPEC §11.2–§11.4): the authorization requests waiting for a
-- login, their codes, and the grants a code was exchanged for with their access and refresh
-- tokens. Accounts and sessions are auth's; they are named here by id and token hash only.

-- An authorization request, from /oauth2/authorize until its code is redeemed. It is answered
-- by a login (account_id, session_hash, auth_time, assurance) or ends with an OAuth error
-- (failure); its code is stored as a hash, and kept after use so that a second use is known.
CREATE TABLE oidc_auth_requests (
    id              text PRIMARY KEY,
    client_id       text NOT NULL,
    redirect_uri    text NOT NULL,
    scopes          text[] NOT NULL,
    state           text NOT NULL,
    nonce           text NOT NULL,
    response_mode   text NOT NULL,
    -- The PKCE challenge, always S256 (RFC 7636).
    code_challenge  text NOT NULL,
    acr_values      text[] NOT NULL,
    -- max_age in seconds; 0 for prompt=login.
    max_age         integer,
    prompt          text[] NOT NULL,
    created_at      timestamptz NOT NULL,
    -- The login must answer before this.
    expires_at      timestamptz NOT NULL,
    account_id      bigint,
    session_hash    bytea,
    auth_time       timestamptz,
    assurance       text,
    failure         text,
    code_hash       bytea UNIQUE,
    code_expires_at timestamptz,
    code_used_at    timestamptz,
    CHECK (failure IS NULL OR code_hash IS NULL)
);

CREATE INDEX oidc_auth_requests_created_at ON oidc_auth_requests (created_at);

-- A grant: what one redeemed code gave one client — the family of its access and refresh
-- tokens. Revoking it (a code used twice, a refresh token used twice, its session ended)
-- ends every token of the family at once.
CREATE TABLE oidc_grants (
    id                 text PRIMARY KEY,
    auth_request_id    text NOT NULL UNIQUE,
    client_id          text NOT NULL,
    account_id         bigint NOT NULL,
    session_hash       bytea NOT NULL,
    -- The kagi session's end when the code was redeemed: no token of the grant lives longer.
    session_expires_at timestamptz NOT NULL,
    scopes             text[] NOT NULL,
    auth_time          timestamptz NOT NULL,
    assurance          text NOT NULL,
    created_at         timestamptz NOT NULL,
    revoked_at         timestamptz
);

CREATE INDEX oidc_grants_session_expires_at ON oidc_grants (session_expires_at);
CREATE INDEX oidc_grants_session_hash ON oidc_grants (session_hash);

-- Access tokens are opaque to the client (sealed by the provider around this id); the row
-- says they are still good.
CREATE TABLE oidc_access_tokens (
    id         text PRIMARY KEY,
    grant_id   text NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

CREATE INDEX oidc_access_tokens_grant_id ON oidc_access_tokens (grant_id);
CREATE INDEX oidc_access_tokens_expires_at ON oidc_access_tokens (expires_at);

-- Refresh tokens, stored as the SHA-256 of the token. Each is used once: its use (used_at)
-- issues the next of its grant; a second use revokes the grant.
CREATE TABLE oidc_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    grant_id   text NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX oidc_refresh_tokens_grant_id ON oidc_refresh_tokens (grant_id);
