-- dcb PostgreSQL store, migration 8: dcb_read releases the read barrier
-- before its query is planned.
--
-- dcb_read (migration 7) took the barrier, then planned and started its
-- dynamic query, whose first part read the head and released the barrier:
-- every append of the schema waited for the planning of each read with a
-- limit or an item without tags — every batch of every subscription and
-- read model. Now, as in dcb_decision_read_by_first_tags (migration 6), the
-- head is read under the barrier in a statement of its own, the barrier is
-- released, and the events are read in the next statement, with a new
-- snapshot, up to that head: every position up to the head was settled
-- when the head was read, so the second snapshot sees the same events up
-- to the head as the first would have.
--
-- The bound `position <= head` goes into every item's match ($5), not only
-- around the events: with a limit, a backward read takes each item's last
-- matches, which must be the last up to the head, or a batch could come
-- back short although earlier events match.
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
    -- dcb_match_sql bounds every match below with `t0.position > $3`.
    v_matches text := replace(
        __SCHEMA__.dcb_match_sql(p_tag_counts, p_type_counts, v_dir, p_limit IS NOT NULL),
        't0.position > $3', 't0.position > $3 AND t0.position <= $5');
    v_sql text := 'SELECT e.position, e.event_type, e.data, e.tags, e.id'
        ' FROM __SCHEMA__.events e WHERE '
        || CASE WHEN p_limit IS NOT NULL
                THEN 'e.position = ANY (ARRAY(' || v_matches || '))'
                ELSE 'e.position IN (' || v_matches || ')' END
        || ' ORDER BY e.position ' || v_dir
        || CASE WHEN p_limit IS NOT NULL THEN ' LIMIT $4' ELSE '' END;
    v_head bigint;
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
    PERFORM pg_advisory_unlock(p_barrier);
    pos := v_head;
    RETURN NEXT;
    IF v_head IS NULL OR v_head <= coalesce(p_after, 0) THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit, v_head;
END
$fn$;
