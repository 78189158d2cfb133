//! Shared helpers of the PostgreSQL tests: the server's URL, what a test
//! does without a server, and stores in fresh schemas that are dropped
//! afterwards. The URL comes from `DCB_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When the server is
//! unreachable, `DCB_REQUIRE_POSTGRES=1` (as `.ci/run` sets) makes that a
//! failure; otherwise each test reports itself skipped ([`skip`]) and
//! returns. No test runs on a stand-in.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

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
#[allow(dead_code, reason = "not every test binary warns of more than skips")]
pub fn shout(message: &str) {
    let _ = std::io::stderr().write_all(format!("\n!!!!!!!! {message} !!!!!!!!\n").as_bytes());
}

/// How many backends of `schema`'s calls of `function` (a server function's
/// name) wait for a lock on the server, as `observer` sees them.
#[allow(dead_code, reason = "not every test binary watches for waiting calls")]
pub async fn waiting_in(observer: &tokio_postgres::Client, schema: &str, function: &str) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0 \
               AND strpos(query, $2) > 0",
            &[&schema, &function],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Waits until `calls` of `schema`'s calls of `function` wait for a lock on
/// the server ([`waiting_in`]); fails with `what` after 30 seconds.
#[allow(dead_code, reason = "not every test binary watches for waiting calls")]
pub async fn until_waiting(
    observer: &tokio_postgres::Client,
    schema: &str,
    function: &str,
    calls: i64,
    what: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while waiting_in(observer, schema, function).await < calls {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A raw connection to the test server, or `None` when it is unreachable
/// and not required: the test is then reported as skipped ([`skip`]) and
/// returns.
pub async fn raw_client() -> Option<tokio_postgres::Client> {
    match try_raw_client().await {
        Ok(client) => Some(client),
        Err(unreachable) => {
            skip(&unreachable);
            None
        }
    }
}

/// A raw connection to the test server, or why there is none, for a
/// caller that reports the skip itself.
pub async fn try_raw_client() -> Result<tokio_postgres::Client, String> {
    match tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Err(e) => Err(format!("no PostgreSQL at {}: {e}", url())),
    }
}

/// Fails the running test when the server is required
/// (`DCB_REQUIRE_POSTGRES=1`); otherwise reports it as skipped for
/// `reason`, which the test then returns on. The report is one line,
/// `dcb: skipped <test> (<reason>)`, written straight to stderr past the
/// harness's output capture (so every run shows it, and `.ci/run` refuses
/// it), once per test however often the test asks. The test is named by
/// its thread, which the harness names after it.
pub fn skip(reason: &str) {
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    assert!(!required(), "{reason}, and DCB_REQUIRE_POSTGRES=1");
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_owned();
    let first = REPORTED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(test.clone());
    if first {
        let _ = std::io::stderr().write_all(format!("dcb: skipped {test} ({reason})\n").as_bytes());
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

/// Where the test server listens, to write URLs of its own.
#[allow(dead_code, reason = "not every test binary writes URLs of its own")]
pub struct Server {
    /// The user, or `user:password`.
    pub user: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

#[allow(dead_code, reason = "not every test binary writes URLs of its own")]
impl Server {
    /// The server of [`url`].
    pub fn of_test_url() -> Server {
        let config: tokio_postgres::Config = url().parse().expect("the test URL parses");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        Server {
            user: config.get_user().unwrap_or("postgres").to_owned(),
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config.get_dbname().unwrap_or("postgres").to_owned(),
        }
    }

    /// A URL for `host` with the query `settings` (none if empty).
    pub fn url(&self, host: &str, settings: &str) -> String {
        let query = if settings.is_empty() {
            String::new()
        } else {
            format!("?{settings}")
        };
        format!(
            "postgres://{}@{host}:{}/{}{query}",
            self.user, self.port, self.database
        )
    }

    /// The host name the certificate of a local server is issued for.
    pub fn name(&self) -> &str {
        if self.host == "127.0.0.1" || self.host == "::1" {
            "localhost"
        } else {
            &self.host
        }
    }
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
