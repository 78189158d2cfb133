//! [`InMemoryStore`]: the store that keeps everything in memory.

use std::future::{Future, ready};

use crate::model::error::{AppendError, ReadError};
use crate::model::read::{ReadOptions, ReadResult};
use crate::store::engine::{Engine, IndexedEvents};
use crate::store::trace;
use crate::{AppendCondition, Clock, EventRecord, EventStore, Limits, Position, Query};

/// An event store in memory: fast, indexed, and gone when the process ends.
///
/// It is the reference implementation of the [`EventStore`] contract — tests
/// and property tests compare other stores with it — and the store for unit
/// tests of domain code.
///
/// - Reads use a type index and a tag index: a read costs time in
///   proportion to the candidates of its query (for each item, the shortest
///   index list that answers it), not to the size of the store.
/// - Positions are gap-free.
/// - Appends hold a write lock for the condition check and the write, so
///   they are atomic; reads hold a read lock for one batch at a time.
/// - Clones share the same events.
/// - Tag tables about to grow are prepared, and outgrown ones freed, on a
///   helper thread (`dcb-tables`, one per process, started on first use),
///   so that an append does not wait for fresh pages to be faulted in.
///
/// ```
/// use dcb_core::{AppendCondition, EventRecord, EventStore, EventType, InMemoryStore, Query, QueryItem, ReadOptions, Tag};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let course = Tag::new("course:1")?;
/// let registered = EventType::from_static("CourseRegistered");
/// let query = Query::from(QueryItem::new().tags([course.clone()]));
///
/// // Decide: the course must not exist yet.
/// let seen = store.read_to_end(&query, ReadOptions::new()).await?;
/// assert!(seen.events.is_empty());
/// let condition = AppendCondition::new(query.clone()).after(seen.head);
/// let event = EventRecord::new(registered.clone(), r#"{"places":5}"#).with_tags([course.clone()]);
/// store.append(vec![event.clone()], Some(condition.clone())).await?;
///
/// // The same decision again conflicts with the event it did not see.
/// let err = store.append(vec![event], Some(condition)).await.unwrap_err();
/// assert_eq!(err.conflicting_position().map(|p| p.get()), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct InMemoryStore {
    engine: Engine,
    limits: Limits,
}

impl InMemoryStore {
    /// An empty store with the default [`Limits`].
    #[must_use]
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }

    /// An empty store enforcing `limits`.
    #[must_use]
    pub fn with_limits(limits: Limits) -> InMemoryStore {
        InMemoryStore {
            engine: Engine::default(),
            limits,
        }
    }

    /// An empty store with room for `events` events carrying `tags`
    /// distinct tags, with the default [`Limits`].
    ///
    /// A store grows as it fills; each time its event list or one of its
    /// 256 tag tables outgrows its room, that append moves it into a larger
    /// one (the event list of a million events in milliseconds). Sizing a
    /// store for a known load spares those moves, and touches the tag tables'
    /// memory up front. The sizes are hints, not limits.
    ///
    /// ```
    /// use dcb_core::InMemoryStore;
    ///
    /// let store = InMemoryStore::with_capacity(1_000_000, 1_100_000);
    /// assert!(store.is_empty());
    /// ```
    #[must_use]
    pub fn with_capacity(events: usize, tags: usize) -> InMemoryStore {
        InMemoryStore {
            engine: Engine::with_capacity(events, tags),
            limits: Limits::default(),
        }
    }

    /// This store, recording appends at the times `clock` gives (the
    /// system clock by default), never before the latest time recorded.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> InMemoryStore {
        self.engine = self.engine.with_clock(clock);
        self
    }

    /// The limits this store enforces.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The number of stored events.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.engine.last()).unwrap_or(usize::MAX)
    }

    /// Whether no event is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous core of [`EventStore::append`].
    pub fn append_now(
        &self,
        events: Vec<EventRecord>,
        condition: Option<&AppendCondition>,
    ) -> Result<Position, AppendError> {
        self.limits.check_append(&events)?;
        self.engine.append(events, condition)
    }

    /// The synchronous core of [`EventStore::read`].
    pub fn read_now(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<IndexedEvents, ReadError> {
        self.engine.read(query, options)
    }

    /// The synchronous core of [`EventStore::head`].
    #[must_use]
    pub fn head_now(&self) -> Option<Position> {
        self.engine.head()
    }
}

/// The store's name in `tracing` spans.
const STORE: &str = "memory";

impl EventStore for InMemoryStore {
    type Stream = IndexedEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<IndexedEvents, ReadError>> + Send {
        let span = trace::read(STORE, query, &options);
        ready(span.in_scope(|| self.read_now(query, options)))
    }

    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        let span = trace::read(STORE, query, &options);
        ready(span.in_scope(|| self.engine.read_to_end(query, options)))
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        let (count, conditional) = (events.len(), condition.is_some());
        trace::append(
            STORE,
            count,
            conditional,
            ready(self.append_now(events, condition.as_ref())),
        )
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        ready(Ok(self.head_now()))
    }

    async fn wait_for_append(&self, after: Option<Position>) -> Result<(), ReadError> {
        self.engine.wait_past(after).await;
        Ok(())
    }
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("events", &self.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
