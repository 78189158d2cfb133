//! The settings of the PostgreSQL store's sessions: JIT compilation is off
//! (a decision's read compiled its plan on every call once the server
//! estimated it above `jit_above_cost`, about 200 ms a read), transactions
//! are READ COMMITTED whatever the server's default (the store's functions
//! rely on a new snapshot per statement), and the options the URL gives
//! are kept beside them. When the server is unreachable (and not required)
//! the test warns loudly and returns.

use dcb_core::postgres::{PostgresOptions, PostgresStore};

use crate::postgres_support::{runtime, temp_schema, temp_schema_with, url};

/// `setting` as the store's pooled session reports it.
async fn show(store: &PostgresStore, setting: &str) -> String {
    let client = store.pool().get().await.expect("a pooled connection");
    let row = client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .expect("SHOW");
    row.get(0)
}

#[test]
fn sessions_run_without_jit() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(1).await else {
            return;
        };
        assert_eq!(show(&temp.store, "jit").await, "off");
    });
}

#[test]
fn sessions_keep_the_urls_options() {
    runtime(2).block_on(async {
        let base = url();
        let separator = if base.contains('?') { '&' } else { '?' };
        // `-c statement_timeout=54321`, URL-encoded.
        let with_options = format!("{base}{separator}options=-c%20statement_timeout%3D54321");
        let Some(temp) = temp_schema_with(PostgresOptions::new(with_options).pool_size(1)).await
        else {
            return;
        };
        assert_eq!(show(&temp.store, "jit").await, "off");
        assert_eq!(show(&temp.store, "statement_timeout").await, "54321ms");
    });
}

#[test]
fn sessions_run_at_read_committed_whatever_the_urls_default() {
    runtime(2).block_on(async {
        let base = url();
        let separator = if base.contains('?') { '&' } else { '?' };
        // `-c default_transaction_isolation=serializable`, URL-encoded.
        let serializable =
            format!("{base}{separator}options=-c%20default_transaction_isolation%3Dserializable");
        let Some(temp) = temp_schema_with(PostgresOptions::new(serializable).pool_size(1)).await
        else {
            return;
        };
        assert_eq!(
            show(&temp.store, "transaction_isolation").await,
            "read committed"
        );
        assert_eq!(show(&temp.store, "jit").await, "off");
    });
}
