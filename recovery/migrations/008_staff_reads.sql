-- The console's reads per staff member (§6, KAGI_STAFF_READ_LIMIT): one row per staff member,
-- counting the searches and audit-trail reads of a fixed period that started with the first
-- read and ends at resets_at. In PostgreSQL, so every replica adds to the same count; one row
-- per staff member, so nothing needs purging.
CREATE TABLE staff_reads (
    staff_id  bigint      PRIMARY KEY REFERENCES staff (id) ON DELETE CASCADE,
    hits      integer     NOT NULL,
    resets_at timestamptz NOT NULL
);
