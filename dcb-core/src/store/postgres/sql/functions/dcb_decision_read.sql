-- dcb PostgreSQL store: dcb_decision_read, a decision's read as clients
-- before migration 6 made it; this version reads with
-- dcb_decision_read_by_first_tags. It stays for such clients while they
-- run beside newer ones during an upgrade; dropping it takes a numbered
-- migration.
-- A read whose items all have tags, without a limit. The first row is the
-- head (pos = the snapshot's last position or NULL, the rest NULL); it is
-- computed, and the barrier released, before the events are looked up.
-- The events: per item, one range scan of the tag index on its first tag
-- (the type checked in the index), deduplicated, then one primary-key
-- lookup per candidate, which is kept if it matches an item in full.
-- `OFFSET 0` keeps the lateral subqueries from being flattened, so that a
-- plan made while the tables were small stays a chain of index lookups.
-- Parameters: p_barrier the global key; p_tags the items' tags,
-- p_tag_counts their counts, p_tag_offsets each item's offset into p_tags;
-- p_types the items' types, p_type_counts their counts, p_type_offsets each
-- item's offset into p_types; p_after (0 for none); p_backwards.
--
-- The one definition of this function: every migrate that finds it
-- changed applies it again with CREATE OR REPLACE, after the numbered
-- migrations (docs/decisions/0016-server-functions-applied-on-every-migrate.md).
-- `__SCHEMA__` is replaced by the quoted schema identifier before it runs.
CREATE OR REPLACE FUNCTION __SCHEMA__.dcb_decision_read(
    p_barrier bigint,
    p_tags text[], p_tag_counts integer[], p_tag_offsets integer[],
    p_types text[], p_type_counts integer[], p_type_offsets integer[],
    p_after bigint, p_backwards boolean
) RETURNS TABLE (pos bigint, event_type text, data bytea, tags text[], id uuid,
               recorded_at timestamptz, metadata jsonb)
LANGUAGE plpgsql AS $fn$
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
$fn$;
