-- dcb PostgreSQL store, migration 1: the events, their tag rows and the
-- sequence of positions. `__SCHEMA__` is replaced by the quoted schema
-- identifier before this file runs; no other text is substituted.
--
-- Numbered migrations hold DDL only, and are not changed once released
-- but for what leaves every schema as it was (see
-- docs/decisions/0016-server-functions-applied-on-every-migrate.md); the
-- server functions are in sql/functions/, and sql/schema.sql shows the
-- schema that all of them make.

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
