//! The conformance suite against the in-memory store: one test per case,
//! on the store and through `Arc` and `&`, plus the whole suite through
//! `run_all` on a shared (`Arc`) store.

use std::sync::Arc;

use dcb_core::InMemoryStore;
use dcb_core::conformance::{CASES, Options, run_all};

dcb_core::conformance_tests!(
    || async { InMemoryStore::new() },
    gap_free_positions = true,
    wakes_without_timers = true
);

#[test]
fn the_suite_has_at_least_forty_cases() {
    assert!(CASES.len() >= 40, "only {} cases", CASES.len());
    let mut names = CASES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_against_a_shared_store() {
    run_all(
        || async { Arc::new(InMemoryStore::new()) },
        Options::default(),
    )
    .await;
}
