//! [`MemoryEvents`]: the stream of an in-memory read.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use parking_lot::RwLock;

use super::scan::Scan;
use super::state::State;
use crate::error::ReadError;
use crate::read::{EventStream, ReadOptions};
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

/// The events of one [`InMemoryStore`](super::InMemoryStore) read.
///
/// It holds at most one batch of events and takes the store's read lock
/// only while it fills the next batch, so a long read never blocks appends
/// for long.
pub struct MemoryEvents {
    state: Arc<RwLock<State>>,
    query: Query,
    scan: Scan,
    backwards: bool,
    /// How many more events the limit allows.
    remaining: usize,
    buffer: VecDeque<SequencedEvent>,
    last_yielded: Option<Position>,
    /// Why no more events will be buffered, once that is so.
    stop: Option<Stop>,
    /// The stream has yielded `None`.
    ended: bool,
}

impl MemoryEvents {
    pub(super) fn new(
        state: Arc<RwLock<State>>,
        query: Query,
        options: ReadOptions,
    ) -> MemoryEvents {
        let guard = state.read();
        let scan = Scan::new(&guard, &query, options.after, options.backwards);
        drop(guard);
        let mut events = MemoryEvents {
            state,
            query,
            scan,
            backwards: options.backwards,
            remaining: options.limit.unwrap_or(usize::MAX),
            buffer: VecDeque::new(),
            last_yielded: None,
            stop: None,
            ended: false,
        };
        events.fill();
        events
    }

    fn fill(&mut self) {
        let state = Arc::clone(&self.state);
        let state = state.read();
        let batch = BATCH.min(self.remaining);
        let buffer = &mut self.buffer;
        let remaining = &mut self.remaining;
        let finished = self.scan.run(&state, &self.query, |p| {
            let event = state.event(p).clone();
            if let Some(position) = Position::new(p) {
                buffer.push_back(SequencedEvent { position, event });
            }
            *remaining -= 1;
            buffer.len() < batch
        });
        if self.remaining == 0 {
            self.stop = Some(Stop::Limit);
        } else if finished {
            self.stop = Some(Stop::Exhausted);
        }
    }
}

impl Stream for MemoryEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.buffer.is_empty() && this.stop.is_none() {
            this.fill();
        }
        let Some(event) = this.buffer.pop_front() else {
            this.ended = true;
            return Poll::Ready(None);
        };
        this.last_yielded = Some(event.position);
        Poll::Ready(Some(Ok(event)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let upper = if self.stop.is_some() {
            Some(self.buffer.len())
        } else {
            None
        };
        (self.buffer.len(), upper)
    }
}

impl EventStream for MemoryEvents {
    fn head(&self) -> Option<Position> {
        match (self.ended, self.backwards) {
            (true, false) if self.stop == Some(Stop::Limit) => self.last_yielded,
            (true, _) => Position::new(self.scan.snapshot()),
            (false, false) => self.last_yielded,
            (false, true) => None,
        }
    }
}
