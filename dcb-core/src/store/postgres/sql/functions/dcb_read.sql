-- dcb PostgreSQL store: dcb_read, the reads other than a decision's (with
-- a limit, or with an item without tags). The first row is the head (pos
-- = the snapshot's last position or NULL, the rest NULL), then the
-- matching events in order, at most p_limit of them.
--
-- The head is read under the barrier in a statement of its own, the
-- barrier is released, and the events are read in the next statement,
-- with a new snapshot, up to that head: every position up to the head was
-- settled when the head was read, so the second snapshot sees the same
-- events up to the head as the first would have. The events' query is
-- built by dcb_match_sql for the query's shape and planned after the
-- barrier is released (docs/decisions/0012-read-barrier-released-at-the-head.md).
--
-- The bound `position <= head` goes into every item's match ($5), not only
-- around the events: with a limit, a backward read takes each item's last
-- matches, which must be the last up to the head, or a batch could come
-- back short although earlier events match. With a limit the events are
-- fetched by primary key, `position = ANY (ARRAY(matches))`, which no
-- table size turns into a scan
-- (docs/decisions/0014-limited-reads-by-primary-key.md).
--
-- With p_head given (with a default, so that clients of earlier versions
-- call the function unchanged), it takes no barrier and reads up to
-- p_head, the head of a round of the read barrier that this read waited
-- for (postgres/rounds.rs); 0 stands for an empty store.
--
-- With p_locks given instead (last, with p_lock_modes, both with defaults:
-- the keys of the read's boundary as postgres/locks.rs computes them, the
-- global key shared, then for each item the key of its first tag, or of
-- each of its types when it has no tag, exclusively, ascending), it takes
-- those at session level instead of the barrier, reads the head, and
-- releases them: it waits only for the appends in flight that could write
-- an event it matches, as dcb_decision_read_by_first_tags does
-- (docs/decisions/0035-decision-reads-lock-their-boundary.md).
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[],
    p_after bigint, p_limit bigint, p_backwards boolean, p_head bigint DEFAULT NULL,
    p_locks bigint[] DEFAULT NULL, p_lock_modes boolean[] DEFAULT NULL
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid,
               recorded_at timestamptz, metadata jsonb)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_dir text := CASE WHEN p_backwards THEN 'DESC' ELSE 'ASC' END;
    -- dcb_match_sql bounds every match below with `t0.position > $3`.
    v_matches text := replace(
        __SCHEMA__.dcb_match_sql(p_tag_counts, p_type_counts, v_dir, p_limit IS NOT NULL),
        't0.position > $3', 't0.position > $3 AND t0.position <= $5');
    v_sql text := 'SELECT e.position, e.event_type, e.data, e.tags, e.id, e.recorded_at,'
        ' e.metadata'
        ' FROM __SCHEMA__.events e WHERE '
        || CASE WHEN p_limit IS NOT NULL
                THEN 'e.position = ANY (ARRAY(' || v_matches || '))'
                ELSE 'e.position IN (' || v_matches || ')' END
        || ' ORDER BY e.position ' || v_dir
        || CASE WHEN p_limit IS NOT NULL THEN ' LIMIT $4' ELSE '' END;
    v_head     bigint;
    v_void     text;
    v_released boolean;
BEGIN
    IF p_head IS NOT NULL THEN
        v_head := nullif(p_head, 0);
    ELSIF p_locks IS NOT NULL THEN
        -- Simple expressions, one call each: cheaper than a statement. The
        -- same lines as in dcb_decision_read_by_first_tags, written out rather than called: a
        -- call costs about as much as they do.
        FOR i IN 1 .. cardinality(p_locks) LOOP
            IF p_lock_modes[i] THEN
                v_void := pg_advisory_lock(p_locks[i]);
            ELSE
                v_void := pg_advisory_lock_shared(p_locks[i]);
            END IF;
        END LOOP;
        v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
        FOR i IN 1 .. cardinality(p_locks) LOOP
            IF p_lock_modes[i] THEN
                v_released := pg_advisory_unlock(p_locks[i]);
            ELSE
                v_released := pg_advisory_unlock_shared(p_locks[i]);
            END IF;
        END LOOP;
    ELSE
        PERFORM pg_advisory_lock(p_barrier);
        v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
        PERFORM pg_advisory_unlock(p_barrier);
    END IF;
    pos := v_head;
    RETURN NEXT;
    IF v_head IS NULL OR v_head <= coalesce(p_after, 0) THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit, v_head;
END
$fn$;
