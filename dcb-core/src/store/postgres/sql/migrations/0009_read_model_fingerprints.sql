-- dcb PostgreSQL store, migration 9: a saved read model keeps the
-- fingerprint of the event at its checkpoint (`EventFingerprint`, as JSON),
-- written with the model and the checkpoint by the same statement, so that
-- a runner notices on start when the store holds another event there.
-- Rows saved before it have none (NULL); so does a save without one.
ALTER TABLE __SCHEMA__.dcb_read_models ADD COLUMN checkpoint_event jsonb;
