-- The OpenID Provider's signing keys (SPEC §11.1), shared by every replica. One key signs at a
-- time, the newest, until it is older than the rotation period; a key is published in the
-- JWKS until the last token it can have signed has expired, then purged.
CREATE TABLE oidc_signing_keys (
    -- The JWK "kid": random, not secret.
    kid         text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{16,64}$'),
    created_at  timestamptz NOT NULL,
    -- The public key, PKIX DER (P-256).
    public_key  bytea NOT NULL,
    -- The private key, PKCS #8 DER sealed with XChaCha20-Poly1305 under a key derived from
    -- the server secret and bound to the kid: nonce then ciphertext, never the key in clear.
    sealed_key  bytea NOT NULL
);

CREATE INDEX oidc_signing_keys_created_at ON oidc_signing_keys (created_at);
