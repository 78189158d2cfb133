-- dcb PostgreSQL store, migration 7: reads with a limit fetch their events
-- by primary key.
--
-- dcb_read (migration 5) fetched the events of its matches with
-- `e.position IN (matches)`. With a limit the matches are at most
-- `limit` positions per item, but the planner, seeing a few thousand
-- candidates, could join them to `events` with a hash semi join over a
-- sequential scan of the whole table — it did on a 200,000-event store
-- (15 ms for a batch of 1,000 events, against 1.5 ms now), and on the
-- 20,000 events of the test postgres_plans — for every batch of every
-- subscription, read model and inspector listing. Now the matches go into
-- an array and the events are fetched by primary key
-- (`e.position = ANY (ARRAY(matches))`), which no table size turns into a
-- scan. Reads without a limit (everything of a type, or every event) keep
-- the join, for which a scan is right.
-- See the section "The PostgreSQL store" of docs/design.md.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[],
    p_after bigint, p_limit bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_dir text := CASE WHEN p_backwards THEN 'DESC' ELSE 'ASC' END;
    v_matches text :=
        __SCHEMA__.dcb_match_sql(p_tag_counts, p_type_counts, v_dir, p_limit IS NOT NULL);
    v_sql text := 'WITH b AS MATERIALIZED ('
        ' SELECT (SELECT max(x.position) FROM __SCHEMA__.events x) AS head,'
        ' pg_advisory_unlock($5) AS released)'
        ' SELECT r.pos, r.event_type, r.data, r.tags, r.id FROM ('
        ' SELECT 0 AS part, 0::bigint AS ord, b.head AS pos, NULL::text AS event_type,'
        ' NULL::bytea AS data, NULL::text[] AS tags, NULL::uuid AS id FROM b'
        ' UNION ALL'
        ' SELECT 1, ' || CASE WHEN p_backwards THEN '-e.position' ELSE 'e.position' END
        || ', e.position, e.event_type, e.data, e.tags, e.id FROM ('
        ' SELECT e.position, e.event_type, e.data, e.tags, e.id'
        ' FROM __SCHEMA__.events e WHERE '
        || CASE WHEN p_limit IS NOT NULL
                THEN 'e.position = ANY (ARRAY(' || v_matches || '))'
                ELSE 'e.position IN (' || v_matches || ')' END
        || ' ORDER BY e.position ' || v_dir
        || CASE WHEN p_limit IS NOT NULL THEN ' LIMIT $4' ELSE '' END
        || ') e) r ORDER BY r.part, r.ord';
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit, p_barrier;
END
$fn$;
