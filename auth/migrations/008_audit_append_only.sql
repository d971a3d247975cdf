-- The audit trail is append-only (§6): no statement of the application's role may change or
-- remove a line once written. A trigger refuses UPDATE, DELETE and TRUNCATE whoever runs them
-- (grants alone would not bind the role that owns the table, which kagi migrates as).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- An account with audit lines can no longer be deleted by setting its lines' account to NULL
-- (that would be an UPDATE of the trail): the lines keep naming it.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_account_id_fkey,
    ADD CONSTRAINT audit_log_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);

-- The operator console searches the trail by staff member (actor) and by time, newest first;
-- by account through audit_log_account.
CREATE INDEX audit_log_actor ON audit_log (actor, id DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
