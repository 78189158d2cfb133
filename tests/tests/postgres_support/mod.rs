//! Shared helpers of the PostgreSQL test binaries (`postgres_*.rs`): the
//! server's URL, the loud "unreachable" handling and stores in fresh
//! schemas that are dropped afterwards. Same rules as
//! `conformance_postgres.rs`: the URL comes from `DCB_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); when the server is
//! unreachable, `DCB_REQUIRE_POSTGRES=1` makes that a failure and
//! otherwise each test prints a loud warning and returns.

use std::io::Write;

use dcb_core::postgres::{PostgresOptions, PostgresStore};

pub fn url() -> String {
    std::env::var("DCB_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn required() -> bool {
    std::env::var("DCB_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Writes `message` straight to the process's stderr, past the test
/// harness's output capture, so that it shows in every run.
pub fn shout(message: &str) {
    let _ = std::io::stderr().write_all(format!("\n!!!!!!!! {message} !!!!!!!!\n").as_bytes());
}

/// A raw connection to the test server, or `None` (after a loud warning)
/// when it is unreachable and not required.
pub async fn raw_client() -> Option<tokio_postgres::Client> {
    match tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Some(client)
        }
        Err(e) => {
            assert!(
                !required(),
                "PostgreSQL at {} is unreachable ({e}) and DCB_REQUIRE_POSTGRES=1",
                url()
            );
            shout(&format!(
                "WARNING: PostgreSQL at {} is unreachable ({e}). \
                 This PostgreSQL test did NOT test PostgreSQL. \
                 Set DCB_REQUIRE_POSTGRES=1 to make this a failure.",
                url()
            ));
            None
        }
    }
}

/// A store in a fresh schema, dropped with the value.
pub struct TempSchema {
    pub store: PostgresStore,
}

impl Drop for TempSchema {
    fn drop(&mut self) {
        drop_schema(self.store.schema());
    }
}

/// Drops `schema`, if it exists, from a thread of its own (for `Drop`,
/// which cannot await).
pub fn drop_schema(schema: &str) {
    execute_now(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
}

/// Runs `sql` on a connection of its own, from a thread of its own (for
/// `Drop`, which cannot await), ignoring failures: for clean-ups.
pub fn execute_now(sql: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            if let Ok((client, connection)) =
                tokio_postgres::connect(&url(), tokio_postgres::NoTls).await
            {
                tokio::spawn(connection);
                let _ = client.batch_execute(&sql).await;
            }
        });
    })
    .join();
}

pub fn random_schema() -> String {
    format!("dcb_test_{:032x}", dcb_core::Uuid::new_v4().as_u128())
}

/// A store with a pool of `pool_size` connections in a fresh schema, or
/// `None` when the server is unreachable and not required.
#[allow(
    dead_code,
    reason = "not every test binary connects with the default options"
)]
pub async fn temp_schema(pool_size: usize) -> Option<TempSchema> {
    temp_schema_with(PostgresOptions::new(url()).pool_size(pool_size)).await
}

/// A store with `options` in a fresh schema (which replaces the options'
/// own), or `None` when the server is unreachable and not required.
#[allow(
    dead_code,
    reason = "not every test binary connects with options of its own"
)]
pub async fn temp_schema_with(options: PostgresOptions) -> Option<TempSchema> {
    raw_client().await?;
    let store = PostgresStore::connect_with(options.schema(random_schema()))
        .await
        .expect("connect and migrate a fresh schema");
    Some(TempSchema { store })
}

pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime")
}
