//! The conformance suite against the embedded store with its in-memory
//! tail handed down to the on-disk index often: after every batch (every
//! read and condition goes through the index), and every few hundred bytes
//! of log (they span the index and the tail).

use dcb_core::conformance::{Harness, Unavailable};
use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use tempfile::TempDir;

/// Embedded stores handing their tail down every `interval` bytes of log,
/// each in a temporary directory removed after its case.
struct Indexed {
    interval: u64,
}

impl Harness for Indexed {
    type Store = EmbeddedStore;
    type Guard = TempDir;

    async fn store(&self) -> Result<(EmbeddedStore, TempDir), Unavailable> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = EmbeddedOptions::default().index_interval(self.interval);
        let store = EmbeddedStore::open_with(dir.path(), &options).expect("open the store");
        Ok((store, dir))
    }
}

mod every_batch {
    use super::Indexed;

    dcb_core::conformance_tests!(
        Indexed { interval: 1 },
        gap_free_positions = true,
        wakes_without_timers = true
    );
}

mod every_few_batches {
    use super::Indexed;

    dcb_core::conformance_tests!(
        Indexed { interval: 400 },
        gap_free_positions = true,
        wakes_without_timers = true
    );
}
