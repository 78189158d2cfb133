-- dcb PostgreSQL store: dcb_append, the conditional append, in one call
-- and one transaction:
--   1. the advisory locks p_locks (transaction level) in the order given,
--      exclusive where p_lock_modes says so: first the global key (the
--      "writer in flight" barrier that reads take exclusively), then the
--      boundary keys in ascending order (exclusive: one per condition item;
--      shared: every tag and type of the new events) (the client computes
--      the keys: postgres/locks.rs);
--   2. idempotency, when an event carries an id (dcb_idempotent);
--   3. the condition, in a new statement (a fresh snapshot, after the
--      locks); dcb_append_batch writes the same statements out again.
--      Each item counts the events after its own position,
--      p_item_after[i] (0 for none), when p_item_after is not NULL (a
--      condition of parts: AppendCondition::of_parts), otherwise after
--      p_after;
--   4. the positions and the time, in the clock section (below): the
--      append's positions, consecutive, from the sequence, and its time;
--   5. the insert (dcb_insert, or a plain path for one event without an
--      id), every event with that time and its metadata (p_metadata, one
--      jsonb object or NULL per event; NULL for none at all).
-- Outcome: 'ok' (pos = last position), 'conflict' (pos = the first
-- conflicting position) or 'duplicate' (dup_id stored at pos).
--
-- The clock section: every allocation of positions in the schema (here
-- and in dcb_append_batch) happens holding one advisory lock exclusively,
-- session level, taken just around it and released at once (an exception
-- handler releases it on any error or cancel). Inside, the append takes
-- its positions, reads the server's clock (clock_timestamp(): the time
-- now, not the transaction's start, which came before the lock waits)
-- and records the later of it and the latest time issued, the sequence
-- dcb_last_recorded_at, which it sets to that. Sections run one at a time
-- and positions grow from one to the next, so along positions the times
-- never decrease, whatever the clock does, and the events of one append
-- are consecutive and share one time. The lock is one of the two-key
-- space (pg_advisory_lock(integer, integer)), which the client's keys
-- (bigint) never meet: no append holds it while it waits for another
-- lock, and none waits for it holding one it needs.
--
-- p_alloc_key is unused since migration 10 (the clock section orders
-- every allocation); it stays so that clients of earlier versions call
-- the function unchanged (they also take it shared, which nothing else
-- takes now). p_metadata and p_item_after (migration 11) come last
-- with defaults for them too.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier, and
-- `__SCHEMA_NAME__` by the schema's name, before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_append(
    p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[],
    p_locks bigint[], p_lock_modes boolean[], p_alloc_key bigint,
    p_condition boolean, p_cond_tags text[], p_cond_tag_counts integer[],
    p_cond_types text[], p_cond_type_counts integer[], p_after bigint,
    p_metadata jsonb[] DEFAULT NULL, p_item_after bigint[] DEFAULT NULL,
    OUT outcome text, OUT pos bigint, OUT dup_id uuid
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    n          integer := cardinality(p_types);
    v_any_id   boolean := p_ids IS NOT NULL AND cardinality(array_remove(p_ids, NULL)) > 0;
    v_conflict bigint;
    v_first    bigint;
    v_pos      bigint;
    v_micros   bigint;
    v_at       timestamptz;
    v_void     text;
    v_released boolean;
    v_offs     integer[] := '{}';
    v_off      integer := 0;
    v_toffs    integer[] := '{}';
    v_toff     integer := 0;
    r          record;
BEGIN
    -- 1. The locks, in one statement, in the order given.
    PERFORM CASE WHEN u.excl THEN pg_advisory_xact_lock(u.key)
                 ELSE pg_advisory_xact_lock_shared(u.key) END
    FROM unnest(p_locks, p_lock_modes) AS u(key, excl);

    -- 2. Idempotency.
    IF v_any_id THEN
        SELECT * INTO r FROM __SCHEMA__.dcb_idempotent(p_types, p_data, p_tags, p_tag_counts, p_ids);
        IF r.outcome IS NOT NULL THEN
            outcome := r.outcome;
            pos := r.pos;
            dup_id := r.dup_id;
            RETURN;
        END IF;
    END IF;

    -- 3. The condition, in a new statement: a snapshot taken after the locks.
    -- The common condition, items that all have tags (a decision's), is a
    -- static statement (its plan cached per session) selecting what
    -- dcb_match_sql would: per item the first match after p_after.
    IF p_condition AND cardinality(p_cond_tag_counts) = 1 AND p_cond_tag_counts[1] = 1 THEN
        -- One item with one tag: the plainest statement (an index-only scan).
        v_conflict := (
            SELECT t.position FROM __SCHEMA__.event_tags t
            WHERE t.tag = p_cond_tags[1] AND t.position > coalesce(p_item_after[1], p_after, 0)
              AND (p_cond_type_counts[1] = 0 OR t.event_type = ANY (p_cond_types))
            ORDER BY t.position LIMIT 1);
    ELSIF p_condition AND coalesce(cardinality(p_cond_tag_counts), 0) > 0
       AND 0 < ALL (p_cond_tag_counts) THEN
        FOR j IN 1..cardinality(p_cond_type_counts) LOOP
            v_offs := v_offs || v_off;
            v_off := v_off + p_cond_type_counts[j];
            v_toffs := v_toffs || v_toff;
            v_toff := v_toff + p_cond_tag_counts[j];
        END LOOP;
        SELECT min(t0.position) INTO v_conflict
        FROM generate_subscripts(p_cond_tag_counts, 1) AS s(n)
        CROSS JOIN LATERAL (
            SELECT t.position FROM __SCHEMA__.event_tags t
            WHERE t.tag = p_cond_tags[v_toffs[s.n] + 1]
              AND t.position > coalesce(p_item_after[s.n], p_after, 0)
              AND (p_cond_type_counts[s.n] = 0 OR t.event_type = ANY (
                   p_cond_types[v_offs[s.n] + 1 : v_offs[s.n] + p_cond_type_counts[s.n]]))
              AND (p_cond_tag_counts[s.n] = 1 OR (
                   SELECT y.tags FROM __SCHEMA__.events y WHERE y.position = t.position
                   ) @> p_cond_tags[v_toffs[s.n] + 2 : v_toffs[s.n] + p_cond_tag_counts[s.n]])
            ORDER BY t.position LIMIT 1
        ) t0;
    ELSIF p_condition AND p_item_after IS NOT NULL THEN
        -- Items of their own positions, some without tags: item by item.
        FOR j IN 1..cardinality(p_cond_type_counts) LOOP
            EXECUTE 'SELECT min(m.position) FROM ('
                    || __SCHEMA__.dcb_match_sql(ARRAY[p_cond_tag_counts[j]],
                                                ARRAY[p_cond_type_counts[j]], 'ASC', false)
                    || ') m'
            INTO v_pos
            USING p_cond_tags[v_toff + 1 : v_toff + p_cond_tag_counts[j]],
                  p_cond_types[v_off + 1 : v_off + p_cond_type_counts[j]],
                  coalesce(p_item_after[j], 0);
            v_conflict := least(v_conflict, v_pos);
            v_off := v_off + p_cond_type_counts[j];
            v_toff := v_toff + p_cond_tag_counts[j];
        END LOOP;
    ELSIF p_condition THEN
        EXECUTE 'SELECT min(m.position) FROM ('
                || __SCHEMA__.dcb_match_sql(p_cond_tag_counts, p_cond_type_counts, 'ASC', false)
                || ') m'
        INTO v_conflict
        USING p_cond_tags, p_cond_types, coalesce(p_after, 0);
    END IF;
    IF v_conflict IS NOT NULL THEN
        outcome := 'conflict';
        pos := v_conflict;
        RETURN;
    END IF;

    -- 4. The clock section: the positions, consecutive, and the time, the
    -- later of the clock and the latest issued, in microseconds.
    BEGIN
        v_void := pg_advisory_lock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
        IF n = 1 THEN
            v_first := nextval('__SCHEMA__.dcb_positions');
        ELSE
            SELECT min(s.p) INTO v_first
            FROM (SELECT nextval('__SCHEMA__.dcb_positions') AS p FROM generate_series(1, n)) s;
        END IF;
        v_micros := setval('__SCHEMA__.dcb_last_recorded_at', greatest(
            pg_sequence_last_value('__SCHEMA__.dcb_last_recorded_at'),
            (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
        v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
        RAISE;
    END;
    -- Exact to the microsecond up to the year 2255, and never decreasing.
    v_at := timestamptz 'epoch' + v_micros * interval '1 microsecond';

    IF v_any_id THEN
        BEGIN
            PERFORM __SCHEMA__.dcb_insert(v_first, p_types, p_data, p_tags, p_tag_counts, p_ids,
                                          p_metadata, v_at);
        EXCEPTION WHEN unique_violation THEN
            -- A concurrent append stored one of the ids first (and has
            -- committed: the unique check waited for it).
            SELECT * INTO r FROM __SCHEMA__.dcb_idempotent(p_types, p_data, p_tags, p_tag_counts, p_ids);
            IF r.outcome IS NULL THEN
                RAISE;
            END IF;
            outcome := r.outcome;
            pos := r.pos;
            dup_id := r.dup_id;
            RETURN;
        END;
    ELSIF n = 1 THEN
        INSERT INTO __SCHEMA__.events (position, event_type, data, tags, id, recorded_at, metadata)
        VALUES (v_first, p_types[1], p_data[1], p_tags, NULL, v_at, p_metadata[1]);
        INSERT INTO __SCHEMA__.event_tags (tag, position, event_type)
        SELECT t, v_first, p_types[1] FROM unnest(p_tags) AS t;
    ELSE
        PERFORM __SCHEMA__.dcb_insert(v_first, p_types, p_data, p_tags, p_tag_counts, p_ids,
                                      p_metadata, v_at);
    END IF;
    outcome := 'ok';
    pos := v_first + n - 1;
END
$fn$;
