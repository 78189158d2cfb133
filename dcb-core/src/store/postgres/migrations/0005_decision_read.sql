-- dcb PostgreSQL store, migration 5: the read barrier inside the read.
--
-- A decision's read and head() were two statements sent together, the
-- barrier lock and then the query. Each ended with its own Sync, so the
-- server answered (and woke the client) twice. Now each is one call of a
-- function that takes the barrier in its first statement and runs the
-- query as its second: in a volatile PL/pgSQL function at READ COMMITTED
-- every statement takes a new snapshot, so the query's is taken after the
-- barrier was granted. The query releases the barrier first thing, as the
-- plain statement did. A call that fails between the two leaves the
-- session lock held; the client closes any connection on which a call
-- failed, and a closed session releases its locks.
--
-- dcb_read (reads with a limit, or with an item without tags) now does the
-- same: it held the barrier until its rows were materialised, holding
-- every append back for as long as a subscription's batch or an
-- inspector's listing took, and it ran in a subtransaction (an exception
-- block) to release the barrier on errors, which the client's closing of
-- the connection already does.
-- See the section "The PostgreSQL store" of docs/design.md.

-- A read whose items all have tags, without a limit (a decision's read).
-- The first row is the head (pos = the snapshot's last position or NULL,
-- the rest NULL); it is computed, and the barrier released, before the
-- events are looked up. The events: per item, one range scan of the tag
-- index on its first tag (the type checked in the index), deduplicated,
-- then one primary-key lookup per candidate, which is kept if it matches
-- an item in full. `OFFSET 0` keeps the lateral subqueries from being
-- flattened, so that a plan made while the tables were small stays a
-- chain of index lookups (the test `postgres_plans` prepares the query
-- after RETURN QUERY on its own, which is why it names the parameters
-- $1 … $9). The rows are materialised before the first is sent, as for
-- any PL/pgSQL set-returning function; a decision reads a few.
-- Parameters: p_barrier the global key; p_tags the items' tags,
-- p_tag_counts their counts, p_tag_offsets each item's offset into p_tags;
-- p_types the items' types, p_type_counts their counts, p_type_offsets each
-- item's offset into p_types; p_after (0 for none); p_backwards.
CREATE FUNCTION __SCHEMA__.dcb_decision_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_tag_offsets integer[],
    p_types text[], p_type_counts integer[], p_type_offsets integer[],
    p_after bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_lock($1);
    RETURN QUERY
WITH b AS MATERIALIZED (
    SELECT (SELECT max(x.position) FROM __SCHEMA__.events x) AS head,
           pg_advisory_unlock($1) AS released
)
SELECT r.pos, r.event_type, r.data, r.tags, r.id FROM (
    SELECT 0 AS part, 0::bigint AS ord, b.head AS pos, NULL::text AS event_type,
           NULL::bytea AS data, NULL::text[] AS tags, NULL::uuid AS id
    FROM b
    UNION ALL
    SELECT 1, CASE WHEN $9 THEN -e.position ELSE e.position END,
           e.position, e.event_type, e.data, e.tags, e.id
    FROM (SELECT DISTINCT t0.position
          FROM generate_subscripts($3, 1) AS s(n)
          CROSS JOIN LATERAL (
              SELECT t.position FROM __SCHEMA__.event_tags t
              WHERE t.tag = $2[$4[s.n] + 1] AND t.position > $8
                AND ($6[s.n] = 0 OR t.event_type = ANY ($5[$7[s.n] + 1 : $7[s.n] + $6[s.n]]))
              OFFSET 0
          ) t0) m
    CROSS JOIN LATERAL (
        SELECT x.position, x.event_type, x.data, x.tags, x.id
        FROM __SCHEMA__.events x WHERE x.position = m.position OFFSET 0
    ) e
    WHERE EXISTS (
        SELECT 1 FROM generate_subscripts($3, 1) AS s2(n)
        WHERE e.tags @> $2[$4[s2.n] + 1 : $4[s2.n] + $3[s2.n]]
          AND ($6[s2.n] = 0 OR e.event_type = ANY ($5[$7[s2.n] + 1 : $7[s2.n] + $6[s2.n]])))
) r
ORDER BY r.part, r.ord;
END
$fn$;

-- head(): the snapshot's last position (NULL for an empty store), read
-- after the barrier.
CREATE FUNCTION __SCHEMA__.dcb_head(p_barrier bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_head bigint;
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    v_head := (SELECT max(x.position) FROM __SCHEMA__.events x);
    PERFORM pg_advisory_unlock(p_barrier);
    RETURN v_head;
END
$fn$;

-- Reads with a limit, or with an item without tags: the first row is the
-- head, then the matching events in order, at most p_limit of them. The
-- query is built by dcb_match_sql for the query's shape; the head is
-- computed, and the barrier released, before the events are looked up.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_types text[], p_type_counts integer[],
    p_after bigint, p_limit bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_dir text := CASE WHEN p_backwards THEN 'DESC' ELSE 'ASC' END;
    v_sql text := 'WITH b AS MATERIALIZED ('
        ' SELECT (SELECT max(x.position) FROM __SCHEMA__.events x) AS head,'
        ' pg_advisory_unlock($5) AS released)'
        ' SELECT r.pos, r.event_type, r.data, r.tags, r.id FROM ('
        ' SELECT 0 AS part, 0::bigint AS ord, b.head AS pos, NULL::text AS event_type,'
        ' NULL::bytea AS data, NULL::text[] AS tags, NULL::uuid AS id FROM b'
        ' UNION ALL'
        ' SELECT 1, ' || CASE WHEN p_backwards THEN '-e.position' ELSE 'e.position' END
        || ', e.position, e.event_type, e.data, e.tags, e.id FROM ('
        ' SELECT e.position, e.event_type, e.data, e.tags, e.id'
        ' FROM __SCHEMA__.events e WHERE e.position IN ('
        || __SCHEMA__.dcb_match_sql(p_tag_counts, p_type_counts, v_dir, p_limit IS NOT NULL)
        || ') ORDER BY e.position ' || v_dir
        || CASE WHEN p_limit IS NOT NULL THEN ' LIMIT $4' ELSE '' END
        || ') e) r ORDER BY r.part, r.ord';
BEGIN
    PERFORM pg_advisory_lock(p_barrier);
    RETURN QUERY EXECUTE v_sql USING p_tags, p_types, coalesce(p_after, 0), p_limit, p_barrier;
END
$fn$;
