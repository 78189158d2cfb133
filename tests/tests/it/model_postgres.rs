//! The model-based test (`dcb-core/tests/it/model_machine.rs`, included
//! here) on the PostgreSQL store, each sequence in a fresh random schema
//! that is dropped afterwards: a reopen drops the store and its pool and
//! connects to the schema again. Its positions may have gaps (a failed
//! append takes positions from the sequence), so the machine compares
//! them with the model's through the map it learns from the appends.
//!
//! The server is taken from `DCB_POSTGRES_URL`; when it is unreachable,
//! `DCB_REQUIRE_POSTGRES=1` (as `.ci/run` sets) fails the test, and
//! otherwise it is reported as skipped. For a longer run see the
//! machine's module documentation (`DCB_MODEL_CASES`, `DCB_MODEL_OPS`,
//! `DCB_MODEL_SEED`).

#[path = "../../../dcb-core/tests/it/model_machine.rs"]
mod model_machine;

use dcb_core::postgres::{PostgresOptions, PostgresStore};

use self::model_machine::{Target, check, check_regressions};
use crate::postgres_support::{drop_schema, random_schema, runtime, skip, try_raw_client, url};

/// PostgreSQL stores, each sequence's in a schema of its own.
struct Postgres;

/// A schema, dropped with the value.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        drop_schema(&self.0);
    }
}

impl Target for Postgres {
    type Store = PostgresStore;
    type Place = Schema;

    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn gap_free(&self) -> bool {
        false
    }

    async fn place(&self) -> Schema {
        Schema(random_schema())
    }

    async fn open(&self, schema: &Schema) -> PostgresStore {
        PostgresStore::connect_with(PostgresOptions::new(url()).pool_size(2).schema(&schema.0))
            .await
            .expect("connect to (and migrate) the sequence's schema")
    }

    /// Takes a value of the schema's position sequence, as an append
    /// rolled back after taking its positions does.
    async fn leave_gap(&self, schema: &Schema) {
        let client = try_raw_client().await.expect("the server");
        client
            .execute(
                &format!("SELECT nextval('\"{}\".dcb_positions')", schema.0),
                &[],
            )
            .await
            .expect("take a position from the sequence");
    }
}

/// Whether the server is there; if not, the test fails under
/// `DCB_REQUIRE_POSTGRES=1` and is otherwise reported as skipped.
fn reachable() -> bool {
    match runtime(1).block_on(try_raw_client()) {
        Ok(_) => true,
        Err(unreachable) => {
            skip(&unreachable);
            false
        }
    }
}

#[test]
fn the_postgres_store_behaves_like_the_model() {
    if reachable() {
        check(&Postgres, file!(), 96);
    }
}

#[test]
fn regression_cases_pass_on_the_postgres_store() {
    if reachable() {
        check_regressions(&Postgres);
    }
}
