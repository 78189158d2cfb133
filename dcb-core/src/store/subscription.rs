//! [`Subscription`]: follow a query's events, stored and future.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use futures_core::Stream;
use tracing::Instrument as _;

use crate::model::error::ReadError;
use crate::model::read::ReadOptions;
use crate::{EventStore, Position, Query, SequencedEvent};

/// How many events a subscription reads at a time unless told otherwise.
pub const DEFAULT_BATCH_SIZE: NonZeroUsize = NonZeroUsize::new(256).unwrap();

/// The events matching a query after a position: the stored ones first
/// (catch-up), then each new one once it is appended (live).
///
/// Made by [`EventStore::subscribe`]. A subscription is a loop of bounded
/// reads: it reads up to [`batch_size`](Self::batch_size) events after the
/// last one it has, hands them out one by one, and when a read comes back
/// short it has caught up and waits with
/// [`EventStore::wait_for_append`] before reading again.
///
/// # Guarantees
///
/// - **Every matching event once, in position order.** Each read starts
///   after the last position the subscription has, and a store's read is a
///   snapshot that already contains every event below its head — also in
///   stores where appends commit out of position order (the PostgreSQL
///   store holds reads back until lower positions have committed) — so
///   nothing is skipped and nothing repeated.
/// - **Bounded memory.** At most one batch is held; a consumer that does
///   not ask for the next event holds up the reads, not memory.
/// - **Errors are not final.** When a read fails, [`next`](Self::next)
///   returns the error and the subscription stays where it was: call it
///   again to retry from the same place.
///
/// ```
/// use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Query, QueryItem};
/// # tokio_test_block_on(async {
/// let store = InMemoryStore::new();
/// let opened = EventType::new("AccountOpened")?;
/// store.append(vec![EventRecord::new(opened.clone(), "{}")], None).await?;
///
/// let mut subscription = store.subscribe(Query::from(QueryItem::new().types([opened.clone()])), None);
/// assert_eq!(subscription.next().await?.position.get(), 1); // catch-up
/// assert!(subscription.try_next().await?.is_none());       // nothing more yet
///
/// let writer = store.clone();
/// tokio::spawn(async move { writer.append(vec![EventRecord::new(opened, "{}")], None).await });
/// assert_eq!(subscription.next().await?.position.get(), 2); // live
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Subscription<S> {
    store: S,
    query: Query,
    /// Where the next read starts: every matching event up to here is in
    /// `buffer` or was handed out.
    cursor: Option<Position>,
    /// The position of the last event handed out.
    delivered: Option<Position>,
    /// Events read and not yet handed out; at most one batch.
    buffer: VecDeque<SequencedEvent>,
    batch_size: NonZeroUsize,
    caught_up: bool,
}

impl<S: EventStore> Subscription<S> {
    /// A subscription to the events of `store` matching `query` at
    /// positions after `after` (all of them for `None`). Nothing is read
    /// until the first call to [`next`](Self::next).
    pub fn new(store: S, query: Query, after: Option<Position>) -> Subscription<S> {
        Subscription {
            store,
            query,
            cursor: after,
            delivered: after,
            buffer: VecDeque::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            caught_up: false,
        }
    }

    /// Sets how many events one read fetches (and so how many the
    /// subscription holds at most); [`DEFAULT_BATCH_SIZE`] by default.
    #[must_use]
    pub fn batch_size(mut self, batch_size: NonZeroUsize) -> Subscription<S> {
        self.batch_size = batch_size;
        self
    }

    /// The query this subscription follows.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The store this subscription reads.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The position up to which every matching event has been handed out:
    /// a checkpoint to resubscribe after. It can be past the last event
    /// handed out once the subscription has caught up, since the reads
    /// found no other match up to the store's head.
    pub fn position(&self) -> Option<Position> {
        if self.buffer.is_empty() {
            self.cursor
        } else {
            self.delivered
        }
    }

    /// Whether the subscription has handed out every matching event the
    /// store had at its last read.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up && self.buffer.is_empty()
    }

    /// The next matching event, waiting for it to be appended if need be.
    ///
    /// # Errors
    ///
    /// The store's [`ReadError`] when a read or the wait fails; the
    /// subscription stays where it was, so calling `next` again retries.
    pub async fn next(&mut self) -> Result<SequencedEvent, ReadError> {
        loop {
            if let Some(event) = self.pop() {
                return Ok(event);
            }
            if self.caught_up {
                self.store.wait_for_append(self.cursor).await?;
            }
            self.fill().await?;
        }
    }

    /// The next matching event if the store has one now, without waiting
    /// for an append; `None` once the subscription has caught up.
    ///
    /// # Errors
    ///
    /// As for [`next`](Self::next).
    pub async fn try_next(&mut self) -> Result<Option<SequencedEvent>, ReadError> {
        if self.buffer.is_empty() {
            self.fill().await?;
        }
        Ok(self.pop())
    }

    /// The events the subscription holds, or if it holds none, those of its
    /// next read that finds any, waiting for an append if need be. Never
    /// empty, and never more than the batch size.
    ///
    /// # Errors
    ///
    /// As for [`next`](Self::next).
    pub async fn next_batch(&mut self) -> Result<Vec<SequencedEvent>, ReadError> {
        while self.buffer.is_empty() {
            if self.caught_up {
                self.store.wait_for_append(self.cursor).await?;
            }
            self.fill().await?;
        }
        let events: Vec<SequencedEvent> = self.buffer.drain(..).collect();
        self.delivered = events.last().map(|event| event.position);
        Ok(events)
    }

    /// The events the subscription holds, or if it holds none, those of
    /// one more read — without waiting for an append: empty once the
    /// subscription has caught up.
    ///
    /// # Errors
    ///
    /// As for [`next`](Self::next).
    pub async fn try_next_batch(&mut self) -> Result<Vec<SequencedEvent>, ReadError> {
        if self.buffer.is_empty() {
            self.fill().await?;
        }
        let events: Vec<SequencedEvent> = self.buffer.drain(..).collect();
        if let Some(last) = events.last() {
            self.delivered = Some(last.position);
        }
        Ok(events)
    }

    /// The subscription as a [`Stream`] that never ends: each item is what
    /// [`next`](Self::next) returns.
    pub fn into_stream(self) -> impl Stream<Item = Result<SequencedEvent, ReadError>> + Send
    where
        S: Send,
    {
        futures_util::stream::unfold(self, |mut subscription| async move {
            let item = subscription.next().await;
            Some((item, subscription))
        })
    }

    fn pop(&mut self) -> Option<SequencedEvent> {
        let event = self.buffer.pop_front()?;
        self.delivered = Some(event.position);
        Some(event)
    }

    /// Reads the next batch after the cursor into the (empty) buffer.
    async fn fill(&mut self) -> Result<(), ReadError> {
        debug_assert!(self.buffer.is_empty());
        let options = ReadOptions::new()
            .after(self.cursor)
            .limit(self.batch_size.get());
        let result = self
            .store
            .read_to_end(&self.query, options)
            .instrument(tracing::debug_span!(
                "subscription.fill",
                after = self.cursor.map(Position::get),
                batch = self.batch_size.get(),
            ))
            .await?;
        let full = result.events.len() >= self.batch_size.get();
        if let Some(last) = result.events.last() {
            self.cursor = Some(last.position);
        }
        if !full {
            // A read not cut short by its limit is a snapshot up to its
            // head: nothing else matches up to there.
            self.cursor = self.cursor.max(result.head);
        }
        self.caught_up = !full;
        self.buffer.extend(result.events);
        Ok(())
    }
}
