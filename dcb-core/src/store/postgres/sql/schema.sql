-- dcb PostgreSQL store: the schema that the numbered migrations
-- (sql/migrations/) and the server functions (sql/functions/) make, as the
-- server's catalog describes it, the schema's name written __SCHEMA__.
-- Written by the test postgres_schema (tests/tests/it/postgres_schema.rs),
-- which checks that a freshly migrated schema, and schemas made by earlier
-- versions and migrated forward, are exactly this. Nothing runs this file.
-- After a change to the migrations or the functions, rewrite it with
--   DCB_SCHEMA=overwrite cargo test -p dcb-tests --test it postgres_schema
-- and review the diff.

-- Migrations recorded in __SCHEMA__.dcb_migrations:
--   1 init
--   2 fast_paths
--   3 read_models
--   4 append_batches
--   5 decision_read
--   6 decision_read_by_first_tags
--   7 limited_reads_by_position
--   8 read_barrier_before_planning
--   9 read_model_fingerprints
--   10 recorded_at_and_metadata
--   11 condition_item_positions
--   12 batched_condition_item_positions
--   13 decision_reads_in_rounds
--   14 reads_in_rounds
--   15 decision_reads_lock_their_boundary
--   16 reads_lock_their_boundary

CREATE TABLE __SCHEMA__.dcb_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE __SCHEMA__.dcb_migrations ADD CONSTRAINT dcb_migrations_pkey PRIMARY KEY (version);
CREATE UNIQUE INDEX dcb_migrations_pkey ON __SCHEMA__.dcb_migrations USING btree (version);

CREATE TABLE __SCHEMA__.dcb_read_models (
    name text NOT NULL,
    checkpoint bigint NOT NULL,
    model jsonb NOT NULL,
    saved_at timestamp with time zone DEFAULT now() NOT NULL,
    checkpoint_event jsonb
);
ALTER TABLE __SCHEMA__.dcb_read_models ADD CONSTRAINT dcb_read_models_checkpoint_check CHECK ((checkpoint > 0));
ALTER TABLE __SCHEMA__.dcb_read_models ADD CONSTRAINT dcb_read_models_pkey PRIMARY KEY (name);
CREATE UNIQUE INDEX dcb_read_models_pkey ON __SCHEMA__.dcb_read_models USING btree (name);

CREATE TABLE __SCHEMA__.event_tags (
    tag text NOT NULL,
    "position" bigint NOT NULL,
    event_type text NOT NULL
);
ALTER TABLE __SCHEMA__.event_tags ADD CONSTRAINT event_tags_pkey PRIMARY KEY (tag, "position") INCLUDE (event_type);
CREATE UNIQUE INDEX event_tags_pkey ON __SCHEMA__.event_tags USING btree (tag, "position") INCLUDE (event_type);

CREATE TABLE __SCHEMA__.events (
    "position" bigint NOT NULL,
    event_type text NOT NULL,
    data bytea NOT NULL,
    tags text[] NOT NULL,
    id uuid,
    recorded_at timestamp with time zone,
    metadata jsonb
);
ALTER TABLE __SCHEMA__.events ADD CONSTRAINT events_pkey PRIMARY KEY ("position");
CREATE UNIQUE INDEX events_id ON __SCHEMA__.events USING btree (id) WHERE (id IS NOT NULL);
CREATE UNIQUE INDEX events_pkey ON __SCHEMA__.events USING btree ("position");
CREATE INDEX events_type_position ON __SCHEMA__.events USING btree (event_type, "position");

CREATE SEQUENCE __SCHEMA__.dcb_last_recorded_at AS bigint START -9223372036854775808 INCREMENT 1 MINVALUE -9223372036854775808 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE;

CREATE SEQUENCE __SCHEMA__.dcb_positions AS bigint START 1 INCREMENT 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_append(p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[], p_locks bigint[], p_lock_modes boolean[], p_alloc_key bigint, p_condition boolean, p_cond_tags text[], p_cond_tag_counts integer[], p_cond_types text[], p_cond_type_counts integer[], p_after bigint, p_metadata jsonb[] DEFAULT NULL::jsonb[], p_item_after bigint[] DEFAULT NULL::bigint[], OUT outcome text, OUT pos bigint, OUT dup_id uuid)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
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
        v_void := pg_advisory_lock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
        IF n = 1 THEN
            v_first := nextval('__SCHEMA__.dcb_positions');
        ELSE
            SELECT min(s.p) INTO v_first
            FROM (SELECT nextval('__SCHEMA__.dcb_positions') AS p FROM generate_series(1, n)) s;
        END IF;
        v_micros := setval('__SCHEMA__.dcb_last_recorded_at', greatest(
            pg_sequence_last_value('__SCHEMA__.dcb_last_recorded_at'),
            (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
        v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
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
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_append_batch(p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_locks bigint[], p_lock_modes boolean[], p_cond_items integer[], p_cond_tag_counts integer[], p_cond_type_counts integer[], p_cond_ntags integer[], p_cond_tags text[], p_cond_ntypes integer[], p_cond_types text[], p_after bigint[], p_metadata jsonb[] DEFAULT NULL::jsonb[], p_item_after bigint[] DEFAULT NULL::bigint[], OUT outcomes text[], OUT positions bigint[])
 RETURNS record
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
DECLARE
    v_tag      integer := 0;  -- the append's first tag in p_tags, less one
    v_item     integer := 0;  -- its condition's first item, less one
    v_ctag     integer := 0;  -- that condition's first tag in p_cond_tags, less one
    v_ctype    integer := 0;  -- and first type in p_cond_types, less one
    v_items    integer;
    v_after    bigint[];  -- its items' positions (NULL: p_after[i] for each)
    v_off      integer;
    v_toff     integer;
    v_tags     text[];
    v_tcounts  integer[];
    v_types    text[];
    v_ycounts  integer[];
    v_offs     integer[];
    v_toffs    integer[];
    v_conflict bigint;
    v_pos      bigint;
    v_micros   bigint;
    v_void     text;
    v_released boolean;
BEGIN
    PERFORM CASE WHEN u.excl THEN pg_advisory_xact_lock(u.key)
                 ELSE pg_advisory_xact_lock_shared(u.key) END
    FROM unnest(p_locks, p_lock_modes) AS u(key, excl);

    outcomes := '{}';
    positions := '{}';
    FOR i IN 1..cardinality(p_types) LOOP
        v_conflict := NULL;
        v_items := p_cond_items[i];
        IF v_items >= 0 THEN
            v_tags := p_cond_tags[v_ctag + 1 : v_ctag + p_cond_ntags[i]];
            v_tcounts := p_cond_tag_counts[v_item + 1 : v_item + v_items];
            v_types := p_cond_types[v_ctype + 1 : v_ctype + p_cond_ntypes[i]];
            v_ycounts := p_cond_type_counts[v_item + 1 : v_item + v_items];
            v_after := p_item_after[v_item + 1 : v_item + v_items];
            v_item := v_item + v_items;
            v_ctag := v_ctag + p_cond_ntags[i];
            v_ctype := v_ctype + p_cond_ntypes[i];
            IF v_items = 1 AND v_tcounts[1] = 1 THEN
                -- One item with one tag: an index-only scan.
                v_conflict := (
                    SELECT t.position FROM __SCHEMA__.event_tags t
                    WHERE t.tag = v_tags[1] AND t.position > coalesce(v_after[1], p_after[i])
                      AND (v_ycounts[1] = 0 OR t.event_type = ANY (v_types))
                    ORDER BY t.position LIMIT 1);
            ELSIF v_items > 0 AND 0 < ALL (v_tcounts) THEN
                -- Items that all have tags: per item its first match.
                v_offs := '{}';
                v_toffs := '{}';
                FOR j IN 1..v_items LOOP
                    v_offs := v_offs || coalesce(v_offs[j - 1] + v_ycounts[j - 1], 0);
                    v_toffs := v_toffs || coalesce(v_toffs[j - 1] + v_tcounts[j - 1], 0);
                END LOOP;
                SELECT min(t0.position) INTO v_conflict
                FROM generate_subscripts(v_tcounts, 1) AS s(n)
                CROSS JOIN LATERAL (
                    SELECT t.position FROM __SCHEMA__.event_tags t
                    WHERE t.tag = v_tags[v_toffs[s.n] + 1]
                      AND t.position > coalesce(v_after[s.n], p_after[i])
                      AND (v_ycounts[s.n] = 0 OR t.event_type = ANY (
                           v_types[v_offs[s.n] + 1 : v_offs[s.n] + v_ycounts[s.n]]))
                      AND (v_tcounts[s.n] = 1 OR (
                           SELECT y.tags FROM __SCHEMA__.events y WHERE y.position = t.position
                           ) @> v_tags[v_toffs[s.n] + 2 : v_toffs[s.n] + v_tcounts[s.n]])
                    ORDER BY t.position LIMIT 1
                ) t0;
            ELSIF v_items > 0 AND v_after IS NOT NULL THEN
                -- Items with positions of their own, some without tags:
                -- item by item, as dcb_append does.
                v_off := 0;
                v_toff := 0;
                FOR j IN 1..v_items LOOP
                    EXECUTE 'SELECT min(m.position) FROM ('
                            || __SCHEMA__.dcb_match_sql(ARRAY[v_tcounts[j]], ARRAY[v_ycounts[j]],
                                                        'ASC', false)
                            || ') m'
                    INTO v_pos
                    USING v_tags[v_toff + 1 : v_toff + v_tcounts[j]],
                          v_types[v_off + 1 : v_off + v_ycounts[j]],
                          coalesce(v_after[j], p_after[i]);
                    v_conflict := least(v_conflict, v_pos);
                    v_off := v_off + v_ycounts[j];
                    v_toff := v_toff + v_tcounts[j];
                END LOOP;
            ELSE
                -- Items without tags, an empty item, the empty query.
                EXECUTE 'SELECT min(m.position) FROM ('
                        || __SCHEMA__.dcb_match_sql(v_tcounts, v_ycounts, 'ASC', false)
                        || ') m'
                INTO v_conflict
                USING v_tags, v_types, p_after[i];
            END IF;
        END IF;
        IF v_conflict IS NOT NULL THEN
            outcomes[i] := 'conflict';
            positions[i] := v_conflict;
        ELSE
            BEGIN
                v_void := pg_advisory_lock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
                v_pos := nextval('__SCHEMA__.dcb_positions');
                v_micros := setval('__SCHEMA__.dcb_last_recorded_at', greatest(
                    pg_sequence_last_value('__SCHEMA__.dcb_last_recorded_at'),
                    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
                v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
            EXCEPTION WHEN query_canceled OR OTHERS THEN
                v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA__'));
                RAISE;
            END;
            WITH e AS (
                INSERT INTO __SCHEMA__.events (position, event_type, data, tags, id, recorded_at,
                                               metadata)
                VALUES (v_pos, p_types[i], p_data[i], p_tags[v_tag + 1 : v_tag + p_tag_counts[i]],
                        NULL, timestamptz 'epoch' + v_micros * interval '1 microsecond',
                        p_metadata[i])
                RETURNING position, event_type, tags
            )
            INSERT INTO __SCHEMA__.event_tags (tag, position, event_type)
            SELECT x, e.position, e.event_type FROM e CROSS JOIN unnest(e.tags) AS x;
            outcomes[i] := 'ok';
            positions[i] := v_pos;
        END IF;
        v_tag := v_tag + p_tag_counts[i];
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_decision_read(p_barrier bigint, p_tags text[], p_tag_counts integer[], p_tag_offsets integer[], p_types text[], p_type_counts integer[], p_type_offsets integer[], p_after bigint, p_backwards boolean)
 RETURNS TABLE(pos bigint, event_type text, data bytea, tags text[], id uuid, recorded_at timestamp with time zone, metadata jsonb)
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_lock($1);
    RETURN QUERY
WITH b AS MATERIALIZED (
    SELECT (SELECT max(x.position) FROM __SCHEMA__.events x) AS head,
           pg_advisory_unlock($1) AS released
)
SELECT r.pos, r.event_type, r.data, r.tags, r.id, r.recorded_at, r.metadata FROM (
    SELECT 0 AS part, 0::bigint AS ord, b.head AS pos, NULL::text AS event_type,
           NULL::bytea AS data, NULL::text[] AS tags, NULL::uuid AS id,
           NULL::timestamptz AS recorded_at, NULL::jsonb AS metadata
    FROM b
    UNION ALL
    SELECT 1, CASE WHEN $9 THEN -e.position ELSE e.position END,
           e.position, e.event_type, e.data, e.tags, e.id, e.recorded_at, e.metadata
    FROM (SELECT DISTINCT t0.position
          FROM generate_subscripts($3, 1) AS s(n)
          CROSS JOIN LATERAL (
              SELECT t.position FROM __SCHEMA__.event_tags t
              WHERE t.tag = $2[$4[s.n] + 1] AND t.position > $8
                AND ($6[s.n] = 0 OR t.event_type = ANY ($5[$7[s.n] + 1 : $7[s.n] + $6[s.n]]))
              OFFSET 0
          ) t0) m
    CROSS JOIN LATERAL (
        SELECT x.position, x.event_type, x.data, x.tags, x.id, x.recorded_at, x.metadata
        FROM __SCHEMA__.events x WHERE x.position = m.position OFFSET 0
    ) e
    WHERE EXISTS (
        SELECT 1 FROM generate_subscripts($3, 1) AS s2(n)
        WHERE e.tags @> $2[$4[s2.n] + 1 : $4[s2.n] + $3[s2.n]]
          AND ($6[s2.n] = 0 OR e.event_type = ANY ($5[$7[s2.n] + 1 : $7[s2.n] + $6[s2.n]])))
) r
ORDER BY r.part, r.ord;
END
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_decision_read_by_first_tags(p_barrier bigint, p_tags text[], p_pairs text[], p_any text[], p_after bigint, p_backwards boolean, p_head bigint DEFAULT NULL::bigint, p_locks bigint[] DEFAULT NULL::bigint[], p_lock_modes boolean[] DEFAULT NULL::boolean[])
 RETURNS TABLE(pos bigint, event_type text, data bytea, tags text[], id uuid, recorded_at timestamp with time zone, metadata jsonb)
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
 SET enable_bitmapscan TO 'off'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_head(p_barrier bigint)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_head bigint;
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
    PERFORM pg_advisory_unlock(p_barrier);
    RETURN v_head;
END
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_idempotent(p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[], OUT outcome text, OUT pos bigint, OUT dup_id uuid)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_insert(p_first bigint, p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[], p_ids uuid[], p_metadata jsonb[], p_at timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_match_sql(p_tag_counts integer[], p_type_counts integer[], p_dir text, p_limited boolean)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_read(p_barrier bigint, p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[], p_after bigint, p_limit bigint, p_backwards boolean, p_head bigint DEFAULT NULL::bigint, p_locks bigint[] DEFAULT NULL::bigint[], p_lock_modes boolean[] DEFAULT NULL::boolean[])
 RETURNS TABLE(pos bigint, event_type text, data bytea, tags text[], id uuid, recorded_at timestamp with time zone, metadata jsonb)
 LANGUAGE plpgsql
AS $function$
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
$function$;
