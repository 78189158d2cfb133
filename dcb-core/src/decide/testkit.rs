//! Given–when–then tests of decisions.
//!
//! `given(events).when(projection, command).then(events)` appends the given
//! events to a fresh [`InMemoryStore`], runs the decision, and compares what
//! it appended with the expected events. Every given event must be one the
//! decision can see — selected by its query — or the test fails saying why:
//! an event the decision cannot see would make the test pass for the wrong
//! reason.
//!
//! ```
//! use dcb_core::testkit::given;
//! use dcb_core::{Event, Id, decision};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! struct CourseId(dcb_core::Uuid);
//!
//! #[derive(Event, Serialize, Deserialize, Debug)]
//! struct CourseRegistered {
//!     #[tag]
//!     course_id: CourseId,
//! }
//!
//! #[decision]
//! struct CourseExists {
//!     #[boundary]
//!     course_id: CourseId,
//!     exists: bool,
//! }
//!
//! #[decision]
//! impl CourseExists {
//!     fn registered(&mut self, _: &CourseRegistered) {
//!         self.exists = true;
//!     }
//! }
//!
//! fn register(state: &CourseExists) -> Result<CourseRegistered, &'static str> {
//!     if state.exists { Err("already registered") } else { Ok(CourseRegistered { course_id: state.course_id }) }
//! }
//!
//! let course_id = CourseId::new();
//! given(()).when(CourseExists::new(course_id), register).then(CourseRegistered { course_id });
//! given(CourseRegistered { course_id })
//!     .when(CourseExists::new(course_id), register)
//!     .then_error(&"already registered");
//! ```

use std::fmt::{self, Debug};

use futures_util::FutureExt;

use crate::decide::runner::{DecideError, decide};
use crate::domain::event::IntoEvents;
use crate::{EventRecord, EventStore, InMemoryStore, Projection, Query, ReadOptions};

/// Starts a test from the events already stored.
///
/// # Panics
///
/// Panics (failing the test) if an event cannot be encoded.
pub fn given(events: impl IntoEvents) -> Given {
    let mut encoded = Vec::new();
    if let Err(err) = events.into_events(&mut encoded) {
        panic!("given: {err}");
    }
    Given { events: encoded }
}

/// The stored events of a test; see [`given`].
#[derive(Debug)]
pub struct Given {
    events: Vec<EventRecord>,
}

impl Given {
    /// Runs the decision on a store holding the given events.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) if a given event is not selected by the
    /// projection's query, saying why.
    pub fn when<P, R, E>(self, projection: P, command: impl FnOnce(&P) -> Result<R, E>) -> Then<E>
    where
        P: Projection,
        R: IntoEvents,
    {
        let query = projection.query();
        for (index, event) in self.events.iter().enumerate() {
            assert!(
                query.matches(event),
                "given event {index} ({} with tags {:?}) is not one the decision can see: {}; \
                 a test that gives it proves nothing",
                event.event_type(),
                event.tags(),
                why_not_selected(&query, event)
            );
        }
        let store = InMemoryStore::new();
        let head = if self.events.is_empty() {
            None
        } else {
            match store.append_now(self.events, None) {
                Ok(position) => Some(position),
                Err(err) => panic!("given: the events cannot be stored: {err}"),
            }
        };
        // Every future of the in-memory store is ready at once, so the
        // decision completes in one poll without a runtime.
        let outcome = decide(&store, projection, command)
            .now_or_never()
            .unwrap_or_else(|| unreachable_pending());
        let appended = match store
            .read_to_end(&Query::all(), ReadOptions::new().after(head))
            .now_or_never()
        {
            Some(Ok(result)) => result.events.into_iter().map(|e| e.event).collect(),
            Some(Err(err)) => panic!("reading what the decision appended failed: {err}"),
            None => unreachable_pending(),
        };
        Then {
            outcome: outcome.map(|_| ()),
            appended,
        }
    }
}

fn unreachable_pending() -> ! {
    panic!(
        "a decision on the in-memory store did not complete at once (does it retry with a delay?)"
    )
}

/// Explains why no item of `query` selects `event`.
fn why_not_selected(query: &Query, event: &EventRecord) -> String {
    let reasons: Vec<String> = query
        .items()
        .iter()
        .map(|item| {
            if item.matches_type(event.event_type()) {
                let missing: Vec<&str> = item
                    .required_tags()
                    .iter()
                    .filter(|t| !event.tags().contains(t.as_str()))
                    .map(crate::Tag::as_str)
                    .collect();
                format!("it lacks the boundary tag(s) {missing:?}")
            } else {
                format!("the decision does not handle {}", event.event_type())
            }
        })
        .collect();
    reasons.join("; or ")
}

/// The outcome of a decision under test; see [`given`].
#[must_use = "a test needs `then` or `then_error` to check something"]
pub struct Then<E> {
    outcome: Result<(), DecideError<E>>,
    appended: Vec<EventRecord>,
}

impl<E: Debug> Then<E> {
    /// Asserts that the decision succeeded and appended exactly `expected`
    /// (same types, tags and data, in order; data compared as JSON when both
    /// sides are JSON).
    ///
    /// # Panics
    ///
    /// Panics (failing the test) on any difference.
    pub fn then(self, expected: impl IntoEvents) {
        let mut wanted = Vec::new();
        if let Err(err) = expected.into_events(&mut wanted) {
            panic!("then: {err}");
        }
        if let Err(err) = self.outcome {
            panic!(
                "the decision failed with {err:?}, but was expected to append {:?}",
                Shown(&wanted)
            );
        }
        let same = self.appended.len() == wanted.len()
            && self
                .appended
                .iter()
                .zip(&wanted)
                .all(|(a, w)| same_event(a, w));
        assert!(
            same,
            "the decision appended\n  {:?}\nbut was expected to append\n  {:?}",
            Shown(&self.appended),
            Shown(&wanted)
        );
    }

    /// Asserts that the decision appended nothing and failed with `expected`
    /// as its domain error.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) otherwise.
    pub fn then_error(self, expected: &E)
    where
        E: PartialEq,
    {
        match self.outcome {
            Err(DecideError::Rejected(err)) if err == *expected => {}
            Err(other) => {
                panic!("the decision failed with {other:?}, expected Rejected({expected:?})")
            }
            Ok(()) => panic!(
                "the decision succeeded and appended {:?}, expected Rejected({expected:?})",
                Shown(&self.appended)
            ),
        }
        assert!(
            self.appended.is_empty(),
            "a rejected decision appended {:?}",
            Shown(&self.appended)
        );
    }
}

fn same_event(a: &EventRecord, b: &EventRecord) -> bool {
    a.event_type() == b.event_type() && a.tags() == b.tags() && same_data(a.data(), b.data())
}

fn same_data(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Events shown with their data as text where it is text.
struct Shown<'a>(&'a [EventRecord]);

impl Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0).finish()
    }
}
