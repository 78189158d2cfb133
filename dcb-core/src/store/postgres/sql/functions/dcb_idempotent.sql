-- dcb PostgreSQL store: dcb_idempotent, the idempotency check of
-- dcb_append. NULL outcome when no id of the append is stored; 'ok' with
-- the original last position when every event has an id and exactly these
-- events are stored at consecutive positions; otherwise 'duplicate' with
-- the first (in append order) stored id and its position.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_idempotent(
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
