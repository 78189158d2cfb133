-- dcb PostgreSQL store, migration 16: every read whose items each have a
-- tag or a type locks its own boundary instead of taking the read
-- barrier, as decision reads do since migration 15: the global key shared
-- and, for each item, the key of its first tag (of each of its types when
-- it has no tag) exclusively, only while it reads its head
-- (docs/decisions/0035-decision-reads-lock-their-boundary.md).
--
-- dcb_read takes those keys in two new last parameters, p_locks bigint[]
-- and p_lock_modes boolean[], with defaults (NULL: the read barrier, as
-- before), so that a client of an earlier version still connected during
-- the upgrade calls it as before. CREATE OR REPLACE cannot add a
-- parameter, so the old signature is dropped here and the function made
-- again, as sql/functions/dcb_read.sql defines it, by the same migrate.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_read(bigint, text[], integer[], text[], integer[],
    bigint, bigint, boolean, bigint);
