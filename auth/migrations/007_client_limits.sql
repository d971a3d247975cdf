-- Requests per client address (KAGI_LIMIT_*): one row per route kind and address (an IPv6
-- client is counted by its /64), counting the hits of a fixed period that started with the
-- first hit and ends at resets_at. In PostgreSQL, so every replica adds to the same count.
CREATE TABLE client_limits (
    kind      text        NOT NULL,
    client    inet        NOT NULL,
    hits      integer     NOT NULL,
    resets_at timestamptz NOT NULL,
    PRIMARY KEY (kind, client)
);
-- The expiry job's purge finds the lapsed rows through it.
CREATE INDEX client_limits_resets_at ON client_limits (resets_at);
