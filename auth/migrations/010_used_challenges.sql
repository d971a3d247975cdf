-- Passkey login challenges are sealed (auth/sealed.go): begin stores nothing, and the finish
-- records here, in its transaction, each challenge it used, so an assertion is accepted once.
-- A row is kept until the challenge's end and purged after it (the expiry job), when the
-- challenge no longer opens as live anyway. Customers' and staff logins alike.
CREATE TABLE used_challenges (
    id          bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX used_challenges_expires ON used_challenges (expires_at);
