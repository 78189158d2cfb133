//! The store-independent conformance suite: the [`EventStore`] contract as
//! executable cases that every store runs.
//!
//! Each case is a public `async fn` that takes a fresh, empty store (and,
//! for a few, the [`Options`]) and panics with a message naming the broken
//! rule when the store does not conform. The cases are grouped by area:
//! [`matching`], [`reading`], [`appending`], [`idempotency`],
//! [`invalid_input`], [`concurrency`] and [`subscribing`]; [`CASES`] lists
//! them all.
//!
//! # Running the suite
//!
//! The [`conformance_tests!`](crate::conformance_tests) macro expands to
//! one `#[test]` per case, so a test runner reports each case by name:
//!
//! ```
//! // tests/conformance.rs
//! use dcb_core::InMemoryStore;
//!
//! dcb_core::conformance_tests!(|| async { InMemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! [`run_all`] runs every case in order inside one test instead.
//!
//! # What a store must provide
//!
//! - The factory returns a **new, empty** store each time it is called: the
//!   cases assume the first event they append is at position 1.
//! - The store enforces the default [`Limits`](crate::Limits) (1 MiB per
//!   event, 100 000 events per append): the invalid-input cases append an
//!   event just over the first and an append just over the second.
//! - Positions are gap-free unless [`Options::gap_free_positions`] says
//!   otherwise.
//!
//! The concurrency cases spawn tasks with `tokio::spawn`, so the suite runs
//! inside a tokio runtime, ideally a multi-threaded one (the generated tests
//! use one with four worker threads).

// Every case panics when the store does not conform: that is how a test
// fails, and the module documentation says so once for all of them.
#![allow(clippy::missing_panics_doc)]

pub mod appending;
pub mod concurrency;
pub mod idempotency;
pub mod invalid_input;
pub mod matching;
pub mod reading;
pub mod subscribing;
mod support;

use std::future::Future;
use std::time::Duration;

use crate::EventStore;

/// What the suite may assume about a store beyond the [`EventStore`]
/// contract.
///
/// ```
/// use dcb_core::conformance::Options;
///
/// // A store whose positions come from a database sequence.
/// let options = Options::new().gap_free_positions(false);
/// assert!(!options.gap_free_positions);
/// assert!(Options::default().gap_free_positions);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Whether the store promises gap-free positions: the events of a store
    /// with `n` events are at positions `1..=n`, even after failed and
    /// concurrent appends. Defaults to `true`.
    pub gap_free_positions: bool,
}

impl Options {
    /// The default options: positions are gap-free.
    #[must_use]
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets whether the store promises gap-free positions.
    #[must_use]
    pub fn gap_free_positions(mut self, gap_free: bool) -> Options {
        self.gap_free_positions = gap_free;
        self
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            gap_free_positions: true,
        }
    }
}

/// The names of all cases, as `area::case`, in the order [`run_all`] runs
/// them.
pub const CASES: &[&str] = crate::__conformance_cases!(__conformance_names!());

/// Runs every case in order, each against a new store from `factory`.
///
/// Call it from inside a tokio runtime (preferably a multi-threaded one):
/// the concurrency cases spawn tasks. The name of each case is printed to
/// stderr before it runs, so a failure shows which case failed.
///
/// ```no_run
/// use dcb_core::InMemoryStore;
/// use dcb_core::conformance::{Options, run_all};
///
/// #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// async fn in_memory_store_conforms() {
///     run_all(|| async { InMemoryStore::new() }, Options::default()).await;
/// }
/// # fn main() {}
/// ```
pub async fn run_all<F, Fut, S>(mut factory: F, options: Options)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    S: EventStore + 'static,
{
    crate::__conformance_cases!(__conformance_run_all!(factory, options));
}

/// How many worker threads the runtime of a generated test has.
const WORKER_THREADS: usize = 4;

/// How long one generated test may run before it is declared hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs one case on a new multi-threaded tokio runtime; each test that
/// [`conformance_tests!`](crate::conformance_tests) generates calls it, so
/// the crate using the macro needs no tokio dependency of its own.
#[doc(hidden)]
pub fn block_on_case<F: Future<Output = ()>>(case: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime for the case: {e}"));
    runtime.block_on(async {
        let finished = tokio::time::timeout(CASE_TIMEOUT, case).await;
        assert!(
            finished.is_ok(),
            "the case did not finish within {CASE_TIMEOUT:?}: is the store deadlocked?"
        );
    });
}

/// Prints the name of the case [`run_all`] is about to run.
#[doc(hidden)]
pub fn announce(case: &str) {
    eprintln!("conformance case {case}");
}

/// Expands to one `#[test]` per conformance case, each running the case on
/// a fresh store from the given factory.
///
/// The first argument is the factory: an expression callable with no
/// arguments that returns a future resolving to a new, empty store, such as
/// `|| async { InMemoryStore::new() }`. It is evaluated in the module where
/// the macro is invoked. Any further `name = value` arguments set the
/// [`Options`](crate::conformance::Options) of the same name.
///
/// ```
/// use dcb_core::InMemoryStore;
///
/// dcb_core::conformance_tests!(|| async { InMemoryStore::new() }, gap_free_positions = true);
/// # fn main() {}
/// ```
///
/// Invoke it once per module, preferably in a test file or module of its
/// own: it defines the private functions `conformance_store` and
/// `conformance_options` and one module per area (`matching`, `reading`,
/// `appending`, `idempotency`, `invalid_input`, `concurrency`,
/// `subscribing`), so the tests
/// are named like `matching::types_only`. Everything is `#[cfg(test)]`.
///
/// Each test builds its own multi-threaded tokio runtime; the invoking
/// crate does not need to depend on tokio.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(, $option:ident = $value:expr)* $(,)?) => {
        /// A new, empty store for one conformance case.
        #[cfg(test)]
        async fn conformance_store() -> impl $crate::EventStore + 'static {
            let factory = $factory;
            factory().await
        }

        /// The conformance options for this store.
        #[cfg(test)]
        fn conformance_options() -> $crate::conformance::Options {
            $crate::conformance::Options::new()$(.$option($value))*
        }

        $crate::__conformance_cases!(__conformance_tests!());
    };
}

/// The list of cases, kept in this one place: calls the macro `$callback`
/// with `$args` followed by `area { case: kind, … }` for every area. A case
/// of kind `store` takes the store; one of kind `options` also takes
/// `&Options`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $crate::$callback! {
            ($($args)*)
            matching {
                empty_query_matches_every_event: store,
                unrestricted_item_matches_every_event: store,
                types_only: store,
                tags_only: store,
                types_and_tags: store,
                tags_within_an_item_are_and_ed: store,
                items_are_or_ed: store,
                overlapping_items_yield_each_event_once: store,
                many_items_and_many_tags: store,
                unknown_tag_matches_nothing: store,
                unknown_type_matches_nothing: store,
                unknown_type_among_known_types: store,
                item_needs_both_its_type_and_its_tags: store,
                untagged_events_match_by_type_only: store,
                names_match_exactly: store,
            }
            reading {
                empty_store_reads_nothing: store,
                events_round_trip: store,
                head_tracks_appends: store,
                head_is_the_snapshot_not_the_last_match: store,
                after_skips_earlier_events: store,
                after_at_or_beyond_the_head_reads_nothing: store,
                forward_limit_cut_short_reports_last_returned: store,
                forward_limit_not_reached_reports_snapshot_head: store,
                paging_with_after_and_limit: store,
                backwards_reads_newest_first: store,
                backwards_limit_returns_the_newest: store,
                backwards_after_and_limit: store,
                stream_head_before_the_end: store,
                read_is_a_snapshot_forward: store,
                read_is_a_snapshot_backwards: store,
                large_read_forward: store,
                large_read_backwards: store,
            }
            appending {
                append_returns_last_position: store,
                append_is_atomic_and_ordered: store,
                positions_strictly_increase: options,
                condition_without_after_fails_on_any_match: store,
                condition_reports_first_conflict: store,
                condition_after_ignores_earlier_events: store,
                condition_matching_nothing_passes: store,
                condition_ignores_own_events: store,
                condition_only_conflicts_with_matching_events: store,
                failed_condition_writes_nothing: store,
            }
            idempotency {
                retry_returns_original_position: store,
                retry_succeeds_even_when_condition_now_fails: store,
                partial_id_overlap_is_rejected: store,
                same_ids_different_content_is_rejected: store,
                retry_of_append_with_some_ids_is_rejected: store,
                events_without_ids_are_not_deduplicated: store,
            }
            invalid_input {
                empty_append_is_rejected: store,
                too_many_events_are_rejected: store,
                oversized_event_is_rejected: store,
                too_many_tags_are_rejected: store,
                oversized_append_is_rejected: store,
                duplicate_id_in_append_is_rejected: store,
                invalid_input_is_reported_before_the_condition: store,
                zero_limit_is_rejected: store,
                invalid_names_are_rejected: store,
            }
            concurrency {
                racing_conditional_appends_one_wins: store,
                disjoint_boundaries_all_win: options,
                concurrent_appends_get_unique_positions: options,
                concurrent_readers_see_consistent_prefixes: options,
                capacity_holds_under_contention: store,
            }
            subscribing {
                catches_up_then_goes_live: store,
                starts_after_the_given_position: store,
                reads_in_bounded_batches: store,
                position_resumes_without_gaps_or_repeats: store,
                live_under_concurrent_appends_misses_nothing: store,
            }
        }
    };
}

/// Calls one case: `kind area::case(store, options)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_call {
    (store $area:ident :: $case:ident ($store:expr, $options:expr)) => {
        $crate::conformance::$area::$case($store).await
    };
    (options $area:ident :: $case:ident ($store:expr, $options:expr)) => {
        $crate::conformance::$area::$case($store, &$options).await
    };
}

/// The expansion of [`conformance_tests!`]: one module per area, one
/// `#[test]` per case.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (() $( $area:ident { $( $case:ident : $kind:ident ),* $(,)? } )*) => {
        $(
            #[cfg(test)]
            mod $area {
                $(
                    #[test]
                    fn $case() {
                        $crate::conformance::block_on_case(async {
                            $crate::__conformance_call!(
                                $kind $area::$case(
                                    super::conformance_store().await,
                                    super::conformance_options()
                                )
                            );
                        });
                    }
                )*
            }
        )*
    };
}

/// The body of [`run_all`](crate::conformance::run_all).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    (($factory:ident, $options:ident) $( $area:ident { $( $case:ident : $kind:ident ),* $(,)? } )*) => {
        $( $(
            $crate::conformance::announce(concat!(stringify!($area), "::", stringify!($case)));
            $crate::__conformance_call!($kind $area::$case($factory().await, $options));
        )* )*
    };
}

/// The value of [`CASES`](crate::conformance::CASES).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_names {
    (() $( $area:ident { $( $case:ident : $kind:ident ),* $(,)? } )*) => {
        &[ $( $( concat!(stringify!($area), "::", stringify!($case)), )* )* ]
    };
}
