-- dcb PostgreSQL store, migration 3: saved read models.
--
-- One row per read model (`dcb_core::postgres::PostgresStorage`): the model
-- as jsonb and the position it reflects, replaced together by one
-- INSERT ... ON CONFLICT DO UPDATE, so the pair is always consistent.
CREATE TABLE __SCHEMA__.dcb_read_models (
    name text PRIMARY KEY,
    checkpoint bigint NOT NULL CHECK (checkpoint > 0),
    model jsonb NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
