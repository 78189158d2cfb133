-- dcb PostgreSQL store, migration 2: cheaper appends and reads.
--
-- - The advisory-lock keys are computed by the client (a stable 64-bit hash
--   of the schema and the tag or type, see `postgres/locks.rs`) and passed
--   in the order to take them, so the config row and the key-building query
--   are gone.
-- - The "writers in flight" barrier is the global key: every append holds
--   it (shared, or exclusive when it needs the global boundary) first, a
--   read takes it exclusively.
-- - The allocation of consecutive positions for a multi-event append no
--   longer makes single-event appends take and release a session lock: they
--   hold the allocation key shared until commit (last of their locks), a
--   multi-event append takes it exclusively just around its `nextval`s.
-- - The tag index carries the event type (index-only condition checks and
--   type filters); the id index is partial (events without id add no entry).
-- - The insert is inlined into dcb_append, with a plain path for one event.
-- - Decision reads and head() are plain statements sent by the client right
--   after the barrier lock (see postgres/mod.rs); dcb_head is gone, dcb_read
--   remains for limited reads and items without tags.
-- See the section "The PostgreSQL store" of docs/design.md.

DROP FUNCTION __SCHEMA__.dcb_append(text[], bytea[], text[], integer[], uuid[], boolean, text[],
                                    integer[], text[], integer[], bigint);
DROP FUNCTION __SCHEMA__.dcb_insert(bigint, text[], bytea[], text[], integer[], uuid[]);
DROP FUNCTION __SCHEMA__.dcb_read(text[], integer[], text[], integer[], bigint, bigint, boolean);
DROP FUNCTION __SCHEMA__.dcb_head();
DROP TABLE __SCHEMA__.dcb_config;

ALTER TABLE __SCHEMA__.event_tags DROP CONSTRAINT event_tags_pkey;
ALTER TABLE __SCHEMA__.event_tags ADD CONSTRAINT event_tags_pkey
    PRIMARY KEY (tag, position) INCLUDE (event_type);

ALTER TABLE __SCHEMA__.events DROP CONSTRAINT events_id_key;
CREATE UNIQUE INDEX events_id ON __SCHEMA__.events (id) WHERE id IS NOT NULL;

-- Reads: the first row is the head (pos = the snapshot's last position or
-- NULL, event_type NULL), then the matching events in order. p_barrier is
-- the global key: taken exclusively (session level), it waits until no
-- append is in flight and holds new appends back while the snapshot is
-- taken, so no position below the head can still appear later. It is
-- released before the rows leave the server (a PL/pgSQL set-returning
-- function materialises its rows first).
CREATE FUNCTION __SCHEMA__.dcb_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[],
    p_after bigint, p_limit bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_dir  text := CASE WHEN p_backwards THEN 'DESC' ELSE 'ASC' END;
    v_sql  text;
    -- Unlimited reads whose items all have tags (a decision's reads) run a
    -- static statement, whose plan is cached per session; the others build
    -- their SQL with dcb_match_sql. `OFFSET 0` keeps the lateral subqueries
    -- from being flattened, so that the plan stays one index range scan per
    -- item and one primary-key lookup per match.
    v_static boolean := p_limit IS NULL AND coalesce(cardinality(p_tag_counts), 0) > 0
                        AND 0 < ALL (p_tag_counts);
    v_offs  integer[] := '{}';
    v_off   integer := 0;
    v_toffs integer[] := '{}';
    v_toff  integer := 0;
BEGIN
    IF v_static THEN
        FOR j IN 1..cardinality(p_type_counts) LOOP
            v_offs := v_offs || v_off;
            v_off := v_off + p_type_counts[j];
            v_toffs := v_toffs || v_toff;
            v_toff := v_toff + p_tag_counts[j];
        END LOOP;
    ELSE
        v_sql := 'SELECT e.position, e.event_type, e.data, e.tags, e.id FROM __SCHEMA__.events e '
                 'WHERE e.position IN ('
                 || __SCHEMA__.dcb_match_sql(p_tag_counts, p_type_counts, v_dir, p_limit IS NOT NULL)
                 || ') ORDER BY e.position ' || v_dir;
        IF p_limit IS NOT NULL THEN
            v_sql := v_sql || ' LIMIT $4';
        END IF;
    END IF;
    PERFORM pg_advisory_lock(p_barrier);
    BEGIN
        pos := (SELECT max(x.position) FROM __SCHEMA__.events x);
        RETURN NEXT;
        IF v_static THEN
            RETURN QUERY
            SELECT e.position, e.event_type, e.data, e.tags, e.id
            FROM (SELECT DISTINCT t0.position
                  FROM generate_subscripts(p_tag_counts, 1) AS s(n)
                  CROSS JOIN LATERAL (
                      SELECT t.position FROM __SCHEMA__.event_tags t
                      WHERE t.tag = p_tags[v_toffs[s.n] + 1] AND t.position > coalesce(p_after, 0)
                        AND (p_type_counts[s.n] = 0 OR t.event_type = ANY (
                             p_types[v_offs[s.n] + 1 : v_offs[s.n] + p_type_counts[s.n]]))
                      OFFSET 0
                  ) t0) m
            CROSS JOIN LATERAL (
                SELECT x.position, x.event_type, x.data, x.tags, x.id
                FROM __SCHEMA__.events x WHERE x.position = m.position OFFSET 0
            ) e
            -- An item's further tags are checked on the event itself, which
            -- is fetched anyway.
            WHERE EXISTS (
                SELECT 1 FROM generate_subscripts(p_tag_counts, 1) AS s2(n)
                WHERE e.tags @> p_tags[v_toffs[s2.n] + 1 : v_toffs[s2.n] + p_tag_counts[s2.n]]
                  AND (p_type_counts[s2.n] = 0 OR e.event_type = ANY (
                       p_types[v_offs[s2.n] + 1 : v_offs[s2.n] + p_type_counts[s2.n]])))
            -- One statement, one cached plan, for both directions.
            ORDER BY CASE WHEN p_backwards THEN -e.position ELSE e.position END;
        ELSE
            RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit;
        END IF;
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM pg_advisory_unlock(p_barrier);
            RAISE;
        WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(p_barrier);
            RAISE;
    END;
    PERFORM pg_advisory_unlock(p_barrier);
END
$fn$;

-- The conditional append, in one call and one transaction:
--   1. the advisory locks p_locks (transaction level) in the order given,
--      exclusive where p_lock_modes says so: first the global key (the
--      "writer in flight" barrier that reads take exclusively), then the
--      boundary keys in ascending order (exclusive: one per condition item;
--      shared: every tag and type of the new events), then, for a
--      single-event append, the allocation key p_alloc_key shared;
--   2. idempotency, when an event carries an id;
--   3. the condition, in a new statement (a fresh snapshot, after the
--      locks);
--   4. positions from the sequence, consecutive for one append (a
--      multi-event append takes p_alloc_key exclusively, session level,
--      just around its nextvals), and the insert.
-- Outcome: 'ok' (pos = last position), 'conflict' (pos = the first
-- conflicting position) or 'duplicate' (dup_id stored at pos).
CREATE FUNCTION __SCHEMA__.dcb_append(
    p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[],
    p_locks bigint[], p_lock_modes boolean[], p_alloc_key bigint,
    p_condition boolean, p_cond_tags text[], p_cond_tag_counts integer[],
    p_cond_types text[], p_cond_type_counts integer[], p_after bigint,
    OUT outcome text, OUT pos bigint, OUT dup_id uuid
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    n          integer := cardinality(p_types);
    v_any_id   boolean := p_ids IS NOT NULL AND cardinality(array_remove(p_ids, NULL)) > 0;
    v_conflict bigint;
    v_first    bigint;
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
            WHERE t.tag = p_cond_tags[1] AND t.position > coalesce(p_after, 0)
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
            WHERE t.tag = p_cond_tags[v_toffs[s.n] + 1] AND t.position > coalesce(p_after, 0)
              AND (p_cond_type_counts[s.n] = 0 OR t.event_type = ANY (
                   p_cond_types[v_offs[s.n] + 1 : v_offs[s.n] + p_cond_type_counts[s.n]]))
              AND (p_cond_tag_counts[s.n] = 1 OR (
                   SELECT y.tags FROM __SCHEMA__.events y WHERE y.position = t.position
                   ) @> p_cond_tags[v_toffs[s.n] + 2 : v_toffs[s.n] + p_cond_tag_counts[s.n]])
            ORDER BY t.position LIMIT 1
        ) t0;
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

    -- 4. Consecutive positions: one nextval is atomic (and this append holds
    -- the allocation key shared); several are taken under the allocation
    -- key held exclusively, so no other allocation interleaves.
    IF n = 1 THEN
        v_first := nextval('__SCHEMA__.dcb_positions');
    ELSE
        BEGIN
            PERFORM pg_advisory_lock(p_alloc_key);
            SELECT min(s.p) INTO v_first
            FROM (SELECT nextval('__SCHEMA__.dcb_positions') AS p FROM generate_series(1, n)) s;
            PERFORM pg_advisory_unlock(p_alloc_key);
        EXCEPTION
            WHEN query_canceled THEN
                PERFORM pg_advisory_unlock(p_alloc_key);
                RAISE;
            WHEN OTHERS THEN
                PERFORM pg_advisory_unlock(p_alloc_key);
                RAISE;
        END;
    END IF;

    IF v_any_id THEN
        BEGIN
            PERFORM __SCHEMA__.dcb_insert(v_first, p_types, p_data, p_tags, p_tag_counts, p_ids);
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
        INSERT INTO __SCHEMA__.events (position, event_type, data, tags, id)
        VALUES (v_first, p_types[1], p_data[1], p_tags, NULL);
        INSERT INTO __SCHEMA__.event_tags (tag, position, event_type)
        SELECT t, v_first, p_types[1] FROM unnest(p_tags) AS t;
    ELSE
        PERFORM __SCHEMA__.dcb_insert(v_first, p_types, p_data, p_tags, p_tag_counts, p_ids);
    END IF;
    outcome := 'ok';
    pos := v_first + n - 1;
END
$fn$;

-- Inserts the events at p_first, p_first + 1, … and their tag rows.
CREATE FUNCTION __SCHEMA__.dcb_insert(
    p_first bigint, p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[]
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    WITH ev AS (
        SELECT p_first + u.ord - 1 AS position, u.event_type, u.data, u.id,
               coalesce(p_tags[(sum(u.cnt) OVER w - u.cnt + 1)::integer : (sum(u.cnt) OVER w)::integer],
                        '{}') AS tags
        FROM unnest(p_types, p_data, p_tag_counts, p_ids)
             WITH ORDINALITY AS u(event_type, data, cnt, id, ord)
        WINDOW w AS (ORDER BY u.ord)
    ), ins AS (
        INSERT INTO __SCHEMA__.events (position, event_type, data, tags, id)
        SELECT ev.position, ev.event_type, ev.data, ev.tags, ev.id FROM ev
        RETURNING position, event_type, tags
    )
    INSERT INTO __SCHEMA__.event_tags (tag, position, event_type)
    SELECT unnest(ins.tags), ins.position, ins.event_type FROM ins;
END
$fn$;
