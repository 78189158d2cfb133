//! [`AppendSignal`]: wakes subscriptions when a store publishes events.
//!
//! The in-memory and the embedded store publish under the write lock of
//! their [`State`]. A waiter compares the head with the position it has seen
//! and registers itself under the read lock, so every publish either happens
//! before the comparison (the waiter sees the new head and does not wait) or
//! after the registration (the publisher sees the waiter and wakes it). A
//! publish with nobody waiting costs one relaxed load.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;
use tokio::sync::Notify;

use super::State;
use crate::Position;

/// The wake-up side of [`EventStore::wait_for_append`](crate::EventStore::wait_for_append)
/// for the stores built on [`State`].
#[derive(Debug, Default)]
pub(crate) struct AppendSignal {
    /// How many tasks wait for a publish; changed only under the state's
    /// read lock, read under its write lock.
    waiting: AtomicUsize,
    notify: Notify,
}

impl AppendSignal {
    /// Whether a publish must wake waiters. Call it with the state's write
    /// lock held, right after publishing, and call [`wake`](Self::wake)
    /// once the lock is released when it says so.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) != 0
    }

    /// Wakes every waiting task.
    pub(crate) fn wake(&self) {
        self.notify.notify_waiters();
    }

    /// Resolves once the published head of `state` is past `seen`.
    pub(crate) async fn wait_past(&self, state: &RwLock<State>, seen: Option<Position>) {
        let seen = seen.map_or(0, Position::get);
        loop {
            // Created before the check: a `notify_waiters` after it wakes
            // this future even though it has not been polled yet.
            let notified = self.notify.notified();
            {
                let state = state.read();
                if state.last() > seen {
                    return;
                }
                self.waiting.fetch_add(1, Ordering::Relaxed);
            }
            let _registered = Registered(&self.waiting);
            notified.await;
        }
    }
}

/// Takes a waiter off the count when it wakes or is dropped.
struct Registered<'a>(&'a AtomicUsize);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
