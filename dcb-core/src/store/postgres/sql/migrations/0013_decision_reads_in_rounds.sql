-- dcb PostgreSQL store, migration 13: decision reads share rounds of the
-- read barrier (postgres/rounds.rs): a read that asks while another holds
-- or waits for the barrier waits for the next round's head and reads up to
-- it without taking the barrier itself.
--
-- dcb_decision_read_by_first_tags takes that head in a new last
-- parameter, p_head bigint, with a default (NULL: take the barrier), so
-- that a client of an earlier version still connected during the upgrade
-- calls it as before. CREATE OR REPLACE cannot add a parameter, so the old
-- signature is dropped here and the function made again, as
-- sql/functions/dcb_decision_read_by_first_tags.sql defines it, by the
-- same migrate.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_decision_read_by_first_tags(bigint, text[], text[],
    text[], bigint, boolean);
