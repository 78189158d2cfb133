//! The store-independent conformance suite: the [`EventStore`] contract as
//! executable cases that every store runs.
//!
//! Each case is a public `async fn` that takes a fresh, empty store (and,
//! for a few, the [`Options`]) and panics with a message naming the broken
//! rule when the store does not conform. The cases are grouped by area:
//! [`matching`], [`reading`], [`appending`], [`idempotency`],
//! [`invalid_input`], [`recording`], [`concurrency`] and [`subscribing`];
//! [`CASES`] lists them all.
//!
//! # Running the suite
//!
//! The [`conformance_tests!`](crate::conformance_tests) macro expands to
//! one `#[test]` per case, so a test runner reports each case by name. It
//! takes a [`Harness`], which makes the stores: a closure returning a
//! future of a new store is one.
//!
//! ```
//! // tests/conformance.rs
//! use dcb_core::InMemoryStore;
//!
//! dcb_core::conformance_tests!(|| async { InMemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! Every case runs three times: on the store itself, through an `Arc` of
//! it and through a reference to it, since a store shared either way must
//! behave the same (the `Arc<S>` and `&S` stores forward every method).
//! [`run_all`] runs every case in order inside one test instead.
//!
//! # What a store must provide
//!
//! - The harness returns a **new, empty** store each time it is asked: the
//!   cases assume the first event they append is at position 1.
//! - The store enforces the default [`Limits`](crate::Limits) (1 MiB per
//!   event, 100 000 events per append): the invalid-input cases append an
//!   event just over the first and an append just over the second.
//! - Positions are gap-free unless [`Options::gap_free_positions`] says
//!   otherwise.
//! - [`EventStore::wait_for_append`] is woken by appends, without a
//!   timer, unless [`Options::wakes_without_timers`] says otherwise.
//!
//! # The reference model
//!
//! [`ReferenceStore`] is the contract written out plainly, over a `Vec`
//! with linear scans: the oracle that model-based tests compare every
//! store with, operation by operation. It runs this suite too, so the
//! model is proven by the same cases as the stores.
//!
//! The concurrency cases spawn tasks with `tokio::spawn`, so the suite runs
//! inside a tokio runtime, ideally a multi-threaded one (the generated tests
//! use one with four worker threads).
//!
//! [`EventStore`]: crate::EventStore
//! [`EventStore::wait_for_append`]: crate::EventStore::wait_for_append

// Every case panics when the store does not conform: that is how a test
// fails, and the module documentation says so once for all of them.
#![allow(clippy::missing_panics_doc)]

pub mod appending;
pub mod concurrency;
mod harness;
pub mod idempotency;
pub mod invalid_input;
pub mod matching;
pub mod reading;
pub mod recording;
mod reference;
pub mod subscribing;
mod support;

use std::future::Future;
use std::time::Duration;

pub use harness::{Harness, Unavailable};
pub use reference::{ReferenceEvents, ReferenceStore};

/// What the suite may assume about a store beyond the [`EventStore`]
/// contract.
///
/// ```
/// use dcb_core::conformance::Options;
///
/// // A store whose positions come from a database sequence, and whose
/// // subscriptions poll now and then.
/// let options = Options::new()
///     .gap_free_positions(false)
///     .wakes_without_timers(false);
/// assert!(!options.gap_free_positions);
/// assert!(Options::default().gap_free_positions);
/// assert!(Options::default().wakes_without_timers);
/// ```
///
/// [`EventStore`]: crate::EventStore
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Whether the store promises gap-free positions: the events of a store
    /// with `n` events are at positions `1..=n`, even after failed and
    /// concurrent appends. Defaults to `true`.
    pub gap_free_positions: bool,
    /// Whether [`EventStore::wait_for_append`](crate::EventStore::wait_for_append)
    /// is woken by the append itself and needs no timer. The suite then
    /// waits on a runtime without timers, where the trait's polling default
    /// cannot run: a store, or a pointer to one, that falls back to the
    /// default fails. Defaults to `true`; a store that polls (as the
    /// PostgreSQL store does beside its notifications) sets it to `false`.
    pub wakes_without_timers: bool,
}

impl Options {
    /// The default options: positions are gap-free, and appends wake
    /// waiters without a timer.
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

    /// Sets whether the store's `wait_for_append` is woken by appends
    /// without a timer.
    #[must_use]
    pub fn wakes_without_timers(mut self, without_timers: bool) -> Options {
        self.wakes_without_timers = without_timers;
        self
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            gap_free_positions: true,
            wakes_without_timers: true,
        }
    }
}

/// The names of all cases, as `area::case`, in the order [`run_all`] runs
/// them.
pub const CASES: &[&str] = crate::__conformance_cases!(__conformance_names!());

/// Runs every case in order, each against a new store from `harness`.
///
/// Call it from inside a tokio runtime (preferably a multi-threaded one):
/// the concurrency cases spawn tasks. The name of each case is printed to
/// stderr before it runs, so a failure shows which case failed. When the
/// harness has no store to give ([`Unavailable`]), the run is reported as
/// skipped and returns.
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
pub async fn run_all<H: Harness>(harness: H, options: Options) {
    let test = std::thread::current()
        .name()
        .unwrap_or("conformance::run_all")
        .to_owned();
    crate::__conformance_cases!(__conformance_run_all!(harness, options, test));
}

/// How many worker threads the runtime of a generated test has.
const WORKER_THREADS: usize = 4;

/// How long one generated test may run before it is declared hung.
const CASE_TIMEOUT: Duration = Duration::from_mins(5);

/// Runs one case of a test that
/// [`conformance_tests!`](crate::conformance_tests) generates, on a new
/// multi-threaded tokio runtime (so the crate using the macro needs no
/// tokio dependency of its own): asks `harness` for a store, passes it to
/// `case` with `options`, then drops the harness's guard. `test` is the
/// test's path, as `module_path!()` and the case's name give it.
#[doc(hidden)]
pub fn run_case<H, C, F>(harness: &H, options: Options, test: &str, case: C)
where
    H: Harness,
    C: FnOnce(H::Store, Options) -> F,
    F: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime for the case: {e}"));
    runtime.block_on(async {
        let Some((store, guard)) = fresh(harness, test_name(test)).await else {
            return;
        };
        let finished = tokio::time::timeout(CASE_TIMEOUT, case(store, options)).await;
        assert!(
            finished.is_ok(),
            "the case did not finish within {CASE_TIMEOUT:?}: is the store deadlocked?"
        );
        drop(guard);
    });
}

/// A new store and its guard from `harness`, or `None` after reporting
/// `test` as skipped.
#[doc(hidden)]
pub async fn fresh<H: Harness>(harness: &H, test: &str) -> Option<(H::Store, H::Guard)> {
    match harness.store().await {
        Ok(fresh) => Some(fresh),
        Err(unavailable) => {
            harness::report_skipped(test, &unavailable);
            None
        }
    }
}

/// The name the test runner gives the test at `path`: the path without
/// the crate's name.
fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, name)| name)
}

/// The store a `by_ref` test passes to its case: a reference to `store`.
/// Cases share their store with spawned tasks, which need a `'static`
/// reference, so the store is leaked: it lives, without its guard's
/// clean-up, until the test process ends.
#[doc(hidden)]
pub fn leaked<S>(store: S) -> &'static S {
    Box::leak(Box::new(store))
}

/// Prints the name of the case [`run_all`] is about to run.
#[doc(hidden)]
pub fn announce(case: &str) {
    eprintln!("conformance case {case}");
}

/// Expands to one `#[test]` per conformance case and way of holding the
/// store, each running the case on a fresh store from the given
/// [`Harness`](crate::conformance::Harness).
///
/// The first argument is the harness: an expression, evaluated in the
/// module where the macro is invoked, such as `|| async {
/// InMemoryStore::new() }` or a value of a type that implements
/// `Harness`. Any further `name = value` arguments set the
/// [`Options`](crate::conformance::Options) of the same name.
///
/// ```
/// use dcb_core::InMemoryStore;
///
/// dcb_core::conformance_tests!(|| async { InMemoryStore::new() }, gap_free_positions = true);
/// # fn main() {}
/// ```
///
/// Each case runs on the store itself, in one module per area
/// (`matching`, `reading`, `appending`, `idempotency`, `invalid_input`,
/// `concurrency`, `subscribing`), so the tests are named like
/// `matching::types_only`; and again through an `Arc` of the store (the
/// module `arc`, as in `arc::matching::types_only`) and through a
/// reference to it (`by_ref::matching::types_only`). For a store whose
/// cases are slow, `; arc_and_ref = representative` after the options
/// runs only a representative case or two of each area through `Arc` and
/// `&` (`arc_and_ref = all` is the default):
///
/// ```
/// # use dcb_core::InMemoryStore;
/// dcb_core::conformance_tests!(
///     || async { InMemoryStore::new() },
///     gap_free_positions = true;
///     arc_and_ref = representative
/// );
/// # fn main() {}
/// ```
///
/// Invoke it once per module, preferably in a test file or module of its
/// own: it defines the private functions `conformance_harness` and
/// `conformance_options` and the modules named above. Everything is
/// `#[cfg(test)]`.
///
/// Each test builds its own multi-threaded tokio runtime; the invoking
/// crate does not need to depend on tokio.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr $(, $option:ident = $value:expr)* ; arc_and_ref = $selection:ident $(,)?) => {
        /// The harness that makes a new, empty store for each conformance case.
        #[cfg(test)]
        fn conformance_harness() -> impl $crate::conformance::Harness {
            $harness
        }

        /// The conformance options for this store.
        #[cfg(test)]
        fn conformance_options() -> $crate::conformance::Options {
            $crate::conformance::Options::new()$(.$option($value))*
        }

        $crate::__conformance_cases!(__conformance_tests!(owned all));

        /// The conformance cases through an `Arc` of the store.
        #[cfg(test)]
        mod arc {
            use super::{conformance_harness, conformance_options};

            $crate::__conformance_cases!(__conformance_tests!(arc $selection));
        }

        /// The conformance cases through a reference to the store.
        #[cfg(test)]
        mod by_ref {
            use super::{conformance_harness, conformance_options};

            $crate::__conformance_cases!(__conformance_tests!(by_ref $selection));
        }
    };
    ($harness:expr $(, $option:ident = $value:expr)* $(,)?) => {
        $crate::conformance_tests!($harness $(, $option = $value)*; arc_and_ref = all);
    };
}

/// The list of cases, kept in this one place: calls the macro `$callback`
/// with `$args` followed by `area { case: kind, … }` for every area. A case
/// of kind `store` takes the store; one of kind `options` also takes
/// `&Options`. A case marked `+ representative` runs through `Arc` and `&`
/// under `arc_and_ref = representative`: together they call every method
/// of the store.
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
                types_and_tags: store + representative,
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
                events_round_trip: store + representative,
                head_tracks_appends: store + representative,
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
                condition_reports_first_conflict: store + representative,
                condition_after_ignores_earlier_events: store,
                condition_matching_nothing_passes: store,
                condition_ignores_own_events: store,
                condition_only_conflicts_with_matching_events: store,
                failed_condition_writes_nothing: store,
                condition_items_count_after_their_own_positions: store,
                condition_item_positions_hold_for_untagged_items: store,
            }
            idempotency {
                retry_returns_original_position: store + representative,
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
                invalid_input_is_reported_before_the_condition: store + representative,
                zero_limit_is_rejected: store,
                invalid_names_are_rejected: store,
            }
            recording {
                metadata_round_trips: store + representative,
                metadata_is_never_matched: store,
                times_are_recorded_and_never_decrease: store + representative,
                times_never_decrease_under_concurrent_appends: store,
                a_repeat_keeps_the_first_metadata: store,
                invalid_metadata_is_rejected: store,
            }
            concurrency {
                racing_conditional_appends_one_wins: store + representative,
                disjoint_boundaries_all_win: options,
                concurrent_appends_get_unique_positions: options,
                concurrent_readers_see_consistent_prefixes: options,
                capacity_holds_under_contention: store,
            }
            subscribing {
                an_append_wakes_wait_for_append: options + representative,
                catches_up_then_goes_live: store + representative,
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
    (store $area:ident :: $case:ident ($store:expr, $options:expr)) => {{
        let _ = $options;
        $crate::conformance::$area::$case($store).await
    }};
    (options $area:ident :: $case:ident ($store:expr, $options:expr)) => {
        $crate::conformance::$area::$case($store, &$options).await
    };
}

/// The expansion of [`conformance_tests!`]: one module per area, holding
/// the tests of the cases that `$selection` (`all` or `representative`)
/// picks, each on the store held as `$through` says.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($through:ident $selection:ident)
     $( $area:ident { $( $case:ident : $kind:ident $(+ $mark:ident)? ),* $(,)? } )*) => {
        $(
            #[cfg(test)]
            mod $area {
                $(
                    $crate::__conformance_test!(
                        $selection [$($mark)?] $through $kind $area::$case
                    );
                )*
            }
        )*
    };
}

/// One test of [`conformance_tests!`], if its selection picks it.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    (all [$($mark:ident)?] $through:ident $kind:ident $area:ident :: $case:ident) => {
        $crate::__conformance_test!(@test $through $kind $area::$case);
    };
    (representative [representative] $through:ident $kind:ident $area:ident :: $case:ident) => {
        $crate::__conformance_test!(@test $through $kind $area::$case);
    };
    (representative [] $($rest:tt)*) => {};
    (@test $through:ident $kind:ident $area:ident :: $case:ident) => {
        #[test]
        fn $case() {
            $crate::conformance::run_case(
                &super::conformance_harness(),
                super::conformance_options(),
                concat!(module_path!(), "::", stringify!($case)),
                |store, options| async move {
                    $crate::__conformance_call!(
                        $kind $area::$case($crate::__conformance_through!($through store), options)
                    );
                },
            );
        }
    };
}

/// The store as a case of [`conformance_tests!`] gets it: `owned`, in an
/// `arc`, or `by_ref`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_through {
    (owned $store:ident) => {
        $store
    };
    (arc $store:ident) => {
        ::std::sync::Arc::new($store)
    };
    (by_ref $store:ident) => {
        $crate::conformance::leaked($store)
    };
}

/// The body of [`run_all`](crate::conformance::run_all).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    (($harness:ident, $options:ident, $test:ident)
     $( $area:ident { $( $case:ident : $kind:ident $(+ $mark:ident)? ),* $(,)? } )*) => {
        $( $(
            $crate::conformance::announce(concat!(stringify!($area), "::", stringify!($case)));
            let Some((store, guard)) = $crate::conformance::fresh(&$harness, &$test).await else {
                return;
            };
            // Each case's future on the heap: inline, all of them made one
            // future whose poll overflowed a test thread's stack in debug
            // builds (through `AnyStore`, whose futures are large).
            ::std::boxed::Box::pin(async {
                $crate::__conformance_call!($kind $area::$case(store, $options));
            })
            .await;
            drop(guard);
        )* )*
    };
}

/// The value of [`CASES`](crate::conformance::CASES).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_names {
    (() $( $area:ident { $( $case:ident : $kind:ident $(+ $mark:ident)? ),* $(,)? } )*) => {
        &[ $( $( concat!(stringify!($area), "::", stringify!($case)), )* )* ]
    };
}
