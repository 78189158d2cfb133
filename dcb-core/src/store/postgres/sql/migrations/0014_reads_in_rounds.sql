-- dcb PostgreSQL store, migration 14: reads with a limit (a subscription's
-- batches) share the rounds of the read barrier as decision reads do since
-- migration 13 (postgres/rounds.rs).
--
-- dcb_read takes a round's head in a new last parameter, p_head bigint,
-- with a default (NULL: take the barrier), so that a client of an earlier
-- version still connected during the upgrade calls it as before. CREATE OR
-- REPLACE cannot add a parameter, so the old signature is dropped here and
-- the function made again, as sql/functions/dcb_read.sql defines it, by
-- the same migrate.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_read(bigint, text[], integer[], text[], integer[],
    bigint, bigint, boolean);
