//! [`IndexedEvents`]: the stream of an in-memory read.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use parking_lot::RwLock;

use super::scan::Scan;
use super::state::{Entry, Pos, State};
use crate::error::ReadError;
use crate::read::{EventStream, ReadOptions, ReadResult};
use crate::{Position, Query, SequencedEvent};

/// How many events a read copies out per lock acquisition.
const BATCH: usize = 256;

/// Room for the positions of a decision's read (a few dozen matches), so
/// that it does not grow its list of positions one doubling at a time.
const FIRST_BATCH: usize = 32;

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
    buffer: VecDeque<SequencedEvent>,
    /// The positions of the batch being filled (kept to reuse its memory).
    positions: Vec<Pos>,
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
        let guard = state.read();
        let (scan, lists) = Scan::plan(&guard, query, options.after, options.backwards);
        let mut batches = Batches {
            scan,
            backwards: options.backwards,
            remaining: options.limit.unwrap_or(usize::MAX),
            buffer: VecDeque::new(),
            positions: Vec::with_capacity(FIRST_BATCH),
            stop: None,
        };
        batches.fill_with(&guard, Some(&lists));
        drop(lists);
        drop(guard);
        IndexedEvents {
            state,
            batches,
            last_yielded: None,
            ended: false,
        }
    }
}

impl IndexedEvents {
    /// Reads the rest of the stream into memory without polling it event
    /// by event: the in-memory store's `read_to_end`.
    pub(crate) fn collect_now(mut self) -> ReadResult {
        let mut events = Vec::from(std::mem::take(&mut self.batches.buffer));
        while self.batches.stop.is_none() {
            self.batches.fill(&self.state.read());
            events.extend(self.batches.buffer.drain(..));
        }
        if let Some(last) = events.last() {
            self.last_yielded = Some(last.position);
        }
        self.ended = true;
        ReadResult {
            head: self.head(),
            events,
        }
    }
}

impl Batches {
    fn fill(&mut self, state: &State) {
        self.fill_with(state, None);
    }

    /// Fills the next batch; `lists` are the scan's posting lists when the
    /// caller has them from planning the scan under the same lock.
    fn fill_with(&mut self, state: &State, lists: Option<&[&[Entry]]>) {
        let batch = BATCH.min(self.remaining);
        let positions = &mut self.positions;
        positions.clear();
        let collect = |p| {
            positions.push(p);
            positions.len() < batch
        };
        let finished = match lists {
            Some(lists) => self.scan.run_with(lists, collect),
            None => self.scan.run(state, collect),
        };
        // Load every event's shared parts before cloning any: the loads are
        // independent, so their cache misses overlap instead of queueing
        // behind each clone's atomic increment.
        let warm: usize = positions.iter().map(|&p| state.event(p).prefetch()).sum();
        std::hint::black_box(warm);
        self.buffer.reserve(positions.len());
        self.buffer.extend(positions.iter().filter_map(|&p| {
            Some(SequencedEvent {
                position: Position::new(p)?,
                event: state.event(p).clone(),
            })
        }));
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
        if this.batches.buffer.is_empty() && this.batches.stop.is_none() {
            this.batches.fill(&this.state.read());
        }
        let Some(event) = this.batches.buffer.pop_front() else {
            this.ended = true;
            return Poll::Ready(None);
        };
        this.last_yielded = Some(event.position);
        Poll::Ready(Some(Ok(event)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.batches.buffer.len();
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
