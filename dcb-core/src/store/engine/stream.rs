//! [`IndexedEvents`]: the stream of an in-memory read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::below::Below;
use super::entry::{Entry, Pos};
use super::scan::{Positions, Scan};
use super::state::State;
use crate::model::error::ReadError;
use crate::model::read::{EventStream, ReadOptions, ReadResult};
use crate::{Position, Query, SequencedEvent};

/// How many events a read copies out per lock acquisition.
const BATCH: usize = 256;

/// Why a read buffers no more events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Every matching event of the snapshot has been buffered.
    Exhausted,
    /// The read's limit has been reached.
    Limit,
}

/// The events of one read from a store whose index lives in memory: the
/// [`InMemoryStore`](crate::InMemoryStore) and the embedded store.
///
/// It holds at most one batch of events and takes the store's read lock
/// only while it fills the next batch, so a long read never blocks appends
/// for long.
pub struct IndexedEvents {
    state: Arc<RwLock<State>>,
    batches: Batches,
    /// The events of the current batch not yet yielded.
    buffer: std::vec::IntoIter<SequencedEvent>,
    last_yielded: Option<Position>,
    /// The stream has yielded `None`.
    ended: bool,
}

/// The part of a read that fills batches from the locked state.
struct Batches {
    /// The scan of the tail's events (all of them without a `Below`).
    scan: Scan,
    backwards: bool,
    /// How many more events the limit allows.
    remaining: usize,
    /// Why no more events will be buffered, once that is so.
    stop: Option<Stop>,
    /// What a read of an engine with a [`Below`] needs to go on across
    /// the tiers; `None` for an engine without one.
    tiers: Option<Tiers>,
}

/// A read across the events kept below the tail and those of the tail.
///
/// Forward, the read takes the events below the base first, then the
/// tail's; backwards, the other way round. The base only moves up: when
/// it does (the tail was handed down), the tail's scan is planned again
/// from the cursor, and what moved below is read there.
struct Tiers {
    query: Query,
    below: Arc<dyn Below>,
    /// The read's `after`.
    after: Pos,
    /// The last position of the read's snapshot.
    snapshot: Pos,
    /// Forward: the last position buffered (else `after`); backwards: the
    /// last position buffered (else `snapshot + 1`).
    cursor: Pos,
    /// The generation of the state the tail's scan was planned in.
    generation: u64,
    /// Backwards: the tail's scan has run out.
    tail_done: bool,
}

impl IndexedEvents {
    /// Plans the read and fills its first batch under one lock.
    pub(crate) fn new(
        state: Arc<RwLock<State>>,
        query: &Query,
        options: ReadOptions,
    ) -> Result<IndexedEvents, ReadError> {
        let mut first = Vec::new();
        let batches = Batches::first(&read_indexed(&state), query, options, &mut first)?;
        Ok(IndexedEvents {
            state,
            batches,
            buffer: first.into_iter(),
            last_yielded: None,
            ended: false,
        })
    }

    /// Reads every matching event into memory without making a stream and
    /// polling it event by event: `read_to_end` of the stores whose index
    /// lives in memory.
    pub(crate) fn read_to_end(
        state: &RwLock<State>,
        query: &Query,
        options: ReadOptions,
    ) -> Result<ReadResult, ReadError> {
        let mut events = Vec::new();
        let mut batches = Batches::first(&read_indexed(state), query, options, &mut events)?;
        while batches.stop.is_none() {
            batches.fill(&read_indexed(state), None, &mut events)?;
        }
        let head = if batches.stop == Some(Stop::Limit) && !batches.backwards {
            events.last().map(|e| e.position)
        } else {
            Position::new(batches.snapshot())
        };
        Ok(ReadResult { events, head })
    }
}

impl Batches {
    /// Plans a read in `state` and appends its first batch to `events`.
    fn first(
        state: &State,
        query: &Query,
        options: ReadOptions,
        events: &mut Vec<SequencedEvent>,
    ) -> Result<Batches, ReadError> {
        let after = options.after.map_or(0, Position::get);
        let snapshot = state.last();
        let (scan, lists) = Scan::plan_within(
            state,
            query,
            tail_range(state, after, snapshot),
            options.backwards,
        );
        let tiers = state.below().map(|below| Tiers {
            query: query.clone(),
            below: Arc::clone(below),
            after,
            snapshot,
            cursor: if options.backwards {
                snapshot + 1
            } else {
                after
            },
            generation: state.generation(),
            tail_done: false,
        });
        let mut batches = Batches {
            scan,
            backwards: options.backwards,
            remaining: options.limit.unwrap_or(usize::MAX),
            stop: None,
            tiers,
        };
        batches.fill(state, Some(&lists), events)?;
        Ok(batches)
    }

    /// The last position of the read's snapshot.
    fn snapshot(&self) -> Pos {
        self.tiers
            .as_ref()
            .map_or_else(|| self.scan.snapshot(), |tiers| tiers.snapshot)
    }

    /// Appends the next batch to `events`; `lists` are the scan's posting
    /// lists when the caller has them from planning the scan under the
    /// same lock.
    fn fill(
        &mut self,
        state: &State,
        lists: Option<&[&[Entry]]>,
        events: &mut Vec<SequencedEvent>,
    ) -> Result<(), ReadError> {
        let batch = BATCH.min(self.remaining);
        let before = events.len();
        let finished = match self.tiers.take() {
            None => self.fill_tail(state, lists, batch, events),
            Some(mut tiers) => {
                let finished = self.fill_tiers(&mut tiers, state, lists, batch, events);
                self.tiers = Some(tiers);
                finished?
            }
        };
        self.remaining -= events.len() - before;
        if self.remaining == 0 {
            self.stop = Some(Stop::Limit);
        } else if finished {
            self.stop = Some(Stop::Exhausted);
        }
        Ok(())
    }

    /// The next batch of a read across tiers; returns whether the read's
    /// matches ran out.
    fn fill_tiers(
        &mut self,
        tiers: &mut Tiers,
        state: &State,
        mut lists: Option<&[&[Entry]]>,
        batch: usize,
        events: &mut Vec<SequencedEvent>,
    ) -> Result<bool, ReadError> {
        if tiers.generation != state.generation() {
            // The tail was handed down since the scan was planned: plan it
            // again from where the read is, over what is still the tail.
            tiers.generation = state.generation();
            let range = if self.backwards {
                tail_range(state, tiers.after, tiers.cursor.saturating_sub(1))
            } else {
                tail_range(state, tiers.cursor, tiers.snapshot)
            };
            self.scan = Scan::plan_within(state, &tiers.query, range, self.backwards).0;
            lists = None;
        }
        let before = events.len();
        if self.backwards {
            if !tiers.tail_done {
                tiers.tail_done = self.fill_tail(state, lists, batch, events);
                if let Some(last) = events[before..].last() {
                    tiers.cursor = last.position.get();
                }
                if events.len() > before {
                    return Ok(false);
                }
            }
            let upto = state.base().min(tiers.cursor.saturating_sub(1));
            if upto <= tiers.after {
                return Ok(true);
            }
            let done = tiers
                .below
                .read(&tiers.query, (tiers.after, upto), true, batch, events)
                .map_err(ReadError::Backend)?;
            if let Some(last) = events[before..].last() {
                tiers.cursor = last.position.get();
            }
            return Ok(done);
        }
        let below_upto = state.base().min(tiers.snapshot);
        if tiers.cursor < below_upto {
            let done = tiers
                .below
                .read(
                    &tiers.query,
                    (tiers.cursor, below_upto),
                    false,
                    batch,
                    events,
                )
                .map_err(ReadError::Backend)?;
            tiers.cursor = match events[before..].last() {
                Some(last) if !done => last.position.get(),
                _ => below_upto,
            };
            return Ok(done && below_upto == tiers.snapshot);
        }
        let done = self.fill_tail(state, lists, batch, events);
        if let Some(last) = events[before..].last() {
            tiers.cursor = last.position.get();
        }
        Ok(done)
    }

    /// Appends the next batch of the tail's scan to `events`; returns
    /// whether the scan ran out.
    fn fill_tail(
        &mut self,
        state: &State,
        lists: Option<&[&[Entry]]>,
        batch: usize,
        events: &mut Vec<SequencedEvent>,
    ) -> bool {
        // Inline for a decision's read; a larger batch spills once.
        let mut positions = Positions::new();
        let finished = match lists {
            Some(lists) => self.scan.run_with(lists, batch, &mut positions),
            None => self.scan.run(state, batch, &mut positions),
        };
        // Load every event's shared parts before cloning any: the loads are
        // independent, so their cache misses overlap instead of queueing
        // behind each clone's atomic increment.
        let warm: usize = positions.iter().map(|&p| state.event(p).prefetch()).sum();
        std::hint::black_box(warm);
        events.reserve(positions.len());
        for &p in &positions {
            if let Some(position) = Position::new(p) {
                let event = state.event(p).clone();
                events.push(SequencedEvent {
                    position,
                    recorded_at: state.recorded_at(p),
                    event,
                });
            }
        }
        finished
    }
}

impl Stream for IndexedEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while this.buffer.len() == 0 && this.batches.stop.is_none() {
            let mut batch = Vec::new();
            let filled = this
                .batches
                .fill(&read_indexed(&this.state), None, &mut batch);
            if let Err(err) = filled {
                this.ended = true;
                this.batches.stop = Some(Stop::Exhausted);
                return Poll::Ready(Some(Err(err)));
            }
            this.buffer = batch.into_iter();
        }
        let Some(event) = this.buffer.next() else {
            this.ended = true;
            return Poll::Ready(None);
        };
        this.last_yielded = Some(event.position);
        Poll::Ready(Some(Ok(event)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.buffer.len();
        let upper = self.batches.stop.is_some().then_some(buffered);
        (buffered, upper)
    }
}

impl EventStream for IndexedEvents {
    fn head(&self) -> Option<Position> {
        match (self.ended, self.batches.backwards) {
            (true, false) if self.batches.stop == Some(Stop::Limit) => self.last_yielded,
            (true, _) => Position::new(self.batches.snapshot()),
            (false, false) => self.last_yielded,
            (false, true) => None,
        }
    }
}

/// The part of `(after, last]` in the tail of `state`, as a range a scan
/// can be planned over (empty, `after` at or past `last`, when none of it
/// is).
fn tail_range(state: &State, after: Pos, last: Pos) -> (Pos, Pos) {
    (after.max(state.base()), last.min(state.last()))
}

/// Locks `state` for a read, first indexing the tags of any pushed event
/// not indexed yet (which takes the lock for writing, briefly).
fn read_indexed(state: &RwLock<State>) -> RwLockReadGuard<'_, State> {
    let guard = super::spin::read(state);
    guard.note_read();
    if guard.tags_indexed() {
        return guard;
    }
    drop(guard);
    let mut guard = super::spin::write(state);
    guard.index_tags();
    RwLockWriteGuard::downgrade(guard)
}
