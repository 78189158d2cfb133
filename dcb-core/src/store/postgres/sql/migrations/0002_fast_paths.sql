-- dcb PostgreSQL store, migration 2: cheaper appends and reads.
--
-- - The advisory-lock keys are computed by the client (postgres/locks.rs)
--   and passed to the functions, so the functions of migration 1 that
--   took other parameters go, with the table `dcb_config` that held their
--   key: both exist only in schemas that earlier versions of dcb-core
--   migrated to 1 (docs/decisions/0003-postgres-fast-paths.md).
-- - The tag index carries the event type (index-only condition checks and
--   type filters); the id index is partial (events without id add no
--   entry).

DROP FUNCTION IF EXISTS __SCHEMA__.dcb_append(text[], bytea[], text[], integer[], uuid[], boolean,
                                              text[], integer[], text[], integer[], bigint);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_read(text[], integer[], text[], integer[], bigint, bigint,
                                            boolean);
DROP FUNCTION IF EXISTS __SCHEMA__.dcb_head();
DROP TABLE IF EXISTS __SCHEMA__.dcb_config;

ALTER TABLE __SCHEMA__.event_tags DROP CONSTRAINT event_tags_pkey;
ALTER TABLE __SCHEMA__.event_tags ADD CONSTRAINT event_tags_pkey
    PRIMARY KEY (tag, position) INCLUDE (event_type);

ALTER TABLE __SCHEMA__.events DROP CONSTRAINT events_id_key;
CREATE UNIQUE INDEX events_id ON __SCHEMA__.events (id) WHERE id IS NOT NULL;
