-- dcb PostgreSQL store, migration 12: appends sent together
-- (dcb_append_batch) may carry conditions of parts, as dcb_append does
-- since migration 11, so that decisions served from known state share
-- commits like any other single-event append.
--
-- dcb_append_batch takes each condition item's own position in a new last
-- parameter, p_item_after bigint[], with a default: a client of an
-- earlier version still connected during the upgrade calls it as before.
-- CREATE OR REPLACE cannot add a parameter, so the old signature is
-- dropped here and the function made again, as
-- sql/functions/dcb_append_batch.sql defines it, by the same migrate.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_append_batch(text[], bytea[], text[], integer[],
    bigint[], boolean[], integer[], integer[], integer[], integer[], text[], integer[], text[],
    bigint[], jsonb[]);
