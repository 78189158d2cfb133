//! The [`EventStore`] contract.

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use crate::model::error::{AppendError, ReadError};
use crate::model::read::{self, EventStream, ReadOptions, ReadResult};
use crate::store::subscription::Subscription;
use crate::{AppendCondition, EventRecord, Position, Query};

/// How often the default [`EventStore::wait_for_append`] asks for the head.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A DCB event store: one global, ordered sequence of events, read by query
/// and appended to under an optional condition.
///
/// Every method returns a `Send` future, so a store can be shared by tasks
/// on a multi-threaded runtime (`Arc<S>` and `&S` are stores too). The
/// contract below is what [`conformance`](crate#features) checks; an
/// implementation must pass it whole.
///
/// # Matching
///
/// A [`Query`] without items matches every event. Otherwise an event matches
/// when any [`QueryItem`](crate::QueryItem) matches it: the item's types are
/// empty or contain the event's type, and every tag of the item is among the
/// event's tags.
///
/// # Positions
///
/// The first event is at [`Position::FIRST`]; positions strictly increase in
/// append order. A store says in its documentation whether they are also
/// gap-free.
pub trait EventStore: Send + Sync {
    /// The stream a read returns.
    type Stream: EventStream + 'static;

    /// Reads the events matching `query`.
    ///
    /// # Contract
    ///
    /// - The read observes one consistent snapshot: a prefix of the sequence,
    ///   including every event whose append had returned before the read
    ///   began. Events appended later are not shown.
    /// - Events come in position order, or newest first when
    ///   [`ReadOptions::backwards`] is set; only positions greater than
    ///   [`ReadOptions::after`]; at most [`ReadOptions::limit`] of them (for
    ///   a backwards read, the newest ones).
    /// - The stream's [`head`](EventStream::head) follows the
    ///   [`EventStream`] contract: the snapshot's last position, or for a
    ///   forward read cut short by its limit, the last position returned.
    /// - A limit of zero fails with
    ///   [`InvalidInput::ZeroLimit`](crate::InvalidInput::ZeroLimit).
    /// - Memory use is bounded by a batch, not by the number of events read.
    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Self::Stream, ReadError>> + Send;

    /// Reads the events matching `query` into memory; see
    /// [`read`](Self::read) for the contract.
    ///
    /// ```
    /// # use dcb_core::{EventStore, InMemoryStore, Query, ReadOptions};
    /// # tokio_test_block_on(async {
    /// let store = InMemoryStore::new();
    /// let result = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
    /// assert!(result.events.is_empty());
    /// assert_eq!(result.head, None);
    /// # Ok::<(), dcb_core::ReadError>(())
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        async move { read::collect(self.read(query, options).await?).await }
    }

    /// Appends `events` atomically and returns the position of the last one.
    ///
    /// # Contract
    ///
    /// - All events are written, at consecutive positions in the given order,
    ///   or none is. Concurrent readers see all of them or none.
    /// - Invalid input (no events, an event or an append over the store's
    ///   [`Limits`](crate::Limits), one id twice) fails with
    ///   [`AppendError::InvalidInput`] before anything is checked or written.
    /// - Idempotence: when every event carries an id and exactly these events
    ///   (same ids, types, data and tags, in order) were appended before, the
    ///   append returns the original last position and writes nothing — even
    ///   if the condition would now fail. If only some ids are stored, or the
    ///   stored events differ, it fails with [`AppendError::DuplicateEventId`].
    /// - With a condition, the append fails with
    ///   [`AppendError::ConditionFailed`] carrying the first conflicting
    ///   position when any stored event after `condition.after` (any stored
    ///   event at all when `after` is `None`) matches
    ///   `condition.fail_if_events_match`. The check and the write are one
    ///   atomic step: no event can slip in between. The events being
    ///   appended do not count against their own condition.
    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send;

    /// The position of the last stored event, or `None` for an empty store.
    ///
    /// # Contract
    ///
    /// Every append that returned before this call is at or below the head.
    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send;

    /// Resolves once the head may be past `after`: immediately when it
    /// already is, otherwise when an append commits.
    ///
    /// # Contract
    ///
    /// - It must not wait forever once an event past `after` is stored: a
    ///   [`Subscription`] relies on it to go live.
    /// - It may resolve spuriously (the caller reads and finds nothing new);
    ///   a store that cannot be told about commits polls.
    ///
    /// The default implementation asks for the [`head`](Self::head) every
    /// [`DEFAULT_POLL_INTERVAL`]; the in-memory and embedded stores are woken
    /// by the commit itself, the PostgreSQL store by `LISTEN`/`NOTIFY`.
    fn wait_for_append(
        &self,
        after: Option<Position>,
    ) -> impl Future<Output = Result<(), ReadError>> + Send {
        async move {
            while self.head().await? <= after {
                tokio::time::sleep(DEFAULT_POLL_INTERVAL).await;
            }
            Ok(())
        }
    }

    /// Follows the events matching `query` after `after`: first the stored
    /// ones (catch-up), then each one as it is appended (live).
    ///
    /// A subscription delivers every matching event exactly once, in
    /// position order, and reads in bounded batches: a slow consumer holds
    /// back the reads, not memory. See [`Subscription`].
    ///
    /// ```
    /// # use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Query};
    /// # tokio_test_block_on(async {
    /// let store = InMemoryStore::new();
    /// let mut subscription = store.subscribe(Query::all(), None);
    /// store.append(vec![EventRecord::new(EventType::new("Opened")?, "{}")], None).await?;
    /// let event = subscription.next().await?;
    /// assert_eq!(event.position.get(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
    /// # }
    /// ```
    fn subscribe(&self, query: Query, after: Option<Position>) -> Subscription<Self>
    where
        Self: Clone + Sized,
    {
        Subscription::new(self.clone(), query, after)
    }
}

/// A store behind a pointer is a store: each method, `wait_for_append`
/// included, forwards to the store it points to, so a shared store keeps
/// its own wake-ups rather than the polling default.
macro_rules! forward_to_the_store {
    ($($pointer:ty),*) => {$(
        impl<S: EventStore + ?Sized> EventStore for $pointer {
            type Stream = S::Stream;

            fn read(
                &self,
                query: &Query,
                options: ReadOptions,
            ) -> impl Future<Output = Result<Self::Stream, ReadError>> + Send {
                (**self).read(query, options)
            }

            fn read_to_end(
                &self,
                query: &Query,
                options: ReadOptions,
            ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
                (**self).read_to_end(query, options)
            }

            fn append(
                &self,
                events: Vec<EventRecord>,
                condition: Option<AppendCondition>,
            ) -> impl Future<Output = Result<Position, AppendError>> + Send {
                (**self).append(events, condition)
            }

            fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
                (**self).head()
            }

            fn wait_for_append(
                &self,
                after: Option<Position>,
            ) -> impl Future<Output = Result<(), ReadError>> + Send {
                (**self).wait_for_append(after)
            }
        }
    )*};
}

forward_to_the_store!(Arc<S>, &S);
