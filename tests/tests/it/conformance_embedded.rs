//! The conformance suite against the embedded store, each case on a store
//! in a fresh temporary directory.

use std::future::Future;

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, Position, Query, ReadError, ReadOptions,
};
use dcb_core::{IndexedEvents, ReadResult};

/// An embedded store that removes its directory when dropped.
struct TempStore {
    store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(dir.path()).expect("open the store");
    TempStore { store, _dir: dir }
}

impl EventStore for TempStore {
    type Stream = IndexedEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<IndexedEvents, ReadError>> + Send {
        self.store.read(query, options)
    }

    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        self.store.read_to_end(query, options)
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        self.store.append(events, condition)
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        self.store.head()
    }
}

dcb_core::conformance_tests!(|| async { temp_store() }, gap_free_positions = true);
