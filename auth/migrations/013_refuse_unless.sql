-- auth_refuse_unless(ok, reason) fails the statement that calls it, with SQLSTATE KA001 and the
-- reason as its message, unless ok is true. A transaction whose COMMIT goes in the same round
-- trip as its writes (the passkey finish, SPEC §10) cannot read a check back before it commits:
-- the check has to be an error of the statement, which PostgreSQL turns into a rollback.
CREATE FUNCTION auth_refuse_unless(ok boolean, reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'KA001', MESSAGE = reason;
    END IF;
    RETURN true;
END
$$;
