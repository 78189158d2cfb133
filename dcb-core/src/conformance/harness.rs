//! [`Harness`]: how the suite gets a new store for each case, and what it
//! does when there is none.

use std::fmt;
use std::future::Future;
use std::io::Write;

use crate::EventStore;

/// Makes the stores the suite runs its cases on: a new, empty store for
/// each case, with a guard that the suite drops after the store, when the
/// case has ended.
///
/// The harness owns a store's set-up and clean-up (a temporary directory,
/// a database schema), so the cases run on the store type itself: no
/// forwarding wrapper stands between them, which could hide one of the
/// store's own methods behind the trait's default.
///
/// A closure that returns a future of a store is a harness whose guard is
/// `()`: `|| async { InMemoryStore::new() }`. A store that needs cleaning
/// up after implements the trait:
///
/// ```
/// use dcb_core::conformance::{Harness, Unavailable};
/// use dcb_core::embedded::EmbeddedStore;
///
/// /// Embedded stores in temporary directories.
/// struct Temporary;
///
/// impl Harness for Temporary {
///     type Store = EmbeddedStore;
///     /// Removes the directory, after the store is closed.
///     type Guard = tempfile::TempDir;
///
///     async fn store(&self) -> Result<(EmbeddedStore, tempfile::TempDir), Unavailable> {
///         let dir = tempfile::tempdir().expect("a temporary directory");
///         let store = EmbeddedStore::open(dir.path()).expect("a new store");
///         Ok((store, dir))
///     }
/// }
///
/// dcb_core::conformance_tests!(Temporary);
/// # fn main() {}
/// ```
pub trait Harness {
    /// The store the cases run on.
    type Store: EventStore + 'static;
    /// What cleans up after the store when dropped; the suite drops it
    /// after the store.
    type Guard;

    /// A new, empty store and its guard; or, when the service the store
    /// needs cannot be reached, why: the case is then reported as skipped
    /// instead of run. A harness whose store is required panics instead.
    fn store(&self) -> impl Future<Output = Result<(Self::Store, Self::Guard), Unavailable>>;
}

impl<F, Fut> Harness for F
where
    F: Fn() -> Fut,
    Fut: Future,
    Fut::Output: EventStore + 'static,
{
    type Store = Fut::Output;
    type Guard = ();

    async fn store(&self) -> Result<(Fut::Output, ()), Unavailable> {
        Ok((self().await, ()))
    }
}

/// Why a [`Harness`] has no store to give: the service the store needs
/// (a database server) cannot be reached.
///
/// The suite reports each case it cannot run as skipped, with one line on
/// stderr that starts with `dcb: skipped`, names the test and gives the
/// reason, written past the test harness's output capture so that every
/// run shows it. It never runs a case on a stand-in.
///
/// ```
/// use dcb_core::conformance::Unavailable;
///
/// let unavailable = Unavailable::new("no PostgreSQL at 127.0.0.1:5432");
/// assert_eq!(unavailable.to_string(), "no PostgreSQL at 127.0.0.1:5432");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    reason: String,
}

impl Unavailable {
    /// The store is unavailable for `reason`.
    #[must_use]
    pub fn new(reason: impl Into<String>) -> Unavailable {
        Unavailable {
            reason: reason.into(),
        }
    }

    /// Why the store is unavailable.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Unavailable {}

/// Reports `test` as skipped: `dcb: skipped <test> (<reason>)`, straight to
/// the process's stderr, since the test harness shows what a passing test
/// prints with `eprintln!` to nobody.
pub(super) fn report_skipped(test: &str, unavailable: &Unavailable) {
    let line = format!("dcb: skipped {test} ({unavailable})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
