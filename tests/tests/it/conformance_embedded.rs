//! The conformance suite against the embedded store itself, each case on
//! a store in a fresh temporary directory, through `Arc` and `&` too.

use dcb_core::conformance::{Harness, Unavailable};
use dcb_core::embedded::EmbeddedStore;
use tempfile::TempDir;

/// Embedded stores, each in a temporary directory that is removed after
/// its case.
struct Temporary;

impl Harness for Temporary {
    type Store = EmbeddedStore;
    type Guard = TempDir;

    async fn store(&self) -> Result<(EmbeddedStore, TempDir), Unavailable> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = EmbeddedStore::open(dir.path()).expect("open the store");
        Ok((store, dir))
    }
}

dcb_core::conformance_tests!(
    Temporary,
    gap_free_positions = true,
    wakes_without_timers = true
);
