-- dcb PostgreSQL store, migration 1: tables, indexes and the server-side
-- functions. `__SCHEMA__` is replaced by the quoted schema identifier and
-- `__SCHEMA_NAME__` by the bare (validated: [a-z_][a-z0-9_]*) schema name
-- before this file runs; no other text is substituted. See the section "The
-- PostgreSQL store" of docs/design.md for the concurrency argument.

-- One row: the 32-bit key of this schema's advisory locks. (K, 0) is the
-- "writers in flight" lock (writers shared, readers exclusive), (K, 1)
-- guards the allocation of consecutive positions, and K seeds the hashed
-- boundary keys.
CREATE TABLE __SCHEMA__.dcb_config (
    lock_key integer NOT NULL
);
INSERT INTO __SCHEMA__.dcb_config (lock_key) VALUES (hashtext('dcb:__SCHEMA_NAME__'));

-- Positions: a sequence, so gaps appear where an append that allocated
-- positions failed (condition, duplicate id, lost connection).
CREATE SEQUENCE __SCHEMA__.dcb_positions AS bigint MINVALUE 1 START 1 NO CYCLE;

CREATE TABLE __SCHEMA__.events (
    position   bigint PRIMARY KEY,
    event_type text   NOT NULL,
    data       bytea  NOT NULL,
    tags       text[] NOT NULL,
    id         uuid   UNIQUE
);
CREATE INDEX events_type_position ON __SCHEMA__.events (event_type, position);

-- One row per (tag, event): the B-tree that a tagged query item range-scans
-- with `position > after`. The event's type rides along so that a typed
-- item filters without visiting the events table.
CREATE TABLE __SCHEMA__.event_tags (
    tag        text   NOT NULL,
    position   bigint NOT NULL,
    event_type text   NOT NULL,
    PRIMARY KEY (tag, position)
);

-- The SQL text selecting the positions that match a query, given only the
-- shape of the query: per item the number of tags and of types. The values
-- stay parameters: $1 text[] (all items' tags, item after item), $2 text[]
-- (all items' types), $3 bigint (after; 0 for none), $4 bigint (the limit,
-- referenced only when p_limited). `p_dir` is 'ASC' or 'DESC'.
CREATE FUNCTION __SCHEMA__.dcb_match_sql(
    p_tag_counts integer[], p_type_counts integer[], p_dir text, p_limited boolean
) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    n        integer := coalesce(cardinality(p_tag_counts), 0);
    parts    text[]  := '{}';
    q        text;
    tag_off  integer := 0;
    type_off integer := 0;
    tc       integer;
    yc       integer;
BEGIN
    IF p_dir NOT IN ('ASC', 'DESC') THEN
        RAISE EXCEPTION 'dcb_match_sql: direction must be ASC or DESC';
    END IF;
    IF n = 0 THEN
        q := 'SELECT t0.position FROM __SCHEMA__.events t0 WHERE t0.position > $3';
        IF p_limited THEN
            q := q || ' ORDER BY t0.position ' || p_dir || ' LIMIT $4';
        END IF;
        RETURN q;
    END IF;
    FOR i IN 1..n LOOP
        tc := p_tag_counts[i];
        yc := p_type_counts[i];
        IF tc > 0 THEN
            q := format('SELECT t0.position FROM __SCHEMA__.event_tags t0 '
                        'WHERE t0.tag = $1[%s] AND t0.position > $3', tag_off + 1);
            FOR j IN 2..tc LOOP
                q := q || format(' AND EXISTS (SELECT 1 FROM __SCHEMA__.event_tags t%s '
                                 'WHERE t%s.tag = $1[%s] AND t%s.position = t0.position)',
                                 j, j, tag_off + j, j);
            END LOOP;
            IF yc > 0 THEN
                q := q || format(' AND t0.event_type = ANY ($2[%s:%s])', type_off + 1, type_off + yc);
            END IF;
        ELSIF yc > 0 THEN
            q := format('SELECT t0.position FROM __SCHEMA__.events t0 '
                        'WHERE t0.event_type = ANY ($2[%s:%s]) AND t0.position > $3',
                        type_off + 1, type_off + yc);
        ELSE
            q := 'SELECT t0.position FROM __SCHEMA__.events t0 WHERE t0.position > $3';
        END IF;
        IF p_limited THEN
            q := '(' || q || ' ORDER BY t0.position ' || p_dir || ' LIMIT $4)';
        END IF;
        parts := parts || q;
        tag_off := tag_off + tc;
        type_off := type_off + yc;
    END LOOP;
    RETURN array_to_string(parts, ' UNION ');
END
$fn$;

-- Reads: the first row is the head (pos = the snapshot's last
-- position or NULL, event_type NULL), then the matching events in order.
-- The exclusive session lock (K, 0) waits until no append is in flight and
-- holds new appends back while the snapshot is taken, so no position below
-- the head can still appear later.
CREATE FUNCTION __SCHEMA__.dcb_read(
    p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[],
    p_after bigint, p_limit bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    k      integer;
    v_head bigint;
    v_dir  text := CASE WHEN p_backwards THEN 'DESC' ELSE 'ASC' END;
    v_sql  text;
    -- Unlimited reads whose items all have tags (a decision's reads) run
    -- static statements, whose plans are cached per session; the
    -- others build their SQL with dcb_match_sql. `OFFSET 0` keeps the
    -- lateral subqueries from being flattened, so that the plan stays one
    -- index range scan per item and one primary-key lookup per match.
    v_static boolean := p_limit IS NULL AND coalesce(cardinality(p_tag_counts), 0) > 0
                        AND 0 < ALL (p_tag_counts);
    v_offs  integer[] := '{}';
    v_off   integer := 0;
    v_toffs integer[] := '{}';
    v_toff  integer := 0;
BEGIN
    SELECT c.lock_key INTO STRICT k FROM __SCHEMA__.dcb_config c;
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
    PERFORM pg_advisory_lock(k, 0);
    BEGIN
        SELECT max(x.position) INTO v_head FROM __SCHEMA__.events x;
        pos := v_head;
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
                        AND (p_tag_counts[s.n] = 1 OR (
                             SELECT y.tags FROM __SCHEMA__.events y WHERE y.position = t.position
                             ) @> p_tags[v_toffs[s.n] + 2 : v_toffs[s.n] + p_tag_counts[s.n]])
                      OFFSET 0
                  ) t0) m
            CROSS JOIN LATERAL (
                SELECT x.position, x.event_type, x.data, x.tags, x.id
                FROM __SCHEMA__.events x WHERE x.position = m.position OFFSET 0
            ) e
            -- One statement, one cached plan, for both directions.
            ORDER BY CASE WHEN p_backwards THEN -e.position ELSE e.position END;
        ELSE
            RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit;
        END IF;
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM pg_advisory_unlock(k, 0);
            RAISE;
        WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(k, 0);
            RAISE;
    END;
    PERFORM pg_advisory_unlock(k, 0);
END
$fn$;

-- The head: the last position once no append is in flight.
CREATE FUNCTION __SCHEMA__.dcb_head() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    k      integer;
    v_head bigint;
BEGIN
    SELECT c.lock_key INTO STRICT k FROM __SCHEMA__.dcb_config c;
    PERFORM pg_advisory_lock(k, 0);
    BEGIN
        SELECT max(x.position) INTO v_head FROM __SCHEMA__.events x;
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM pg_advisory_unlock(k, 0);
            RAISE;
        WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(k, 0);
            RAISE;
    END;
    PERFORM pg_advisory_unlock(k, 0);
    RETURN v_head;
END
$fn$;

-- Idempotency: NULL outcome when no id of the append is stored; 'ok' with
-- the original last position when every event has an id and exactly these
-- events are stored at consecutive positions; otherwise 'duplicate' with
-- the first (in append order) stored id and its position.
CREATE FUNCTION __SCHEMA__.dcb_idempotent(
    p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[],
    OUT outcome text, OUT pos bigint, OUT dup_id uuid
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    n      integer := cardinality(p_types);
    v_ord  bigint;
    v_pos  bigint;
    v_id   uuid;
    v_same bigint;
BEGIN
    SELECT u.ord, e.position, e.id INTO v_ord, v_pos, v_id
    FROM unnest(p_ids) WITH ORDINALITY AS u(id, ord)
    JOIN __SCHEMA__.events e ON e.id = u.id
    ORDER BY u.ord
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_ord = 1 AND array_position(p_ids, NULL) IS NULL THEN
        SELECT count(*) INTO v_same
        FROM (
            SELECT u.ord, u.event_type, u.data, u.id,
                   p_tags[(sum(u.cnt) OVER w - u.cnt + 1)::integer : (sum(u.cnt) OVER w)::integer] AS tags
            FROM unnest(p_types, p_data, p_tag_counts, p_ids)
                 WITH ORDINALITY AS u(event_type, data, cnt, id, ord)
            WINDOW w AS (ORDER BY u.ord)
        ) a
        JOIN __SCHEMA__.events e ON e.position = v_pos + a.ord - 1
        WHERE e.id = a.id AND e.event_type = a.event_type AND e.data = a.data AND e.tags = a.tags;
        IF v_same = n THEN
            outcome := 'ok';
            pos := v_pos + n - 1;
            RETURN;
        END IF;
    END IF;
    outcome := 'duplicate';
    pos := v_pos;
    dup_id := v_id;
END
$fn$;

-- The conditional append, in one call and one transaction:
--   1. (K, 0) shared: this writer is in flight (readers wait for it);
--   2. idempotency;
--   3. the boundary locks, in key order: exclusive on one key per
--      condition item, shared on every tag and type of the new events and
--      on the global key;
--   4. the condition, in a new statement (a fresh snapshot);
--   5. positions from the sequence, consecutive for one append, and the
--      insert.
-- Outcome: 'ok' (pos = last position), 'conflict' (pos = the first
-- conflicting position) or 'duplicate' (dup_id stored at pos).
CREATE FUNCTION __SCHEMA__.dcb_append(
    p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[],
    p_condition boolean, p_cond_tags text[], p_cond_tag_counts integer[],
    p_cond_types text[], p_cond_type_counts integer[], p_after bigint,
    OUT outcome text, OUT pos bigint, OUT dup_id uuid
) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    k          integer;
    n          integer := cardinality(p_types);
    v_any_id   boolean := cardinality(array_remove(p_ids, NULL)) > 0;
    v_keys     bigint[];
    v_modes    boolean[];
    v_conflict bigint;
    v_first    bigint;
    v_offs     integer[] := '{}';
    v_off      integer := 0;
    v_toffs    integer[] := '{}';
    v_toff     integer := 0;
    r          record;
BEGIN
    SELECT c.lock_key INTO STRICT k FROM __SCHEMA__.dcb_config c;
    -- 1. A writer in flight.
    PERFORM pg_advisory_xact_lock_shared(k, 0);

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

    -- 3. Boundary locks, sorted, each key once in its strongest mode. An
    -- append that would need more than 32 keys takes the global key
    -- exclusively instead: every append holds the global key at least
    -- shared, so that conflicts with all of them, and the lock table (sized
    -- by max_locks_per_transaction) is not exhausted by one large append.
    WITH items AS (
        SELECT u.tc, u.yc,
               (sum(u.tc) OVER w - u.tc)::integer AS toff,
               (sum(u.yc) OVER w - u.yc)::integer AS yoff
        FROM unnest(p_cond_tag_counts, p_cond_type_counts) WITH ORDINALITY AS u(tc, yc, ord)
        WHERE p_condition
        WINDOW w AS (ORDER BY u.ord)
    ), wanted(key, excl) AS (
        SELECT hashtextextended('*', k), false
        UNION ALL
        SELECT DISTINCT hashtextextended('t' || t, k), false FROM unnest(p_tags) AS t
        UNION ALL
        SELECT DISTINCT hashtextextended('y' || y, k), false FROM unnest(p_types) AS y
        UNION ALL
        SELECT hashtextextended('*', k), true
        WHERE p_condition AND coalesce(cardinality(p_cond_tag_counts), 0) = 0
        UNION ALL
        SELECT hashtextextended('t' || p_cond_tags[i.toff + 1], k), true
        FROM items i WHERE i.tc > 0
        UNION ALL
        SELECT hashtextextended('y' || p_cond_types[i.yoff + g], k), true
        FROM items i, generate_series(1, i.yc) AS g WHERE i.tc = 0
        UNION ALL
        SELECT hashtextextended('*', k), true
        FROM items i WHERE i.tc = 0 AND i.yc = 0
    ), keyed AS (
        SELECT w.key, bool_or(w.excl) AS excl FROM wanted w GROUP BY w.key
    )
    SELECT array_agg(keyed.key ORDER BY keyed.key), array_agg(keyed.excl ORDER BY keyed.key)
    INTO v_keys, v_modes
    FROM keyed;
    IF cardinality(v_keys) > 32 THEN
        v_keys := ARRAY[hashtextextended('*', k)];
        v_modes := ARRAY[true];
    END IF;
    FOR i IN 1..cardinality(v_keys) LOOP
        IF v_modes[i] THEN
            PERFORM pg_advisory_xact_lock(v_keys[i]);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(v_keys[i]);
        END IF;
    END LOOP;

    -- 4. The condition, in a new statement: a snapshot taken after the locks.
    -- The common condition, items that all have tags (a decision's), is a
    -- static statement (its plan cached per session) selecting what
    -- dcb_match_sql would: per item the first match after p_after.
    IF p_condition AND cardinality(p_cond_tag_counts) = 1 AND p_cond_tag_counts[1] = 1 THEN
        -- One item with one tag: the plainest statement.
        SELECT min(t.position) INTO v_conflict
        FROM __SCHEMA__.event_tags t
        WHERE t.tag = p_cond_tags[1] AND t.position > coalesce(p_after, 0)
          AND (p_cond_type_counts[1] = 0 OR t.event_type = ANY (p_cond_types));
        IF v_conflict IS NOT NULL THEN
            outcome := 'conflict';
            pos := v_conflict;
            RETURN;
        END IF;
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
        IF v_conflict IS NOT NULL THEN
            outcome := 'conflict';
            pos := v_conflict;
            RETURN;
        END IF;
    ELSIF p_condition THEN
        EXECUTE 'SELECT min(m.position) FROM ('
                || __SCHEMA__.dcb_match_sql(p_cond_tag_counts, p_cond_type_counts, 'ASC', false)
                || ') m'
        INTO v_conflict
        USING p_cond_tags, p_cond_types, coalesce(p_after, 0);
        IF v_conflict IS NOT NULL THEN
            outcome := 'conflict';
            pos := v_conflict;
            RETURN;
        END IF;
    END IF;

    -- 5. Consecutive positions: one nextval is atomic; several are taken
    -- under the exclusive (K, 1) session lock, which single allocations take
    -- shared, so no other allocation interleaves.
    BEGIN
        IF n = 1 THEN
            PERFORM pg_advisory_lock_shared(k, 1);
            v_first := nextval('__SCHEMA__.dcb_positions');
            PERFORM pg_advisory_unlock_shared(k, 1);
        ELSE
            PERFORM pg_advisory_lock(k, 1);
            SELECT min(s.p) INTO v_first
            FROM (SELECT nextval('__SCHEMA__.dcb_positions') AS p FROM generate_series(1, n)) s;
            PERFORM pg_advisory_unlock(k, 1);
        END IF;
    EXCEPTION
        WHEN query_canceled THEN
            PERFORM pg_advisory_unlock_all();
            RAISE;
        WHEN OTHERS THEN
            PERFORM pg_advisory_unlock_all();
            RAISE;
    END;

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
    ELSE
        PERFORM __SCHEMA__.dcb_insert(v_first, p_types, p_data, p_tags, p_tag_counts, p_ids);
    END IF;
    outcome := 'ok';
    pos := v_first + n - 1;
END
$fn$;

-- Inserts the events at v_first, v_first + 1, … and their tag rows.
-- PL/pgSQL rather than SQL: a SQL function's body is planned again on
-- every call, a PL/pgSQL static statement's plan is cached per session.
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
