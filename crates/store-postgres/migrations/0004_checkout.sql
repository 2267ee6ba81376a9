-- Aborts the statement that calls it, and so undoes everything that statement
-- changed. Checkout is one statement (see src/checkout.rs): when a line's
-- stock could not be taken, it calls this so the lines already taken are put
-- back. The SQLSTATE tells this refusal from a real error.
CREATE FUNCTION emporium_abort(reason TEXT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'EM001', MESSAGE = reason;
END
$$;
