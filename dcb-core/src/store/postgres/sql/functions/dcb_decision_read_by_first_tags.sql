-- dcb PostgreSQL store: dcb_decision_read_by_first_tags, a decision's read
-- (no limit, every item with a tag) as two index scans: the positions of
-- all items at once — one range scan of the tag index per item's first
-- tag, its type checked in the index against the (tag, type) pairs of the
-- items — then those events by primary key, in position order. An item
-- with several tags is matched here by its first tag only: the client
-- drops the events that match no item in full. Why:
-- docs/decisions/0013-decision-read-as-two-index-scans.md.
--
-- With p_locks given (the client's keys of the read's boundary, as
-- postgres/locks.rs computes them: the global key shared, then the key of
-- each item's first tag exclusively, ascending), the function takes those
-- locks at session level, reads the head in a statement of its own,
-- releases them, then reads the events in the next statement, with a new
-- snapshot, up to that head. Every append of an event that matches the
-- read holds one of those keys shared from before it takes its position
-- until it has committed, so once they are granted no such append is in
-- flight: every matching position up to the head is settled (committed
-- or rolled back), and a matching append that starts after they are
-- released takes a higher position. So the second snapshot holds the same
-- matching events up to the head as the first. Appends on other
-- boundaries are neither waited for nor held back; a position of theirs
-- may still appear below the head, but it matches no item of the read
-- (docs/decisions/0035-decision-reads-lock-their-boundary.md).
--
-- With p_head given, the function takes no lock and reads up to p_head:
-- a head that a round of the read barrier read for this read after the
-- read was asked for (the client's shared rounds, postgres/rounds.rs);
-- 0 stands for an empty store. With neither (clients before migration
-- 15), it reads the head under the read barrier, the global key taken
-- exclusively, which waits for every append in flight.
--
-- The function's statements use generic plans (plan_cache_mode): with
-- arrays as parameters the server would otherwise plan the events' query
-- anew on every call, its generic plan's estimate never beating the
-- custom plans'. And they use neither sequential nor bitmap scans
-- (enable_seqscan, enable_bitmapscan): a generic plan made while `events`
-- is small fetches the positions' events by scanning the table, and would
-- go on doing so until the next ANALYZE, and a bitmap scan loses the
-- primary key's order and sorts (the test postgres_plans checks the plan).
--
-- Parameters: p_barrier the global key; p_tags the items' first tags
-- (distinct); p_pairs `tag || chr(31) || type` for each type of each item
-- with types, on its first tag (no tag or type holds control characters);
-- p_any the first tags of items without types; p_after (0 for none);
-- p_backwards; p_head (with a default, so that clients of earlier
-- versions call the function unchanged; NULL: take locks); p_locks and
-- p_lock_modes (last, with defaults: the keys in the order to take them,
-- and whether each is exclusive; NULL: the read barrier). The first row is the head (pos = the snapshot's last
-- position or NULL, the rest NULL); the events follow.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_decision_read_by_first_tags(
    p_barrier bigint, p_tags text[], p_pairs text[], p_any text[],
    p_after bigint, p_backwards boolean, p_head bigint DEFAULT NULL,
    p_locks bigint[] DEFAULT NULL, p_lock_modes boolean[] DEFAULT NULL
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid,
               recorded_at timestamptz, metadata jsonb)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
#variable_conflict use_column
DECLARE
    v_head     bigint;
    v_void     text;
    v_released boolean;
BEGIN
    IF p_head IS NOT NULL THEN
        v_head := nullif(p_head, 0);
    ELSIF p_locks IS NOT NULL THEN
        -- Simple expressions, one call each: cheaper than a statement. The
        -- same lines as in dcb_read, written out rather than called: a
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
    IF v_head IS NULL OR v_head <= p_after THEN
        RETURN;
    END IF;
    IF p_backwards THEN
        RETURN QUERY
        SELECT e.position, e.event_type, e.data, e.tags, e.id, e.recorded_at, e.metadata
        FROM __SCHEMA__.events e
        WHERE e.position = ANY (ARRAY(
            SELECT t.position FROM __SCHEMA__.event_tags t
            WHERE t.tag = ANY (p_tags) AND t.position > p_after AND t.position <= v_head
              AND (t.tag = ANY (p_any) OR t.tag || chr(31) || t.event_type = ANY (p_pairs))))
        ORDER BY e.position DESC;
    ELSE
        RETURN QUERY
        SELECT e.position, e.event_type, e.data, e.tags, e.id, e.recorded_at, e.metadata
        FROM __SCHEMA__.events e
        WHERE e.position = ANY (ARRAY(
            SELECT t.position FROM __SCHEMA__.event_tags t
            WHERE t.tag = ANY (p_tags) AND t.position > p_after AND t.position <= v_head
              AND (t.tag = ANY (p_any) OR t.tag || chr(31) || t.event_type = ANY (p_pairs))))
        ORDER BY e.position;
    END IF;
END
$fn$;
