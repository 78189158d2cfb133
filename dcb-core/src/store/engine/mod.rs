//! The indexed engine shared by the in-memory and the embedded store: the
//! events, posting lists by type and by tag, event ids, the scans that
//! answer queries from them, and the DCB append rules.
//!
//! Both stores use it through [`Engine`]. An append goes in two steps, so
//! that the embedded store can make a batch durable in between:
//! [`Engine::push`] decides each append of a batch by the rules of
//! [`append`] and pushes the accepted ones, invisible to reads;
//! [`Engine::publish`] makes them visible and wakes subscriptions, or
//! [`Engine::roll_back`] removes them. The in-memory store publishes at
//! once.
//!
//! The tags of pushed events are indexed in runs (`State::index_tags`),
//! whose lookups overlap; reads and conditions index what waits before
//! they use the tag index.

pub(crate) mod append;
mod below;
mod entry;
mod scan;
mod signal;
mod spare;
mod state;
mod stream;
mod tag_index;

use std::sync::Arc;

use parking_lot::RwLock;

#[cfg(feature = "embedded")]
pub(crate) use self::below::Below;
#[cfg(feature = "embedded")]
pub(crate) use self::entry::Pos;
pub(crate) use self::scan::first_match;
use self::signal::AppendSignal;
use self::state::State;
pub use self::stream::IndexedEvents;
#[cfg(feature = "embedded")]
use crate::Timestamp;
use crate::model::error::{AppendError, ReadError};
use crate::model::read::{ReadOptions, ReadResult};
use crate::{AppendCondition, Clock, EventRecord, Position, Query};

/// The events and their indexes behind one lock, the signal that wakes
/// subscriptions when events are published, and the clock appends are
/// recorded by. Clones share them.
#[derive(Clone, Default)]
pub(crate) struct Engine {
    state: Arc<RwLock<State>>,
    signal: Arc<AppendSignal>,
    clock: Clock,
}

/// A batch pushed by [`Engine::push`]: each append's outcome, in order,
/// and the span of positions pushed, not yet visible to reads.
#[cfg(feature = "embedded")]
#[must_use = "a pushed batch must be published or rolled back"]
pub(crate) struct Pushed {
    /// Each append's outcome: its last position (for a repeat, the
    /// original one), or why it failed.
    pub(crate) outcomes: Vec<Result<Position, AppendError>>,
    /// The last position before the batch.
    pub(crate) before: u64,
    /// The last position pushed (`before` when nothing was).
    pub(crate) end: u64,
}

/// The engine's in-memory tail, taken to be handed down ([`Engine::tail`]).
#[cfg(feature = "embedded")]
pub(crate) struct Tail {
    /// The position of the first event.
    pub(crate) first: Pos,
    /// The events from `first` on, each with the time it was recorded at.
    pub(crate) events: Vec<(EventRecord, Option<Timestamp>)>,
    /// The latest time recorded.
    pub(crate) latest: Option<Timestamp>,
}

#[cfg(feature = "embedded")]
impl Pushed {
    /// Whether the batch pushed any event.
    pub(crate) fn is_empty(&self) -> bool {
        self.end == self.before
    }
}

impl Engine {
    /// An empty engine with room for `events` events carrying `tags`
    /// distinct tags.
    pub(crate) fn with_capacity(events: usize, tags: usize) -> Engine {
        Engine {
            state: Arc::new(RwLock::new(State::with_capacity(events, tags))),
            signal: Arc::default(),
            clock: Clock::system(),
        }
    }

    /// This engine, recording appends by `clock`.
    pub(crate) fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// The published position up to which reads see events.
    pub(crate) fn last(&self) -> u64 {
        self.state.read().last()
    }

    /// The published head: `None` while no event is published.
    pub(crate) fn head(&self) -> Option<Position> {
        Position::new(self.last())
    }

    /// A read as a stream, planned and filled with its first batch; its
    /// options are checked first.
    pub(crate) fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<IndexedEvents, ReadError> {
        options.check()?;
        IndexedEvents::new(Arc::clone(&self.state), query, options)
    }

    /// A read collected whole; its options are checked first.
    pub(crate) fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<ReadResult, ReadError> {
        options.check()?;
        IndexedEvents::read_to_end(&self.state, query, options)
    }

    /// Resolves once the published head is past `seen`.
    pub(crate) async fn wait_past(&self, seen: Option<Position>) {
        self.signal.wait_past(&self.state, seen).await;
    }

    /// Decides one append by the rules of [`append`] and, if it is
    /// accepted, pushes and publishes it at once, under one lock: the
    /// in-memory store's append.
    pub(crate) fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<&AppendCondition>,
    ) -> Result<Position, AppendError> {
        let now = self.clock.now();
        let mut state = self.state.write();
        if let Some(repeat) = append::check(&mut state, &events, condition)? {
            return Ok(repeat);
        }
        let at = state.stamp(now);
        let last = state.push(events, Some(at));
        state.publish();
        let wake = self.signal.has_waiters();
        drop(state);
        if wake {
            self.signal.wake();
        }
        Ok(last)
    }

    /// Decides each append of a batch in order by the rules of [`append`] —
    /// against the published events and the appends accepted earlier in
    /// the batch — and pushes the accepted ones, invisible to reads until
    /// [`publish`](Self::publish). `accept` is called with each accepted
    /// append's first position, its recorded time and its events before
    /// they are pushed (the embedded store encodes them there); its error
    /// fails that append alone. The batch is recorded at the clock's time
    /// when it is pushed (or the latest time recorded, if that is later).
    #[cfg(feature = "embedded")]
    pub(crate) fn push(
        &self,
        appends: impl IntoIterator<Item = (Vec<EventRecord>, Option<AppendCondition>)>,
        mut accept: impl FnMut(u64, Timestamp, &[EventRecord]) -> Result<(), AppendError>,
    ) -> Pushed {
        let now = self.clock.now();
        let mut state = self.state.write();
        let at = state.stamp(now);
        let before = state.end();
        let outcomes = appends
            .into_iter()
            .map(|(events, condition)| {
                if let Some(repeat) = append::check(&mut state, &events, condition.as_ref())? {
                    return Ok(repeat);
                }
                accept(state.end() + 1, at, &events)?;
                Ok(state.push(events, Some(at)))
            })
            .collect();
        let end = state.end();
        Pushed {
            outcomes,
            before,
            end,
        }
    }

    /// Makes a pushed batch visible to reads, wakes the subscriptions
    /// waiting for it, and returns its appends' outcomes.
    #[cfg(feature = "embedded")]
    pub(crate) fn publish(&self, pushed: Pushed) -> Vec<Result<Position, AppendError>> {
        let mut state = self.state.write();
        state.publish();
        let wake = self.signal.has_waiters();
        drop(state);
        if wake {
            self.signal.wake();
        }
        pushed.outcomes
    }

    /// Removes a pushed batch whose events could not be made durable, and
    /// returns its appends' outcomes as decided (the caller reports the
    /// failure on those that were accepted).
    #[cfg(feature = "embedded")]
    pub(crate) fn roll_back(&self, pushed: Pushed) -> Vec<Result<Position, AppendError>> {
        self.state.write().truncate(pushed.before);
        pushed.outcomes
    }

    /// An engine whose events up to `base` are kept by `below`, the latest
    /// of them recorded at `latest`, recording appends by `clock`.
    #[cfg(feature = "embedded")]
    pub(crate) fn on(
        below: Arc<dyn Below>,
        base: Pos,
        latest: Option<Timestamp>,
        clock: Clock,
    ) -> Engine {
        Engine {
            state: Arc::new(RwLock::new(State::on(below, base, latest))),
            signal: Arc::default(),
            clock,
        }
    }

    /// The tail to hand down to what is below: its first position, its
    /// events with their times (the records are shared, not copied) and the
    /// latest time recorded; `None` when the tail is empty. Every pushed
    /// event must be published: the embedded writer takes the tail between
    /// batches.
    #[cfg(feature = "embedded")]
    pub(crate) fn tail(&self) -> Option<Tail> {
        let state = self.state.read();
        if state.tail_len() == 0 {
            return None;
        }
        Some(Tail {
            first: state.base() + 1,
            events: state
                .tail()
                .map(|(event, at)| (event.clone(), at))
                .collect(),
            latest: state.latest(),
        })
    }

    /// Drops the first `count` events of the tail, which what is below now
    /// keeps; the events after them stay in memory. Called by the writer
    /// only, between batches: the smaller tail is built beside the current
    /// one, and reads wait only for the swap.
    #[cfg(feature = "embedded")]
    pub(crate) fn handed_down(&self, count: usize) {
        let state = self.state.upgradable_read();
        let next = state.handed_down(count);
        let mut state = parking_lot::RwLockUpgradableReadGuard::upgrade(state);
        *state = next;
    }

    /// Pushes and publishes appends read from a log, as they are, each with
    /// the time it was recorded at: the embedded store's replay on open,
    /// and a read-only store following another process's appends.
    #[cfg(feature = "embedded")]
    pub(crate) fn replay(
        &self,
        records: impl IntoIterator<Item = (Option<Timestamp>, Vec<EventRecord>)>,
    ) {
        let mut state = self.state.write();
        let before = state.end();
        for (at, events) in records {
            state.push(events, at);
        }
        if state.end() == before {
            return;
        }
        state.publish();
        let wake = self.signal.has_waiters();
        drop(state);
        if wake {
            self.signal.wake();
        }
    }
}
