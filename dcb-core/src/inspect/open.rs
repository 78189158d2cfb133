//! Opening the store the command line names.

use crate::EventStore;
use crate::store::embedded::{EmbeddedStore, OpenError};
use crate::store::postgres::{ConnectError, PostgresOptions, PostgresStore};

use super::{Failure, describe};

/// An opened store of either kind.
pub(super) enum Store {
    Embedded(EmbeddedStore),
    Postgres(PostgresStore),
}

/// Whether `store` names a PostgreSQL server rather than a directory.
pub(super) fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// Opens an embedded store read-only, warning on stderr of a damaged end
/// of the log it leaves unread; blocking.
pub(super) fn embedded(dir: &str) -> Result<Store, Failure> {
    EmbeddedStore::open_read_only(dir)
        .inspect(|store| {
            for damage in store.recovery().damage() {
                eprintln!("warning: {damage}");
            }
        })
        .map(Store::Embedded)
        .map_err(|err| match err {
            // The argument points at the wrong place.
            OpenError::NoStore { .. } | OpenError::NotAStore { .. } => {
                Failure::Usage(err.to_string())
            }
            _ => Failure::Store(describe(&err)),
        })
}

/// Connects to a PostgreSQL store without migrating anything, and checks
/// that the schema holds a store.
pub(super) async fn postgres(url: &str, schema: &str) -> Result<Store, Failure> {
    let options = PostgresOptions::new(url)
        .schema(schema)
        .migrate(false)
        .pool_size(2);
    let store = PostgresStore::connect_with(options)
        .await
        .map_err(|err| match err {
            // The arguments point at the wrong place.
            ConnectError::InvalidUrl(_)
            | ConnectError::Tls(_)
            | ConnectError::InvalidSchema { .. }
            | ConnectError::NoStore { .. } => Failure::Usage(err.to_string()),
            _ => Failure::Store(describe(&err)),
        })?;
    store.head().await.map_err(|err| {
        Failure::Store(format!(
            "cannot read a dcb store in schema {schema:?} (is it the right schema?): {}",
            describe(&err)
        ))
    })?;
    Ok(Store::Postgres(store))
}
