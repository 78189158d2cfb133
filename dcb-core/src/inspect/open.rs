//! Opening the store the command line names, as an [`AnyStore`]: an
//! embedded store's directory, or a PostgreSQL URL when the program is
//! built with the `postgres` feature.

#[cfg(feature = "postgres")]
use crate::EventStore;
use crate::store::any::{AnyOptions, AnyStore, OpenError};

use super::{Failure, describe};

/// How a command opens an embedded store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// A command that reads and exits: a store no other process has open is
    /// opened through its index, quick at any size; one in use is read
    /// beside its writer.
    Once,
    /// A command that follows new events: always beside the writer, so that
    /// it never holds the lock an application needs to open the store.
    Follow,
}

/// Opens `location` for reading: an embedded store as `access` says,
/// warning on stderr of a damaged end of its log; a PostgreSQL schema never
/// migrated, checked to hold a store.
pub(super) async fn open(
    location: &str,
    schema: &str,
    access: Access,
) -> Result<AnyStore, Failure> {
    let options = AnyOptions::new().read_only().schema(schema);
    let opened = if AnyStore::names_embedded(location) {
        // On this thread, not on a blocking one of the runtime: the
        // inspector's one thread may block, and a thread of its own would
        // take a malloc arena of its own — 64 MiB of address space that a
        // store sized to an address-space limit does not have.
        open_embedded(std::path::Path::new(location), access)
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

/// Opens the embedded store in `dir`. For [`Access::Once`], a store that no
/// other process has open (its `LOCK` file exists and can be taken at once)
/// is opened as an application opens it, through its index on disk: quick
/// and in bounded memory at any size. Otherwise — the store is in use, or
/// the directory holds no store — it is opened read-only, without an index,
/// which takes no lock, changes no file, and scans the log for each read:
/// one command makes one read, so scanning it once is cheaper than loading
/// the whole log into memory to index it first.
fn open_embedded(
    dir: &std::path::Path,
    access: Access,
) -> Result<crate::embedded::EmbeddedStore, crate::embedded::OpenError> {
    use crate::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
    // The `LOCK` file is the mark of a store: without it, opening for
    // writing would create a store where the user mistyped a path.
    if access == Access::Once && dir.join("LOCK").is_file() {
        // An index to build (a store of an earlier version) shows its
        // progress on stderr.
        let bar = indicatif::ProgressBar::new(0);
        let options = EmbeddedOptions::default()
            .lock_timeout(std::time::Duration::ZERO)
            .on_index_progress(super::index_progress(bar.clone()));
        let opened = EmbeddedStore::open_with(dir, &options);
        bar.finish_and_clear();
        match opened {
            Err(OpenError::Locked { .. }) => {
                tracing::debug!(dir = %dir.display(), "the store is in use; reading it beside its writer");
            }
            opened => return opened,
        }
    }
    EmbeddedStore::open_read_only_scanning(dir)
}

/// Whether the arguments point at the wrong place (a usage error), rather
/// than the store failing.
fn points_elsewhere(err: &OpenError) -> bool {
    match err {
        #[cfg(feature = "embedded")]
        OpenError::Embedded(
            crate::embedded::OpenError::NoStore { .. }
            | crate::embedded::OpenError::NotAStore { .. }
            | crate::embedded::OpenError::NotADirectory { .. }
            | crate::embedded::OpenError::EmptyPath
            | crate::embedded::OpenError::ForeignIndex { .. },
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
