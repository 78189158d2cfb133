//! The cross-crate integration tests of dcb, in one test binary: the
//! conformance suite against each store and the reference model, the
//! model-based test on the PostgreSQL store, and the PostgreSQL store's
//! own tests. One module per area; `postgres_support` is shared by the
//! PostgreSQL tests, here and in `postgres_restart`.
//!
//! Tests that must own their process are binaries of their own (see
//! CONTRIBUTING.md, "Where tests live").

mod conformance_any;
mod conformance_embedded;
mod conformance_embedded_indexed;
mod conformance_memory;
mod conformance_postgres;
mod conformance_reference;
mod model_postgres;
mod postgres_batches;
mod postgres_faults;
mod postgres_lost_replies;
mod postgres_migrations;
mod postgres_plans;
mod postgres_read_barrier;
mod postgres_read_locks;
mod postgres_read_models;
mod postgres_read_rounds;
mod postgres_recording;
mod postgres_roles;
mod postgres_schema;
mod postgres_server_errors;
mod postgres_sessions;
mod postgres_sources;
mod postgres_stress;
mod postgres_subscriptions;
#[path = "../postgres_support/mod.rs"]
mod postgres_support;
mod postgres_tls;
mod postgres_transactions;
