//! [`IndexedEvents`]: the stream of an in-memory read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::entry::Entry;
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
    scan: Scan,
    backwards: bool,
    /// How many more events the limit allows.
    remaining: usize,
    /// Why no more events will be buffered, once that is so.
    stop: Option<Stop>,
}

impl IndexedEvents {
    /// Plans the read and fills its first batch under one lock.
    pub(crate) fn new(
        state: Arc<RwLock<State>>,
        query: &Query,
        options: ReadOptions,
    ) -> IndexedEvents {
        let mut first = Vec::new();
        let batches = Batches::first(&read_indexed(&state), query, options, &mut first);
        IndexedEvents {
            state,
            batches,
            buffer: first.into_iter(),
            last_yielded: None,
            ended: false,
        }
    }

    /// Reads every matching event into memory without making a stream and
    /// polling it event by event: `read_to_end` of the stores whose index
    /// lives in memory.
    pub(crate) fn read_to_end(
        state: &RwLock<State>,
        query: &Query,
        options: ReadOptions,
    ) -> ReadResult {
        let mut events = Vec::new();
        let mut batches = Batches::first(&read_indexed(state), query, options, &mut events);
        while batches.stop.is_none() {
            batches.fill(&read_indexed(state), None, &mut events);
        }
        let head = if batches.stop == Some(Stop::Limit) && !batches.backwards {
            events.last().map(|e| e.position)
        } else {
            Position::new(batches.scan.snapshot())
        };
        ReadResult { events, head }
    }
}

impl Batches {
    /// Plans a read in `state` and appends its first batch to `events`.
    fn first(
        state: &State,
        query: &Query,
        options: ReadOptions,
        events: &mut Vec<SequencedEvent>,
    ) -> Batches {
        let (scan, lists) = Scan::plan(state, query, options.after, options.backwards);
        let mut batches = Batches {
            scan,
            backwards: options.backwards,
            remaining: options.limit.unwrap_or(usize::MAX),
            stop: None,
        };
        batches.fill(state, Some(&lists), events);
        batches
    }

    /// Appends the next batch to `events`; `lists` are the scan's posting
    /// lists when the caller has them from planning the scan under the
    /// same lock.
    fn fill(
        &mut self,
        state: &State,
        lists: Option<&[&[Entry]]>,
        events: &mut Vec<SequencedEvent>,
    ) {
        let batch = BATCH.min(self.remaining);
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
        self.remaining -= positions.len();
        if self.remaining == 0 {
            self.stop = Some(Stop::Limit);
        } else if finished {
            self.stop = Some(Stop::Exhausted);
        }
    }
}

impl Stream for IndexedEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while this.buffer.len() == 0 && this.batches.stop.is_none() {
            let mut batch = Vec::new();
            this.batches
                .fill(&read_indexed(&this.state), None, &mut batch);
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
            (true, _) => Position::new(self.batches.scan.snapshot()),
            (false, false) => self.last_yielded,
            (false, true) => None,
        }
    }
}

/// Locks `state` for a read, first indexing the tags of any pushed event
/// not indexed yet (which takes the lock for writing, briefly).
fn read_indexed(state: &RwLock<State>) -> RwLockReadGuard<'_, State> {
    let guard = state.read();
    guard.note_read();
    if guard.tags_indexed() {
        return guard;
    }
    drop(guard);
    let mut guard = state.write();
    guard.index_tags();
    RwLockWriteGuard::downgrade(guard)
}
