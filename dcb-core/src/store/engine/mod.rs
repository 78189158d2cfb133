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
mod spin;
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

/// The tail left once what is below keeps more of it, built beside the
/// current tail ([`Engine::successor`]).
#[cfg(feature = "embedded")]
pub(crate) struct Successor {
    state: State,
    /// How many events of the current tail, from its start, the successor
    /// accounts for: those below and those it holds.
    from: usize,
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
        let mut state = spin::write(&self.state);
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

    /// The tail left once what is below keeps the first `count` events of
    /// the tail as well, built beside the current one from the events
    /// published so far, under the read lock only while their records are
    /// gathered: appends and reads go on meanwhile.
    /// [`hand_down`](Self::hand_down) swaps it in.
    #[cfg(feature = "embedded")]
    pub(crate) fn successor(&self, count: usize) -> Successor {
        let (mut next, kept, from) = {
            let state = self.state.read();
            let count = count.min(state.tail_len());
            let kept = state.recorded(count);
            let from = count + kept.len();
            (state.successor(count), kept, from)
        };
        next.push_recorded(kept);
        Successor { state: next, from }
    }

    /// Swaps in `successor`, so that the tail drops the events what is
    /// below now keeps, once it holds the events published since it was
    /// built too. Called by the writer only, between batches (every pushed
    /// event is published), with a successor of the current tail: those
    /// few events are added under the upgradable lock, and reads wait only
    /// for the swap.
    #[cfg(feature = "embedded")]
    pub(crate) fn hand_down(&self, successor: Successor) {
        let Successor {
            state: mut next,
            from,
        } = successor;
        let state = self.state.upgradable_read();
        debug_assert_eq!(
            next.generation(),
            state.generation() + 1,
            "a successor of another tail"
        );
        next.push_recorded(state.recorded(from));
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

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use parking_lot::Mutex;
    use uuid::Uuid;

    use super::*;
    use crate::model::error::BackendError;
    use crate::{EventType, QueryItem, SequencedEvent, Tag, Timestamp};

    /// What is below, as a list of the events handed down to it.
    #[derive(Default)]
    struct Kept(Mutex<Vec<SequencedEvent>>);

    impl Below for Kept {
        fn first_match(
            &self,
            query: &Query,
            after: Pos,
            upto: Pos,
        ) -> Result<Option<Pos>, BackendError> {
            let kept = self.0.lock();
            Ok(kept
                .iter()
                .map(|e| e.position.get())
                .zip(kept.iter())
                .find(|&(p, e)| after < p && p <= upto && query.matches(&e.event))
                .map(|(p, _)| p))
        }

        fn read(
            &self,
            query: &Query,
            (after, upto): (Pos, Pos),
            backwards: bool,
            max: usize,
            out: &mut Vec<SequencedEvent>,
        ) -> Result<bool, BackendError> {
            let kept = self.0.lock();
            let mut matches: Vec<_> = kept
                .iter()
                .filter(|e| (after + 1..=upto).contains(&e.position.get()))
                .filter(|e| query.matches(&e.event))
                .cloned()
                .collect();
            if backwards {
                matches.reverse();
            }
            let exhausted = matches.len() <= max;
            out.extend(matches.into_iter().take(max));
            Ok(exhausted)
        }

        fn position_of_id(&self, id: &Uuid) -> Result<Option<Pos>, BackendError> {
            let kept = self.0.lock();
            Ok(kept
                .iter()
                .find(|e| e.event.id() == Some(*id))
                .map(|e| e.position.get()))
        }

        fn event(&self, position: Pos) -> Result<Option<EventRecord>, BackendError> {
            let kept = self.0.lock();
            Ok(kept
                .iter()
                .find(|e| e.position.get() == position)
                .map(|e| e.event.clone()))
        }

        fn has_ids(&self) -> bool {
            self.0.lock().iter().any(|e| e.event.id().is_some())
        }
    }

    fn event(n: u64) -> EventRecord {
        let parity = if n.is_multiple_of(2) { "even" } else { "odd" };
        EventRecord::new(EventType::from_static("Counted"), n.to_be_bytes().to_vec())
            .with_tags([Tag::new(format!("parity:{parity}")).unwrap()])
    }

    fn positions(engine: &Engine, query: &Query) -> Vec<u64> {
        let read = engine.read_to_end(query, ReadOptions::new()).unwrap();
        read.events.iter().map(|e| e.position.get()).collect()
    }

    /// A successor built while appends go on, then swapped in, holds the
    /// events after the handed-down ones — those published before it was
    /// built and those published after — once each, with the times they
    /// were recorded at, and reads see every event once.
    #[test]
    fn a_successor_built_beside_the_tail_keeps_every_event_after_the_hand_down() {
        let micros = Arc::new(AtomicI64::new(1_000));
        let clock = {
            let micros = Arc::clone(&micros);
            Clock::from_fn(move || Timestamp::from_micros(micros.load(Ordering::Relaxed)))
        };
        let kept = Arc::new(Kept::default());
        let engine = Engine::on(kept.clone(), 0, None, clock);
        // Three appends of two events, each at a time of its own.
        for n in [1_u8, 3, 5] {
            micros.store(1_000 * i64::from(n), Ordering::Relaxed);
            let n = u64::from(n);
            engine.append(vec![event(n), event(n + 1)], None).unwrap();
        }
        let before = engine
            .read_to_end(&Query::all(), ReadOptions::new())
            .unwrap();

        // The first three events go below; the successor holds 4 to 6.
        kept.0.lock().extend(before.events[..3].iter().cloned());
        let successor = engine.successor(3);
        // Appends go on while the successor waits to be swapped in.
        micros.store(7_000, Ordering::Relaxed);
        engine.append(vec![event(7), event(8)], None).unwrap();
        engine.hand_down(successor);

        assert_eq!(engine.state.read().base(), 3);
        assert_eq!(engine.state.read().tail_len(), 5);
        assert_eq!(
            positions(&engine, &Query::all()),
            (1..=8).collect::<Vec<_>>()
        );
        let even = Query::from(QueryItem::new().tags([Tag::new("parity:even").unwrap()]));
        assert_eq!(positions(&engine, &even), [2, 4, 6, 8]);
        let after = engine
            .read_to_end(&Query::all(), ReadOptions::new())
            .unwrap();
        let times: Vec<_> = after.events.iter().map(|e| e.recorded_at).collect();
        let expected: Vec<_> = [1, 1, 3, 3, 5, 5, 7, 7]
            .map(|n| Some(Timestamp::from_micros(1_000 * n)))
            .to_vec();
        assert_eq!(times, expected);
        assert_eq!(after.head, Position::new(8));
    }
}
