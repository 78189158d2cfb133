//! The model-based test ([`model_machine`](crate::model_machine)) on the
//! embedded store, each sequence in a temporary directory: a reopen drops
//! the store and opens the directory again, which rebuilds it from its
//! log. Segments are small (4 KiB), so sequences cross segment files.
//!
//! [`Indexed`] runs the same sequences with the in-memory tail handed down
//! to the on-disk index every few hundred bytes of log, so that reads,
//! conditions and repeats span the index and the tail, and reopens start
//! from the index.

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use tempfile::TempDir;

use crate::model_machine::{Target, check, check_regressions};

/// Embedded stores in temporary directories, removed after each sequence.
struct Embedded;

impl Target for Embedded {
    type Store = EmbeddedStore;
    type Place = TempDir;

    fn name(&self) -> &'static str {
        "embedded"
    }

    fn gap_free(&self) -> bool {
        true
    }

    async fn place(&self) -> TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    async fn open(&self, dir: &TempDir) -> EmbeddedStore {
        let options = EmbeddedOptions::default().segment_size(4096);
        EmbeddedStore::open_with(dir.path(), &options).expect("open the store")
    }
}

/// Embedded stores handing their tail down to the index every `interval`
/// bytes of log.
struct Indexed {
    interval: u64,
}

impl Target for Indexed {
    type Store = EmbeddedStore;
    type Place = TempDir;

    fn name(&self) -> &'static str {
        "embedded, indexed often"
    }

    fn gap_free(&self) -> bool {
        true
    }

    async fn place(&self) -> TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    async fn open(&self, dir: &TempDir) -> EmbeddedStore {
        let options = EmbeddedOptions::default()
            .segment_size(4096)
            .index_interval(self.interval);
        EmbeddedStore::open_with(dir.path(), &options).expect("open the store")
    }
}

#[test]
fn the_indexed_embedded_store_behaves_like_the_model() {
    check(&Indexed { interval: 300 }, file!(), 128);
}

#[test]
fn regression_cases_pass_on_the_indexed_embedded_store() {
    check_regressions(&Indexed { interval: 1 });
}

#[test]
fn the_embedded_store_behaves_like_the_model() {
    check(&Embedded, file!(), 256);
}

#[test]
fn regression_cases_pass_on_the_embedded_store() {
    check_regressions(&Embedded);
}
