//! The queue of single-event appends waiting to be sent together, and the
//! places of the batch transactions in flight.
//!
//! A store runs at most [`PostgresOptions::append_batches`] batch
//! transactions at once. An append that finds a place free takes it and is
//! sent at once, alone; one made while every place is taken waits here, and
//! the next transaction to finish takes everything queued that fits in one
//! batch ([`MAX_BATCH`] appends, [`MAX_BATCH_KEYS`] boundary keys). Sending
//! is the append module's; this one only keeps the queue and the places.
//!
//! [`PostgresOptions::append_batches`]: super::PostgresOptions::append_batches

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::locks::Boundary;
use crate::model::error::AppendError;
use crate::{AppendCondition, EventRecord, Position};

/// The most appends one batch carries.
pub(super) const MAX_BATCH: usize = 32;

/// The most boundary keys the appends of one batch may take together
/// (counted per append, so shared keys count once per append): the batch
/// holds them all until it commits.
pub(super) const MAX_BATCH_KEYS: usize = 64;

/// A single-event append without ids, waiting for its batch.
pub(super) struct Pending {
    pub(super) event: EventRecord,
    pub(super) condition: Option<AppendCondition>,
    pub(super) boundary: Boundary,
    /// Where its outcome goes; closed when its caller stopped waiting.
    pub(super) reply: oneshot::Sender<Result<Position, AppendError>>,
}

/// The queue of a store's batched appends.
pub(super) struct Batcher {
    state: Mutex<State>,
    max_running: usize,
    batches: AtomicU64,
    appends: AtomicU64,
}

struct State {
    waiting: VecDeque<Pending>,
    running: usize,
}

/// What a store's batching has done so far; for tests.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchCounts {
    /// Appends waiting for a batch now.
    pub queued: usize,
    /// Batches sent.
    pub batches: u64,
    /// Appends sent in them.
    pub appends: u64,
}

impl Batcher {
    pub(super) fn new(max_running: usize) -> Batcher {
        Batcher {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                running: 0,
            }),
            max_running: max_running.max(1),
            batches: AtomicU64::new(0),
            appends: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements: a panic elsewhere
        // cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `pending`; if a place is free, takes it and returns the batch
    /// to send from it (then just `pending`: with a place free, nothing was
    /// queued before it). One step under the lock.
    pub(super) fn enqueue(&self, pending: Pending) -> Option<Vec<Pending>> {
        let mut state = self.state();
        state.waiting.push_back(pending);
        (state.running < self.max_running).then(|| {
            state.running += 1;
            next_batch(&mut state.waiting)
        })
    }

    /// The next batch from the queue, keeping the caller's place among the
    /// running batch transactions; or, with nothing queued, `None`, the
    /// place given back. One step under the lock, so that an append queued
    /// just after finds the place free and sends itself.
    pub(super) fn next_or_release(&self) -> Option<Vec<Pending>> {
        let mut state = self.state();
        if state.waiting.is_empty() {
            state.running -= 1;
            None
        } else {
            Some(next_batch(&mut state.waiting))
        }
    }

    /// Gives a place back whatever is queued: its holder cannot send.
    pub(super) fn release(&self) {
        self.state().running -= 1;
    }

    /// Counts a batch of `appends` appends sent.
    pub(super) fn sent(&self, appends: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(
            u64::try_from(appends).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(super) fn counts(&self) -> BatchCounts {
        BatchCounts {
            queued: self.state().waiting.len(),
            batches: self.batches.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }
}

/// Takes the appends at the front of the queue that fit in one batch.
fn next_batch(waiting: &mut VecDeque<Pending>) -> Vec<Pending> {
    let mut batch = Vec::new();
    let mut keys = 0;
    while let Some(next) = waiting.front() {
        let fits = batch.len() < MAX_BATCH && keys + next.boundary.len() <= MAX_BATCH_KEYS;
        if !batch.is_empty() && !fits {
            break;
        }
        keys += next.boundary.len();
        batch.extend(waiting.pop_front());
    }
    batch
}
