//! The conformance suite against the reference model
//! (`dcb_core::conformance::ReferenceStore`): the oracle of the model-based
//! tests is proven by the same cases as the stores it judges, on the store
//! and through `Arc` and `&`, plus the whole suite through `run_all`.

use std::sync::Arc;

use dcb_core::conformance::{Options, ReferenceStore, run_all};

dcb_core::conformance_tests!(
    || async { ReferenceStore::new() },
    gap_free_positions = true,
    wakes_without_timers = true
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_against_a_shared_model() {
    run_all(
        || async { Arc::new(ReferenceStore::new()) },
        Options::default(),
    )
    .await;
}
