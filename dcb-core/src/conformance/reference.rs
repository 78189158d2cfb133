//! [`ReferenceStore`]: the reference model of the [`EventStore`] contract.
//!
//! docs/spec.md §1 taken literally, over a `Vec` of sequenced events and
//! linear scans: no index, no batching, no group commit, nothing shared
//! with the engine of the in-memory and embedded stores. It is the oracle
//! the model-based tests compare every store with (`dcb-core/tests/it/`
//! `model_*`, `tests/tests/it/model_postgres`), and it is a store itself,
//! so the conformance suite proves the model by the same cases as the
//! stores (`tests/tests/it/conformance_reference`).
//!
//! What it takes from the rest of the crate is the contract's vocabulary:
//! [`Query::matches`] (the definition of matching, which the property
//! tests check against a plain definition of their own),
//! [`EventRecord`]'s identity for a repeat (type, data, tag set and id,
//! not metadata: what "exactly these events" means), [`Position`], [`ReadOptions::check`] (a zero
//! limit) and [`Limits::check_append`], which is the contract's definition
//! of invalid input: every store calls it before anything else, so the
//! model must refuse the same input with the same error.
//!
//! Being plain is the point, so it is slow: every read, condition and id
//! lookup scans the whole sequence. Use it in tests, not as a store.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::model::read::EventStream;
use crate::{
    AppendCondition, AppendError, EventRecord, EventStore, Limits, Position, Query, ReadError,
    ReadOptions, SequencedEvent, Timestamp,
};

/// The reference model of the [`EventStore`] contract, usable as a store:
/// docs/spec.md §1 taken literally, over a `Vec` of events under one lock
/// with linear scans. It shares nothing with the engine of the in-memory
/// and embedded stores, only the contract's vocabulary:
/// [`Query::matches`], [`EventRecord`]'s equality, [`ReadOptions::check`]
/// and [`Limits::check_append`] (the contract's definition of invalid
/// input). Slow on purpose; use it in tests.
///
/// - Positions are gap-free: the n-th event stored is at position n.
/// - An append checks its input, then idempotency (§1.7), then its
///   condition (§1.5), and writes, all under the lock.
/// - A read sees the events stored when it began (a prefix: events are
///   never removed) and scans that prefix one event at a time.
/// - [`wait_for_append`](EventStore::wait_for_append) is woken by the
///   append itself (a `tokio::sync::watch` of the head).
/// - Clones share the same events.
///
/// ```
/// use dcb_core::conformance::ReferenceStore;
/// use dcb_core::{AppendCondition, EventRecord, EventStore, EventType, Query, ReadOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = ReferenceStore::new();
/// let opened = EventRecord::new(EventType::from_static("Opened"), "{}");
/// store.append(vec![opened.clone()], None).await?;
/// let seen = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
/// assert_eq!(seen.events.len(), 1);
///
/// // The same decision again conflicts with the event it did not see.
/// let condition = AppendCondition::new(Query::all());
/// let err = store.append(vec![opened], Some(condition)).await.unwrap_err();
/// assert_eq!(err.conflicting_position(), seen.head);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct ReferenceStore {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Every stored event; the one at index `i` is at position `i + 1`.
    events: Mutex<Vec<SequencedEvent>>,
    /// The number of stored events, for the waiters of `wait_for_append`.
    stored: watch::Sender<u64>,
    limits: Limits,
}

impl ReferenceStore {
    /// An empty store with the default [`Limits`].
    #[must_use]
    pub fn new() -> ReferenceStore {
        ReferenceStore::default()
    }

    /// An empty store enforcing `limits`.
    #[must_use]
    pub fn with_limits(limits: Limits) -> ReferenceStore {
        ReferenceStore {
            shared: Arc::new(Shared {
                limits,
                ..Shared::default()
            }),
        }
    }

    /// The limits this store enforces.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// The number of stored events.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.events.lock().len()
    }

    /// Whether no event is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`EventStore::append`], synchronously: the model's whole append.
    pub fn append_now(
        &self,
        events: Vec<EventRecord>,
        condition: Option<&AppendCondition>,
    ) -> Result<Position, AppendError> {
        // §1.5 step 1: input, before anything is looked at.
        self.shared.limits.check_append(&events)?;
        let mut stored = self.shared.events.lock();
        // Step 2: idempotency, before the condition, which the repeated
        // events themselves may fail now.
        if let Some(outcome) = repeat(&stored, &events) {
            return outcome;
        }
        // Step 3: the condition, under the same lock as the write.
        if let Some(condition) = condition
            && let Some(conflict) = stored
                .iter()
                .find(|stored| condition.fails_on(stored.position, &stored.event))
        {
            return Err(AppendError::ConditionFailed {
                conflicting: conflict.position,
            });
        }
        // Step 4: the write, recorded at the clock's time or the last
        // event's, whichever is later.
        let now = Timestamp::now();
        let at = stored
            .last()
            .and_then(|last| last.recorded_at)
            .map_or(now, |last| last.max(now));
        for event in events {
            let position = position_at(stored.len());
            stored.push(SequencedEvent::new(position, event).recorded(at));
        }
        let last = position_at(stored.len() - 1);
        self.shared.stored.send_replace(last.get());
        Ok(last)
    }

    /// [`EventStore::head`], synchronously.
    #[must_use]
    pub fn head_now(&self) -> Option<Position> {
        self.shared.events.lock().last().map(|e| e.position)
    }

    /// [`EventStore::read`], synchronously.
    pub fn read_now(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<ReferenceEvents, ReadError> {
        options.check()?;
        let snapshot = self.shared.events.lock().len();
        let next = if options.backwards { snapshot } else { 0 };
        Ok(ReferenceEvents {
            shared: Arc::clone(&self.shared),
            query: query.clone(),
            options,
            snapshot,
            next,
            yielded: 0,
            last_yielded: None,
            end: None,
        })
    }
}

/// The position of the event at `index`.
fn position_at(index: usize) -> Position {
    u64::try_from(index)
        .ok()
        .and_then(|index| Position::new(index + 1))
        .expect("fewer than u64::MAX events")
}

/// §1.7: `Some(Ok(last))` when `events` repeat stored events exactly,
/// `Some(Err(DuplicateEventId))` for the first of their ids that is stored
/// otherwise, and `None` when none of their ids is stored.
fn repeat(
    stored: &[SequencedEvent],
    events: &[EventRecord],
) -> Option<Result<Position, AppendError>> {
    let stored_at = |id| stored.iter().position(|e| e.id() == Some(id));
    if events.iter().all(|e| e.id().is_some())
        && let Some(first) = events[0].id().and_then(stored_at)
        && let Some(run) = stored.get(first..first + events.len())
        && run
            .iter()
            .zip(events)
            .all(|(stored, event)| stored.event.repeats(event))
    {
        return Some(Ok(run[run.len() - 1].position));
    }
    events.iter().find_map(|event| {
        let id = event.id()?;
        let index = stored_at(id)?;
        Some(Err(AppendError::DuplicateEventId {
            id,
            position: stored[index].position,
        }))
    })
}

impl std::fmt::Debug for ReferenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceStore")
            .field("events", &self.len())
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl EventStore for ReferenceStore {
    type Stream = ReferenceEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReferenceEvents, ReadError>> + Send {
        ready(self.read_now(query, options))
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        ready(self.append_now(events, condition.as_ref()))
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        ready(Ok(self.head_now()))
    }

    async fn wait_for_append(&self, after: Option<Position>) -> Result<(), ReadError> {
        let after = after.map_or(0, Position::get);
        let mut stored = self.shared.stored.subscribe();
        // The sender lives as long as the store, which `self` holds.
        let _ = stored.wait_for(|&stored| stored > after).await;
        Ok(())
    }
}

/// Why a [`ReferenceEvents`] stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// No more event of the snapshot matches.
    Exhausted,
    /// The read's limit was reached.
    Limit,
}

/// The stream of a [`ReferenceStore`] read: the events of the snapshot
/// (the first `snapshot` events) that match, found one at a time by a
/// linear scan under the store's lock.
pub struct ReferenceEvents {
    shared: Arc<Shared>,
    query: Query,
    options: ReadOptions,
    /// How many events the store held when the read began.
    snapshot: usize,
    /// The index to look at next going forward, or one past it going
    /// backwards.
    next: usize,
    yielded: usize,
    last_yielded: Option<Position>,
    end: Option<End>,
}

impl ReferenceEvents {
    /// The next matching event of the snapshot, if any.
    fn find_next(&mut self) -> Option<SequencedEvent> {
        let events = self.shared.events.lock();
        let wanted = |e: &SequencedEvent| {
            Some(e.position) > self.options.after && self.query.matches(&e.event)
        };
        if self.options.backwards {
            while self.next > 0 {
                self.next -= 1;
                if wanted(&events[self.next]) {
                    return Some(events[self.next].clone());
                }
            }
        } else {
            while self.next < self.snapshot {
                self.next += 1;
                if wanted(&events[self.next - 1]) {
                    return Some(events[self.next - 1].clone());
                }
            }
        }
        None
    }
}

impl Stream for ReferenceEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.end.is_some() {
            return Poll::Ready(None);
        }
        if self.options.limit == Some(self.yielded) {
            self.end = Some(End::Limit);
            return Poll::Ready(None);
        }
        let Some(event) = self.find_next() else {
            self.end = Some(End::Exhausted);
            return Poll::Ready(None);
        };
        self.yielded += 1;
        self.last_yielded = Some(event.position);
        Poll::Ready(Some(Ok(event)))
    }
}

impl EventStream for ReferenceEvents {
    /// The [`EventStream`] contract's table (docs/spec.md §1.4).
    fn head(&self) -> Option<Position> {
        let snapshot_head = self.snapshot.checked_sub(1).map(position_at);
        match (self.end, self.options.backwards) {
            (None | Some(End::Limit), false) => self.last_yielded,
            (None, true) => None,
            (Some(_), _) => snapshot_head,
        }
    }
}

impl std::fmt::Debug for ReferenceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceEvents")
            .field("query", &self.query)
            .field("options", &self.options)
            .field("snapshot", &self.snapshot)
            .field("yielded", &self.yielded)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Tag, Uuid};

    fn event(id: u128, data: &'static str) -> EventRecord {
        EventRecord::new(EventType::from_static("T"), data)
            .with_tags([Tag::from_static("t:1")])
            .with_id(Uuid::from_u128(id))
    }

    #[test]
    fn a_repeat_spanning_two_appends_returns_the_last_position() {
        let store = ReferenceStore::new();
        store.append_now(vec![event(1, "a")], None).unwrap();
        store.append_now(vec![event(2, "b")], None).unwrap();
        let both = vec![event(1, "a"), event(2, "b")];
        assert_eq!(store.append_now(both, None).unwrap().get(), 2);
        let err = store
            .append_now(vec![event(3, "c"), event(2, "b")], None)
            .unwrap_err();
        assert!(matches!(
            err,
            AppendError::DuplicateEventId { id, position }
                if id == Uuid::from_u128(2) && position.get() == 2
        ));
        assert_eq!(store.len(), 2);
    }
}
