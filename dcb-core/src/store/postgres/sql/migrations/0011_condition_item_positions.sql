-- dcb PostgreSQL store, migration 11: an append condition's items may
-- each count the events after a position of their own (a condition of
-- parts, AppendCondition::of_parts: a composite decision whose parts were
-- last seen at different positions, served from known state).
--
-- dcb_append takes them in a new last parameter, p_item_after bigint[]
-- (per item its position, 0 for none; NULL when every item counts after
-- p_after), with a default: a client of an earlier version still
-- connected during the upgrade calls it as before. CREATE OR REPLACE
-- cannot add a parameter, so the old signature is dropped here and the
-- function made again, as sql/functions/dcb_append.sql defines it, by the
-- same migrate. dcb_append_batch is unchanged: the client sends an append
-- whose items have positions of their own alone, through dcb_append.

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_append(text[], bytea[], text[], integer[], uuid[],
    bigint[], boolean[], bigint, boolean, text[], integer[], text[], integer[], bigint, jsonb[]);
