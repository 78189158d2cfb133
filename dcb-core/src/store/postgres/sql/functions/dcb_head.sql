-- dcb PostgreSQL store: dcb_head, what head() returns: the snapshot's
-- last position (NULL for an empty store), read after the read barrier.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_head(p_barrier bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_head bigint;
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
    PERFORM pg_advisory_unlock(p_barrier);
    RETURN v_head;
END
$fn$;
