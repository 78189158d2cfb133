-- dcb PostgreSQL store, migration 10: every event carries the time the
-- store recorded it and its metadata.
--
-- - events.recorded_at: set by dcb_append and dcb_append_batch from the
--   server's clock, the same for every event of one append, never
--   decreasing along positions. NULL for the rows written before this
--   migration, which come before every recorded one.
-- - events.metadata: the event's metadata as a JSON object of strings,
--   NULL when it has none (and for the rows written before this
--   migration). Never matched by a query or a condition, so not indexed.
-- - The sequence dcb_last_recorded_at: the latest recorded time issued, in
--   microseconds since 1970-01-01 UTC. An append takes its positions and
--   its time in one short exclusive section (see dcb_append.sql) and
--   records there the later of the clock and this value, and writes it
--   back: so times never decrease along positions, also when the server's
--   clock goes back, or comes back from a restart set back. A sequence,
--   because setval is not transactional (the next section sees the value
--   at once, whether or not the append commits) and is logged before the
--   commit of the append that set it. Never set yet (is_called false): no
--   time was issued.
-- - Adding the columns changes only the catalog (nullable, no default):
--   existing rows are not rewritten.
-- - The functions that write or return events change their parameters or
--   their rows, so they are dropped here and made again, as
--   sql/functions/ defines them, by the same migrate. dcb_append and
--   dcb_append_batch keep their parameters in order and take the metadata
--   last, with a default: a client of an earlier version still connected
--   during the upgrade calls them as before, and its events get times.

ALTER TABLE __SCHEMA__.events
    ADD COLUMN recorded_at timestamptz,
    ADD COLUMN metadata jsonb;

CREATE SEQUENCE __SCHEMA__.dcb_last_recorded_at AS bigint
    MINVALUE -9223372036854775808 START -9223372036854775808 NO CYCLE;

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_append(text[], bytea[], text[], integer[], uuid[],
    bigint[], boolean[], bigint, boolean, text[], integer[], text[], integer[], bigint);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_append_batch(text[], bytea[], text[], integer[],
    bigint[], boolean[], integer[], integer[], integer[], integer[], text[], integer[], text[],
    bigint[]);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_insert(bigint, text[], bytea[], text[], integer[], uuid[]);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_read(bigint, text[], integer[], text[], integer[], bigint,
    bigint, boolean);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_decision_read(bigint, text[], integer[], integer[], text[],
    integer[], integer[], bigint, boolean);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_decision_read_by_first_tags(bigint, text[], text[],
    text[], bigint, boolean);
