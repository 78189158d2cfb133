//! Opening the store the command line names, read-only, as an
//! [`AnyStore`]: an embedded store's directory, or a PostgreSQL URL when
//! the program is built with the `postgres` feature.

#[cfg(feature = "postgres")]
use crate::EventStore;
use crate::store::any::{AnyOptions, AnyStore, OpenError};

use super::{Failure, describe};

/// Opens `location` for reading: an embedded store without its lock (the
/// application may keep it open), warning on stderr of a damaged end of
/// its log; a PostgreSQL schema never migrated, checked to hold a store.
pub(super) async fn open(location: &str, schema: &str) -> Result<AnyStore, Failure> {
    let options = AnyOptions::new().read_only().schema(schema);
    let opened = if AnyStore::names_embedded(location) {
        // On this thread, not on a blocking one of the runtime: the
        // inspector's one thread may block, and a thread of its own would
        // take a malloc arena of its own — 64 MiB of address space that a
        // store sized to an address-space limit does not have.
        crate::embedded::EmbeddedStore::open_read_only(location)
            .map(AnyStore::from)
            .map_err(OpenError::from)
    } else {
        AnyStore::open_with(location, &options).await
    };
    let store = opened.map_err(|err| {
        if points_elsewhere(&err) {
            Failure::Usage(err.to_string())
        } else {
            Failure::Store(describe(&err))
        }
    })?;
    match &store {
        #[cfg(feature = "embedded")]
        AnyStore::Embedded(embedded) => {
            for damage in embedded.recovery().damage() {
                eprintln!("warning: {damage}");
            }
        }
        #[cfg(feature = "postgres")]
        AnyStore::Postgres(_) => {
            store.head().await.map_err(|err| {
                Failure::Store(format!(
                    "cannot read a dcb store in schema {schema:?} (is it the right schema?): {}",
                    describe(&err)
                ))
            })?;
        }
        _ => {}
    }
    Ok(store)
}

/// Whether the arguments point at the wrong place (a usage error), rather
/// than the store failing.
fn points_elsewhere(err: &OpenError) -> bool {
    match err {
        #[cfg(feature = "embedded")]
        OpenError::Embedded(
            crate::embedded::OpenError::NoStore { .. }
            | crate::embedded::OpenError::NotAStore { .. },
        ) => true,
        #[cfg(feature = "postgres")]
        OpenError::Postgres(
            crate::postgres::ConnectError::InvalidUrl(_)
            | crate::postgres::ConnectError::Tls(_)
            | crate::postgres::ConnectError::InvalidSchema { .. }
            | crate::postgres::ConnectError::NoStore { .. },
        ) => true,
        OpenError::NotBuilt { .. } => true,
        _ => false,
    }
}
