//! The model-based test ([`model_machine`](crate::model_machine)) on the
//! in-memory store. It cannot be closed, so a reopen keeps the store (the
//! subscriptions still resume from their checkpoints).

use dcb_core::InMemoryStore;

use crate::model_machine::{Target, check, check_regressions};

/// In-memory stores; the place of a sequence's store is the store.
struct InMemory;

impl Target for InMemory {
    type Store = InMemoryStore;
    type Place = InMemoryStore;

    fn name(&self) -> &'static str {
        "in-memory"
    }

    fn gap_free(&self) -> bool {
        true
    }

    async fn place(&self) -> InMemoryStore {
        InMemoryStore::new()
    }

    async fn open(&self, place: &InMemoryStore) -> InMemoryStore {
        place.clone()
    }
}

#[test]
fn the_in_memory_store_behaves_like_the_model() {
    check(&InMemory, file!(), 1024);
}

#[test]
fn regression_cases_pass_on_the_in_memory_store() {
    check_regressions(&InMemory);
}
