-- dcb PostgreSQL store: dcb_match_sql, the SQL text selecting the
-- positions that match a query, given only the shape of the query: per
-- item the number of tags and of types. The values stay parameters: $1
-- text[] (all items' tags, item after item), $2 text[] (all items' types),
-- $3 bigint (after; 0 for none), $4 bigint (the limit, referenced only
-- when p_limited). `p_dir` is 'ASC' or 'DESC'. dcb_read and the
-- conditions of dcb_append and dcb_append_batch use it for the query
-- shapes their static statements do not cover.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_match_sql(
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
