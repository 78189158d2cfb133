-- dcb PostgreSQL store: dcb_insert, for dcb_append: inserts the events at
-- p_first, p_first + 1, … and their tag rows, every event recorded at p_at
-- with its metadata (p_metadata: one jsonb object or NULL per event, or
-- NULL for none at all).
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_insert(
    p_first bigint, p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[],
    p_metadata jsonb[], p_at timestamptz
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    WITH ev AS (
        SELECT p_first + u.ord - 1 AS position, u.event_type, u.data, u.id, u.metadata,
               coalesce(p_tags[(sum(u.cnt) OVER w - u.cnt + 1)::integer : (sum(u.cnt) OVER w)::integer],
                        '{}') AS tags
        FROM unnest(p_types, p_data, p_tag_counts, p_ids, p_metadata)
             WITH ORDINALITY AS u(event_type, data, cnt, id, metadata, ord)
        WINDOW w AS (ORDER BY u.ord)
    ), ins AS (
        INSERT INTO __SCHEMA__.events (position, event_type, data, tags, id, recorded_at, metadata)
        SELECT ev.position, ev.event_type, ev.data, ev.tags, ev.id, p_at, ev.metadata FROM ev
        RETURNING position, event_type, tags
    )
    INSERT INTO __SCHEMA__.event_tags (tag, position, event_type)
    SELECT unnest(ins.tags), ins.position, ins.event_type FROM ins;
END
$fn$;
