-- dcb PostgreSQL store: dcb_append_batch, single-event appends without
-- ids in one call and one transaction, in the order given (the client
-- queues the appends its callers make while earlier ones are in flight:
-- postgres/append.rs):
--   1. the advisory locks p_locks (transaction level) in the order given,
--      exclusive where p_lock_modes says so: every key any of the appends
--      takes alone, each once in its strongest mode — the global key first,
--      the boundary keys ascending;
--   2. for each append in turn: its condition (if p_cond_items[i] >= 0), in
--      a new statement, whose fresh snapshot sees the appends the locks
--      waited for and, in this transaction, the appends before it; then, if
--      the condition holds, its event at the next position of the sequence,
--      with its metadata p_metadata[i], recorded at the time taken with the
--      position in the clock section of dcb_append (one section per event:
--      appends of other transactions take positions between them).
-- The condition is checked with the statements of dcb_append, written out
-- here rather than called: a call of a PL/pgSQL function costs about as
-- much again as the check itself.
-- Per append i: its event is p_types[i], p_data[i] and the next
-- p_tag_counts[i] tags of p_tags; its condition has p_cond_items[i] items
-- (-1: no condition) whose tag and type counts are the next entries of
-- p_cond_tag_counts and p_cond_type_counts, holding p_cond_ntags[i] tags of
-- p_cond_tags and p_cond_ntypes[i] types of p_cond_types; p_after[i] is its
-- position (0 for none). p_metadata holds one jsonb object or NULL per
-- append, or is NULL for none at all. p_item_after holds per condition
-- item, in the order of p_cond_tag_counts, the position that item counts
-- the events after (a condition of parts, AppendCondition::of_parts: the
-- item's own position, 0 for none; the append's p_after for an item of a
-- condition without positions of its own), or is NULL when no condition of
-- the batch has items with positions of their own. Both come last, with
-- defaults, so that clients of earlier versions call the function
-- unchanged.
-- Outcome per append: outcomes[i] 'ok' (positions[i] = its event's
-- position) or 'conflict' (positions[i] = the first conflicting position).
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier, and
-- `__SCHEMA_NAME__` by the schema's name, before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_append_batch(
    p_types text[], p_data bytea[], p_tags text[], p_tag_counts integer[],
    p_locks bigint[], p_lock_modes boolean[],
    p_cond_items integer[], p_cond_tag_counts integer[], p_cond_type_counts integer[],
    p_cond_ntags integer[], p_cond_tags text[], p_cond_ntypes integer[], p_cond_types text[],
    p_after bigint[], p_metadata jsonb[] DEFAULT NULL, p_item_after bigint[] DEFAULT NULL,
    OUT outcomes text[], OUT positions bigint[]
) LANGUAGE plpgsql AS $fn$
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
                v_void := pg_advisory_lock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
                v_pos := nextval('__SCHEMA__.dcb_positions');
                v_micros := setval('__SCHEMA__.dcb_last_recorded_at', greatest(
                    pg_sequence_last_value('__SCHEMA__.dcb_last_recorded_at'),
                    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
                v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
            EXCEPTION WHEN query_canceled OR OTHERS THEN
                v_released := pg_advisory_unlock(hashtext('dcb-clock'), hashtext('__SCHEMA_NAME__'));
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
$fn$;
