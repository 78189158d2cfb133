//! Given–when–then tests of decisions.
//!
//! `given(events).when(projection, command).then(events)` appends the given
//! events to a fresh [`InMemoryStore`], runs the decision, and compares what
//! it appended with the expected events. Every given event must be one the
//! decision can see — selected by its query — or the test fails saying why:
//! an event the decision cannot see would make the test pass for the wrong
//! reason.
//!
//! Events the decision must *not* see are stated apart, with
//! [`unseen`](Given::unseen): they are stored too, among the others in the
//! order given, and the test fails if the decision's query selects any of
//! them. Such a test proves that the boundary excludes them — "a
//! registration of another course is ignored". [`and`](Given::and) adds more
//! events the decision must see, after those.
//!
//! Given events are recorded at the time the test runs, unless a step
//! says when with [`at`](Given::at): a rule about time (a token valid for
//! ten minutes after it was issued) is tested at the times it names. The
//! times must not decrease from step to step, as a store's never do.
//!
//! A failing test points at its own line, not into the kit; a `then` that
//! finds other events than expected shows both as a line diff (`-` the
//! expected, `+` the appended events), each event as its type, its tags and
//! its data as pretty JSON.
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
//!
//! // The registration of another course is stored, and the decision must
//! // not see it: the course is still new.
//! let other = CourseId::new();
//! given(())
//!     .unseen(CourseRegistered { course_id: other })
//!     .when(CourseExists::new(course_id), register)
//!     .then(CourseRegistered { course_id });
//! ```
//!
//! Every function that can fail the test is `#[track_caller]`, so the
//! failure's location is the test's line.

use std::fmt::{self, Write as _};

use futures_util::FutureExt;
use similar::{ChangeTag, TextDiff};

use crate::decide::outcome::Outcome;
use crate::decide::runner::{DecideError, prepare};
use crate::domain::event::IntoEvents;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::{
    Clock, EventRecord, EventStore, InMemoryStore, Position, Projection, Query, ReadOptions,
    Timestamp,
};

/// Starts a test from the events already stored, each one the decision must
/// see; see the [module](self).
///
/// # Panics
///
/// Panics (failing the test) if an event cannot be encoded.
#[track_caller]
pub fn given(events: impl IntoEvents) -> Given {
    Given {
        events: encode(events, "given", Visibility::Seen),
        step: 0,
    }
}

/// The stored events of a test; see [`given`].
#[derive(Debug)]
pub struct Given {
    events: Vec<GivenEvent>,
    /// Where the events of the last step start in `events`.
    step: usize,
}

/// One stored event of a test, whether the decision must see it, and when
/// it is recorded (`None`: when the test runs).
#[derive(Debug)]
struct GivenEvent {
    event: EventRecord,
    visibility: Visibility,
    at: Option<Timestamp>,
}

/// What a test states about a stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    /// Given with [`given`] or [`Given::and`]: the decision's query must
    /// select it.
    Seen,
    /// Given with [`Given::unseen`]: the decision's query must not select it.
    Unseen,
}

/// Encodes the events of one step of a test, for the given `visibility`.
#[track_caller]
fn encode(events: impl IntoEvents, step: &str, visibility: Visibility) -> Vec<GivenEvent> {
    let mut encoded = Vec::new();
    if let Err(err) = events.into_events(&mut encoded) {
        panic!("{step}: {err}");
    }
    encoded
        .into_iter()
        .map(|event| GivenEvent {
            event,
            visibility,
            at: None,
        })
        .collect()
}

impl Given {
    /// Stores more events that the decision must see, after those given so
    /// far.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) if an event cannot be encoded.
    #[track_caller]
    #[must_use]
    pub fn and(mut self, events: impl IntoEvents) -> Given {
        self.step = self.events.len();
        self.events.extend(encode(events, "and", Visibility::Seen));
        self
    }

    /// Records the events of the last step (`given`, `and` or `unseen`) at
    /// `time`: what handlers taking the event's `Option<Timestamp>` see.
    ///
    /// ```
    /// use dcb_core::testkit::given;
    /// use dcb_core::{Event, Id, Timestamp, decision};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
    /// struct Email(String);
    ///
    /// #[derive(Event, Serialize, Deserialize, Debug)]
    /// struct TokenIssued { #[tag] email: Email }
    ///
    /// #[derive(Event, Serialize, Deserialize, Debug)]
    /// struct Confirmed { #[tag] email: Email }
    ///
    /// /// A token is valid for ten minutes after the store recorded it.
    /// #[decision]
    /// struct Confirmation {
    ///     #[boundary]
    ///     email: Email,
    ///     #[param]
    ///     now: Timestamp,
    ///     valid: bool,
    /// }
    ///
    /// #[decision]
    /// impl Confirmation {
    ///     fn issued(&mut self, _: &TokenIssued, recorded_at: Option<Timestamp>) {
    ///         let expires = recorded_at.map(|at| at.saturating_add(std::time::Duration::from_mins(10)));
    ///         self.valid = expires.is_some_and(|expires| self.now <= expires);
    ///     }
    /// }
    ///
    /// fn confirm(c: &Confirmation) -> Result<Confirmed, &'static str> {
    ///     if c.valid { Ok(Confirmed { email: c.email.clone() }) } else { Err("the token has expired") }
    /// }
    ///
    /// let noon: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
    /// let email = Email("ada@example.com".into());
    /// let issued = || TokenIssued { email: email.clone() };
    /// let in_time: Timestamp = "2026-12-05T12:09:59Z".parse().unwrap();
    /// given(issued()).at(noon)
    ///     .when(Confirmation::new(email.clone(), in_time), confirm)
    ///     .then(Confirmed { email: email.clone() });
    /// let late: Timestamp = "2026-12-05T12:10:01Z".parse().unwrap();
    /// given(issued()).at(noon)
    ///     .when(Confirmation::new(email.clone(), late), confirm)
    ///     .then_error(&"the token has expired");
    /// ```
    ///
    /// # Panics
    ///
    /// Panics (failing the test) if `time` is before the time of an
    /// earlier step: a store never records an event before an earlier one.
    #[track_caller]
    #[must_use]
    pub fn at(mut self, time: Timestamp) -> Given {
        if let Some(earlier) = self.events[..self.step].iter().filter_map(|e| e.at).max()
            && time < earlier
        {
            panic!(
                "at({time}): an earlier step is recorded at {earlier}; a store never records \
                 an event before an earlier one"
            );
        }
        for given in &mut self.events[self.step..] {
            given.at = Some(time);
        }
        self
    }

    /// Stores events that the decision must *not* see, after those given so
    /// far: [`when`](Given::when) fails if the decision's query selects any
    /// of them, so the test proves that its boundary excludes them.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) if an event cannot be encoded.
    #[track_caller]
    #[must_use]
    pub fn unseen(mut self, events: impl IntoEvents) -> Given {
        self.step = self.events.len();
        self.events
            .extend(encode(events, "unseen", Visibility::Unseen));
        self
    }

    /// Runs the decision on a store holding the given events, in the order
    /// given.
    ///
    /// # Panics
    ///
    /// Panics (failing the test), saying why, if a given event is not
    /// selected by the projection's query or an [unseen](Given::unseen) one
    /// is.
    #[track_caller]
    pub fn when<P, R, E>(
        self,
        projection: P,
        command: impl FnOnce(&P) -> Result<R, E>,
    ) -> Then<E, R::Value>
    where
        P: Projection,
        R: Outcome,
    {
        check_visibility(&projection.query(), &self.events);
        let (store, head) = store(self.events);
        Then {
            outcome: run(&store, projection, command),
            appended: appended_after(&store, head),
        }
    }
}

/// Runs the decision on `store`: the command's value, or why it did not
/// append. Every future of the in-memory store is ready at once, so the
/// decision completes in one poll without a runtime.
#[track_caller]
fn run<P, R, E>(
    store: &InMemoryStore,
    projection: P,
    command: impl FnOnce(&P) -> Result<R, E>,
) -> Result<R::Value, DecideError<E>>
where
    P: Projection,
    R: Outcome,
{
    let Some(prepared) = prepare(store, projection, command).now_or_never() else {
        unreachable_pending()
    };
    let (decided, value) = prepared?.split();
    match decided.append(store).now_or_never() {
        Some(Ok(_)) => Ok(value),
        Some(Err(err)) => Err(DecideError::Append(err)),
        None => unreachable_pending(),
    }
}

/// Fails the test if the query leaves out a given event the decision must
/// see, or selects one it must not see. Events are numbered from 0 in the
/// order given, across `given`, `and` and `unseen`.
#[track_caller]
fn check_visibility(query: &Query, events: &[GivenEvent]) {
    for (index, given) in events.iter().enumerate() {
        let event = &given.event;
        match (given.visibility, query.matches(event)) {
            (Visibility::Seen, false) => panic!(
                "given event {index} ({} with tags {:?}) is not one the decision can see: {}; \
                 a test that gives it proves nothing (state it with `unseen` if the test is \
                 that the decision ignores it)",
                event.event_type(),
                event.tags(),
                why_not_selected(query, event)
            ),
            (Visibility::Unseen, true) => panic!(
                "unseen event {index} ({} with tags {:?}) is selected by the decision's query: \
                 {}; the boundary does not exclude it",
                event.event_type(),
                event.tags(),
                why_selected(query, event)
            ),
            _ => {}
        }
    }
}

/// A fresh in-memory store holding `events` in order, each recorded at
/// its time (or when the test runs), and its head.
#[track_caller]
fn store(events: Vec<GivenEvent>) -> (InMemoryStore, Option<Position>) {
    /// The clock's setting for "the system clock".
    const SYSTEM: i64 = i64::MIN;
    let setting = Arc::new(AtomicI64::new(SYSTEM));
    let clock = {
        let setting = Arc::clone(&setting);
        Clock::from_fn(move || match setting.load(Ordering::Relaxed) {
            SYSTEM => Timestamp::now(),
            micros => Timestamp::from_micros(micros),
        })
    };
    let store = InMemoryStore::new().with_clock(clock);
    let mut head = None;
    let mut events = events.into_iter().peekable();
    while let Some(first) = events.next() {
        // One append per run of events given one time.
        let at = first.at;
        let mut records = vec![first.event];
        while let Some(next) = events.next_if(|next| next.at == at) {
            records.push(next.event);
        }
        setting.store(at.map_or(SYSTEM, Timestamp::as_micros), Ordering::Relaxed);
        match store.append_now(records, None) {
            Ok(last) => head = Some(last),
            Err(err) => panic!("given: the events cannot be stored: {err}"),
        }
    }
    setting.store(SYSTEM, Ordering::Relaxed);
    (store, head)
}

/// The events appended to `store` after `head`.
#[track_caller]
fn appended_after(store: &InMemoryStore, head: Option<Position>) -> Vec<EventRecord> {
    match store
        .read_to_end(&Query::all(), ReadOptions::new().after(head))
        .now_or_never()
    {
        Some(Ok(result)) => result.events.into_iter().map(|e| e.event).collect(),
        Some(Err(err)) => panic!("reading what the decision appended failed: {err}"),
        None => unreachable_pending(),
    }
}

#[track_caller]
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

/// Explains which items of `query` select `event`.
fn why_selected(query: &Query, event: &EventRecord) -> String {
    if query.is_all() {
        return "the decision reads every event (it has no boundary)".to_owned();
    }
    let reasons: Vec<String> = query
        .items()
        .iter()
        .filter(|item| item.matches(event))
        .map(|item| {
            let tags: Vec<&str> = item
                .required_tags()
                .iter()
                .map(crate::Tag::as_str)
                .collect();
            if tags.is_empty() {
                format!(
                    "the decision handles {} whatever its tags",
                    event.event_type()
                )
            } else {
                format!(
                    "the decision handles {} and the event carries its boundary tag(s) {tags:?}",
                    event.event_type()
                )
            }
        })
        .collect();
    reasons.join("; and ")
}

/// The outcome of a decision under test; see [`given`]. `V` is the value
/// the command handed back with [`Returning`](crate::Returning), `()` if
/// none.
#[must_use = "a test needs `then` or `then_error` to check something"]
pub struct Then<E, V = ()> {
    outcome: Result<V, DecideError<E>>,
    appended: Vec<EventRecord>,
}

impl<E: fmt::Debug, V> Then<E, V> {
    /// Asserts that the decision succeeded and appended exactly `expected`
    /// (same types, tags and data, in order; data compared as JSON when both
    /// sides are JSON). Returns the command's value, for the test to check:
    /// `assert_eq!(given(…).when(…).then(…), 2)`.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) on any difference, showing the expected
    /// and the appended events as a line diff.
    #[track_caller]
    pub fn then(self, expected: impl IntoEvents) -> V {
        let mut wanted = Vec::new();
        if let Err(err) = expected.into_events(&mut wanted) {
            panic!("then: {err}");
        }
        let value = match self.outcome {
            Ok(value) => value,
            Err(err) => panic!(
                "the decision failed with {err:?}, but was expected to append:\n{}",
                indent(&render(&wanted))
            ),
        };
        let same = self.appended.len() == wanted.len()
            && self
                .appended
                .iter()
                .zip(&wanted)
                .all(|(a, w)| same_event(a, w));
        assert!(
            same,
            "the decision appended other events than expected (- expected, + appended):\n{}",
            diff(&render(&wanted), &render(&self.appended))
        );
        value
    }

    /// Asserts that the decision appended nothing and failed with `expected`
    /// as its domain error.
    ///
    /// # Panics
    ///
    /// Panics (failing the test) otherwise.
    #[track_caller]
    pub fn then_error(self, expected: &E)
    where
        E: PartialEq,
    {
        match self.outcome {
            Err(DecideError::Rejected(err)) if err == *expected => {}
            Err(other) => {
                panic!("the decision failed with {other:?}, expected Rejected({expected:?})")
            }
            Ok(_) => panic!(
                "the decision succeeded, expected Rejected({expected:?}); it appended:\n{}",
                indent(&render(&self.appended))
            ),
        }
        assert!(
            self.appended.is_empty(),
            "a rejected decision appended:\n{}",
            indent(&render(&self.appended))
        );
    }
}

fn same_event(a: &EventRecord, b: &EventRecord) -> bool {
    a.event_type() == b.event_type() && a.tags() == b.tags() && same_data(a.data(), b.data())
}

fn same_data(a: &[u8], b: &[u8]) -> bool {
    match (json(a), json(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

fn json(data: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(data).ok()
}

/// Events as a reader compares them, one block each: the type, the tags,
/// and the data as pretty JSON where it is JSON. Equal events render
/// equally, so a line diff of two renderings shows what differs.
fn render(events: &[EventRecord]) -> String {
    if events.is_empty() {
        return "(no events)\n".to_owned();
    }
    let mut text = String::new();
    for event in events {
        let _ = writeln!(text, "{}", event.event_type());
        let tags: Vec<&str> = event.tags().iter().map(crate::Tag::as_str).collect();
        let _ = writeln!(text, "  tags: {tags:?}");
        match json(event.data()).and_then(|value| serde_json::to_string_pretty(&value).ok()) {
            Some(pretty) => {
                let mut lines = pretty.lines();
                let _ = writeln!(text, "  data: {}", lines.next().unwrap_or_default());
                for line in lines {
                    let _ = writeln!(text, "  {line}");
                }
            }
            None => {
                let _ = writeln!(text, "  data (not JSON): {:?}", event.data());
            }
        }
    }
    text
}

/// Every line of `old` and `new`, each marked `-` (only in `old`), `+`
/// (only in `new`) or ` ` (in both).
fn diff(old: &str, new: &str) -> String {
    let mut text = String::new();
    for change in TextDiff::from_lines(old, new).iter_all_changes() {
        let mark = match change.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        };
        let _ = writeln!(text, "{mark} {}", change.value().trim_end_matches('\n'));
    }
    text
}

/// `text` with every line indented by two spaces, as the diff's lines are.
fn indent(text: &str) -> String {
    text.lines().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "  {line}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Tag};

    fn event(event_type: &'static str, tag: &'static str, data: &'static str) -> EventRecord {
        EventRecord::new(EventType::from_static(event_type), data)
            .with_tags([Tag::from_static(tag)])
    }

    #[test]
    fn given_events_are_stored_in_the_order_given() {
        let given = |event_type, visibility| GivenEvent {
            event: event(event_type, "x:1", "{}"),
            visibility,
            at: None,
        };
        let events = vec![
            given("A", Visibility::Seen),
            given("B", Visibility::Unseen),
            given("C", Visibility::Seen),
        ];
        let (store, head) = store(events);
        assert_eq!(head, Position::new(3));
        let stored: Vec<String> = appended_after(&store, None)
            .iter()
            .map(|e| e.event_type().to_string())
            .collect();
        assert_eq!(stored, ["A", "B", "C"]);
    }

    #[test]
    fn a_rendering_shows_type_tags_and_pretty_json_data() {
        let events = [
            event("Joined", "course:1", r#"{"student":"s1","n":2}"#),
            event("Raw", "course:1", "not json"),
        ];
        assert_eq!(
            render(&events),
            "Joined\n  tags: [\"course:1\"]\n  data: {\n    \"n\": 2,\n    \"student\": \"s1\"\n  }\n\
             Raw\n  tags: [\"course:1\"]\n  data (not JSON): b\"not json\"\n"
        );
        assert_eq!(render(&[]), "(no events)\n");
    }
}
