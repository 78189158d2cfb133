//! Helpers shared by the cases: building events and queries concisely, and
//! reading and appending with failure messages that say what was expected.

use std::panic::resume_unwind;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::{
    AppendCondition, AppendError, Bytes, EventRecord, EventStore, EventType, InvalidInput,
    Position, Query, QueryItem, ReadOptions, ReadResult, Tag, Tags,
};

/// An event type from a name the suite knows is valid.
pub(super) fn event_type(name: &str) -> EventType {
    EventType::new(name).unwrap_or_else(|e| panic!("the suite's own event type: {e}"))
}

/// A tag from a name the suite knows is valid.
pub(super) fn tag(name: &str) -> Tag {
    Tag::new(name).unwrap_or_else(|e| panic!("the suite's own tag: {e}"))
}

/// A tag set.
pub(super) fn tags(names: &[&str]) -> Tags {
    names.iter().map(|name| tag(name)).collect()
}

/// An event of type `ty` with `tag_names` and empty data.
pub(super) fn ev(ty: &str, tag_names: &[&str]) -> EventRecord {
    ev_data(ty, tag_names, Bytes::new())
}

/// An event of type `ty` with `tag_names` and `data`.
pub(super) fn ev_data(ty: &str, tag_names: &[&str], data: impl Into<Bytes>) -> EventRecord {
    EventRecord::new(event_type(ty), data).with_tags(tags(tag_names))
}

/// A query item: any of `types` (any type when empty), all of `tag_names`.
pub(super) fn item(types: &[&str], tag_names: &[&str]) -> QueryItem {
    QueryItem::new()
        .types(types.iter().map(|t| event_type(t)))
        .tags(tag_names.iter().map(|t| tag(t)))
}

/// The query of one item that requires all of `tag_names`.
pub(super) fn tagged(tag_names: &[&str]) -> Query {
    Query::from(item(&[], tag_names))
}

/// The query of one item that accepts any of `types`.
pub(super) fn typed(types: &[&str]) -> Query {
    Query::from(item(types, &[]))
}

/// A condition failing on any event matching `query` after `after`.
pub(super) fn condition(query: &Query, after: Option<u64>) -> AppendCondition {
    AppendCondition::new(query.clone()).after(after.and_then(Position::new))
}

/// Appends without a condition, which must succeed.
pub(super) async fn append<S: EventStore>(store: &S, events: Vec<EventRecord>) -> Position {
    let count = events.len();
    match store.append(events, None).await {
        Ok(position) => position,
        Err(e) => panic!("an unconditional append of {count} valid events failed: {e} ({e:?})"),
    }
}

/// Appends under `condition`, which must pass.
pub(super) async fn append_if<S: EventStore>(
    store: &S,
    events: Vec<EventRecord>,
    condition: AppendCondition,
) -> Position {
    let shown = format!("{condition:?}");
    match store.append(events, Some(condition)).await {
        Ok(position) => position,
        Err(e) => panic!("the append under {shown} should pass but failed: {e} ({e:?})"),
    }
}

/// Appends, which must fail; returns the error. `what` says why it must.
pub(super) async fn append_err<S: EventStore>(
    store: &S,
    events: Vec<EventRecord>,
    condition: Option<AppendCondition>,
    what: &str,
) -> AppendError {
    match store.append(events, condition).await {
        Ok(position) => panic!("{what}: the append should fail but succeeded at {position}"),
        Err(e) => e,
    }
}

/// The conflicting position of a failed condition.
pub(super) fn expect_conflict(err: AppendError, what: &str) -> u64 {
    match err {
        AppendError::ConditionFailed { conflicting } => conflicting.get(),
        other => panic!("{what}: expected ConditionFailed, got {other:?}"),
    }
}

/// Fails the append, which must fail its condition, and returns the
/// conflicting position.
pub(super) async fn conflict<S: EventStore>(
    store: &S,
    events: Vec<EventRecord>,
    condition: AppendCondition,
    what: &str,
) -> u64 {
    expect_conflict(append_err(store, events, Some(condition), what).await, what)
}

/// The input problem of an append rejected as invalid.
pub(super) fn expect_invalid(err: AppendError, what: &str) -> InvalidInput {
    match err {
        AppendError::InvalidInput(invalid) => invalid,
        other => panic!("{what}: expected AppendError::InvalidInput, got {other:?}"),
    }
}

/// The id and position of an append rejected as a duplicate of stored ids.
pub(super) fn expect_duplicate(err: AppendError, what: &str) -> (crate::Uuid, u64) {
    match err {
        AppendError::DuplicateEventId { id, position } => (id, position.get()),
        other => panic!("{what}: expected DuplicateEventId, got {other:?}"),
    }
}

/// Starts a read, which must succeed.
pub(super) async fn open<S: EventStore>(
    store: &S,
    query: &Query,
    options: ReadOptions,
) -> S::Stream {
    match store.read(query, options).await {
        Ok(stream) => stream,
        Err(e) => panic!("read of {query:?} with {options:?} failed: {e} ({e:?})"),
    }
}

/// Reads through the stream, collecting the events and the final head.
pub(super) async fn stream_all<S: EventStore>(
    store: &S,
    query: &Query,
    options: ReadOptions,
) -> ReadResult {
    let mut stream = open(store, query, options).await;
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(e) => panic!("read of {query:?} with {options:?} yielded an error: {e} ({e:?})"),
        }
    }
    ReadResult {
        events,
        head: crate::EventStream::head(&stream),
    }
}

/// Reads with [`EventStore::read_to_end`] and through the stream, checks
/// that both agree, and returns the result. Only for stores that nobody
/// appends to meanwhile.
pub(super) async fn read<S: EventStore>(
    store: &S,
    query: &Query,
    options: ReadOptions,
) -> ReadResult {
    let collected = match store.read_to_end(query, options).await {
        Ok(result) => result,
        Err(e) => panic!("read_to_end of {query:?} with {options:?} failed: {e} ({e:?})"),
    };
    let streamed = stream_all(store, query, options).await;
    assert_eq!(
        collected, streamed,
        "read_to_end and the stream disagree for {query:?} with {options:?}"
    );
    collected
}

/// The positions and the head of a read, as numbers.
pub(super) fn numbers(result: &ReadResult) -> (Vec<u64>, Option<u64>) {
    (
        result.events.iter().map(|e| e.position.get()).collect(),
        result.head.map(Position::get),
    )
}

/// Reads and returns the positions and the head, as numbers.
pub(super) async fn read_numbers<S: EventStore>(
    store: &S,
    query: &Query,
    options: ReadOptions,
) -> (Vec<u64>, Option<u64>) {
    numbers(&read(store, query, options).await)
}

/// Every stored event, oldest first.
pub(super) async fn read_everything<S: EventStore>(store: &S) -> ReadResult {
    read(store, &Query::all(), ReadOptions::new()).await
}

/// The store's head, as a number.
pub(super) async fn head<S: EventStore>(store: &S) -> Option<u64> {
    match store.head().await {
        Ok(head) => head.map(Position::get),
        Err(e) => panic!("head() failed: {e} ({e:?})"),
    }
}

/// Checks that the store still holds exactly `before` (and the same head):
/// `what` must have written nothing.
pub(super) async fn assert_unchanged<S: EventStore>(store: &S, before: &ReadResult, what: &str) {
    let after = read_everything(store).await;
    assert_eq!(
        numbers(&after),
        numbers(before),
        "{what} must write nothing, but the stored positions changed"
    );
    assert_eq!(
        &after, before,
        "{what} must write nothing, but the stored events changed"
    );
    assert_eq!(
        head(store).await,
        before.head.map(Position::get),
        "{what} must write nothing, but head() changed"
    );
}

/// Awaits a spawned task, re-raising its panic with the original message.
pub(super) async fn join<T>(handle: JoinHandle<T>) -> T {
    match handle.await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => resume_unwind(payload),
            Err(e) => panic!("a task of the case did not finish: {e}"),
        },
    }
}

/// The events of the shared fixture, in position order: `(type, tags)`.
const FIXTURE: [(&str, &[&str]); 8] = [
    ("CourseRegistered", &["course:1"]),
    ("CourseRegistered", &["course:2"]),
    ("StudentRegistered", &["student:a"]),
    ("StudentJoined", &["course:1", "student:a"]),
    ("StudentJoined", &["course:2", "student:a"]),
    ("StudentRegistered", &["student:b"]),
    ("StudentJoined", &["course:1", "student:b"]),
    ("Heartbeat", &[]),
];

/// Appends the shared fixture to an empty store, in one append, and returns
/// its events. The positions are:
///
/// | pos | type                | tags                |
/// |-----|---------------------|---------------------|
/// | 1   | `CourseRegistered`  | course:1            |
/// | 2   | `CourseRegistered`  | course:2            |
/// | 3   | `StudentRegistered` | student:a           |
/// | 4   | `StudentJoined`     | course:1, student:a |
/// | 5   | `StudentJoined`     | course:2, student:a |
/// | 6   | `StudentRegistered` | student:b           |
/// | 7   | `StudentJoined`     | course:1, student:b |
/// | 8   | `Heartbeat`         | (none)              |
///
/// Event `n` carries the data `event n`.
pub(super) async fn fixture<S: EventStore>(store: &S) -> Vec<EventRecord> {
    let events: Vec<EventRecord> = FIXTURE
        .iter()
        .zip(1..)
        .map(|(&(ty, tag_names), n)| ev_data(ty, tag_names, format!("event {n}")))
        .collect();
    let last = append(store, events.clone()).await;
    assert_eq!(
        last.get(),
        8,
        "the first append to an empty store puts its 8 events at positions 1..=8 \
         and returns the last one"
    );
    events
}

/// The fixture's last position.
pub(super) const FIXTURE_HEAD: Option<u64> = Some(8);
