-- dcb PostgreSQL store, migration 15: a decision's read locks its own
-- boundary instead of taking the read barrier: the global key shared and
-- the key of each item's first tag exclusively, only while it reads its
-- head (docs/decisions/0035-decision-reads-lock-their-boundary.md).
--
-- dcb_decision_read_by_first_tags takes those keys in two new last
-- parameters, p_locks bigint[] and p_lock_modes boolean[], with defaults
-- (NULL: the read barrier, as before), so that a client of an earlier
-- version still connected during the upgrade calls it as before. CREATE OR
-- REPLACE cannot add a parameter, so the old signature is dropped here and
-- the function made again, as sql/functions/dcb_decision_read_by_first_tags.sql
-- defines it, by the same migrate.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_decision_read_by_first_tags(bigint, text[], text[],
    text[], bigint, boolean, bigint);
