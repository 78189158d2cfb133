//! The decide runner: read → fold → decide → append under the derived
//! condition ([`decide`], [`Decider`]), and the same in two steps
//! ([`prepare`], [`Prepared::append`]).

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use tracing::Instrument as _;

use crate::decide::known::KnownState;
use crate::decide::outcome::Outcome;
use crate::domain::event::{DecodeError, EncodeError, IntoEvents};
use crate::model::read::EventStream;
use crate::{
    AppendCondition, AppendError, EventStore, Metadata, Position, Projection, Query, ReadError,
    ReadOptions,
};

/// Runs one decision once: reads the events `projection` selects, folds
/// them, lets `command` decide, and appends what it decided under the
/// projection's condition after the read's head.
///
/// Returns the position of the last appended event, or `None` when the
/// command decided that nothing happens; with the command's value when it
/// returns [`Returning`](crate::Returning) events and a value (see
/// [`Outcome`]).
///
/// ```
/// use dcb_core::{decide, DecideError, Event, Id, InMemoryStore, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize, Debug)]
/// struct CourseRegistered {
///     #[tag]
///     course_id: CourseId,
/// }
///
/// /// Whether the course exists.
/// #[decision]
/// struct CourseExists {
///     #[boundary]
///     course_id: CourseId,
///     exists: bool,
/// }
///
/// #[decision]
/// impl CourseExists {
///     fn registered(&mut self, _: &CourseRegistered) {
///         self.exists = true;
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let course_id = CourseId::new();
/// let register = |state: &CourseExists| {
///     if state.exists { Err("already registered") } else { Ok(CourseRegistered { course_id }) }
/// };
/// assert!(decide(&store, CourseExists::new(course_id), register).await?.is_some());
/// let again = decide(&store, CourseExists::new(course_id), register).await;
/// assert!(matches!(again, Err(DecideError::Rejected("already registered"))));
/// # Ok::<(), DecideError<&str>>(())
/// # }).unwrap();
/// ```
pub async fn decide<S, P, R, E>(
    store: &S,
    projection: P,
    command: impl FnOnce(&P) -> Result<R, E>,
) -> Result<R::Output, DecideError<E>>
where
    S: EventStore,
    P: Projection,
    R: Outcome,
{
    attempt(store, projection, command, &Metadata::new(), None)
        .instrument(tracing::info_span!("decide", attempt = 1))
        .await
}

/// Runs decisions against one store, optionally retrying those that lose a
/// race (their condition failed) with a fresh read, and stamping metadata
/// on the events they append.
///
/// ```
/// # use dcb_core::{Decider, InMemoryStore, Metadata, Retry};
/// # use std::time::Duration;
/// let store = InMemoryStore::new();
/// let decider = Decider::new(&store)
///     .retry(Retry::attempts(5).backoff(Duration::from_millis(1), Duration::from_millis(50)))
///     .metadata(Metadata::new().with(Metadata::CORRELATION, "req-7f3a").with("user", "alice"));
/// ```
#[derive(Debug)]
pub struct Decider<'s, S> {
    store: &'s S,
    retry: Retry,
    metadata: Metadata,
    known: Option<KnownState>,
}

impl<'s, S: EventStore> Decider<'s, S> {
    /// A decider that does not retry and adds no metadata.
    pub fn new(store: &'s S) -> Decider<'s, S> {
        Decider {
            store,
            retry: Retry::never(),
            metadata: Metadata::new(),
            known: None,
        }
    }

    /// Decides from `known` state when every part of a decision is kept
    /// there, without reading, and keeps the state of every decision it
    /// makes (see [`KnownState`] for which parts are kept). Opt-in: without
    /// it every decision reads.
    ///
    /// A decision from known state appends under a condition that checks
    /// each part after the position it is known up to
    /// ([`AppendCondition::of_parts`]); if it conflicts, the parts are
    /// forgotten and the decision is read and made again at once (this
    /// retry is not one of [`retry`](Self::retry)'s attempts). A refusal,
    /// or a decision to append nothing, is confirmed by a fresh read, since
    /// no condition guards it.
    ///
    /// ```
    /// # use dcb_core::{Decider, InMemoryStore, KnownState};
    /// let store = InMemoryStore::new();
    /// let known = KnownState::new(64 << 20);
    /// let decider = Decider::new(&store).known(&known);
    /// ```
    #[must_use]
    pub fn known(mut self, known: &KnownState) -> Decider<'s, S> {
        self.known = Some(known.clone());
        self
    }

    /// Retries conflicting decisions under `retry`.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Decider<'s, S> {
        self.retry = retry;
        self
    }

    /// Stamps `metadata` on every event the decisions append — a request's
    /// correlation id, the user — so that commands need not build it. An
    /// event that carries a key of its own keeps its value
    /// ([`Metadata::or`]).
    ///
    /// ```
    /// # use dcb_core::{Decider, Event, EventStore, Id, InMemoryStore, Metadata, Query, ReadOptions, decision};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
    /// # struct TableId(dcb_core::Uuid);
    /// # #[derive(Event, Serialize, Deserialize)]
    /// # struct TableBooked { #[tag] table_id: TableId }
    /// # #[decision]
    /// # #[derive(Clone)]
    /// # struct Table { #[boundary] table_id: TableId, booked: bool }
    /// # #[decision]
    /// # impl Table { fn booked(&mut self, _: &TableBooked) { self.booked = true; } }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = InMemoryStore::new();
    /// let request = Decider::new(&store).metadata(Metadata::new().with(Metadata::CORRELATION, "req-7f3a"));
    /// let table_id = TableId::new();
    /// request.decide(Table::new(table_id), |t: &Table| {
    ///     if t.booked { Err("taken") } else { Ok(TableBooked { table_id }) }
    /// }).await?;
    /// let stored = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
    /// assert_eq!(stored.events[0].metadata().correlation(), Some("req-7f3a"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn metadata(mut self, metadata: Metadata) -> Decider<'s, S> {
        self.metadata = metadata;
        self
    }

    /// Runs a decision, starting from a clone of `projection` on each
    /// attempt; see [`decide`].
    ///
    /// With a [`known`](Self::known) state, a decision whose parts are all
    /// kept there is decided from them without reading.
    pub async fn decide<P, R, E>(
        &self,
        projection: P,
        mut command: impl FnMut(&P) -> Result<R, E>,
    ) -> Result<R::Output, DecideError<E>>
    where
        P: Projection + Clone,
        R: Outcome,
    {
        if let Some(known) = &self.known {
            let mut state = projection.clone();
            if let Some(parts) = known.recall(&mut state) {
                let condition = AppendCondition::of_parts(parts);
                let served = self
                    .without_read(state, condition, &mut command)
                    .instrument(tracing::info_span!("decide", known = true))
                    .await;
                if let Some(decided) = served {
                    return decided;
                }
            }
        }
        self.read_and_decide(projection, command).await
    }

    /// Runs a decision on a boundary whose ids were just made, so that no
    /// event can carry them yet: decides from `projection` as it is (the
    /// state before any event) without reading, and appends under its
    /// query with no position, which fails if any event it selects exists.
    /// Then, as for a decision from known state, a conflict reads and
    /// decides again, and a refusal or a decision to append nothing is
    /// confirmed by a read. With a [`known`](Self::known) state, the
    /// decision's state is kept.
    ///
    /// ```
    /// # use dcb_core::{Decider, Event, Id, InMemoryStore, decision};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
    /// # struct TableId(dcb_core::Uuid);
    /// # #[derive(Event, Serialize, Deserialize)]
    /// # struct TableOpened { #[tag] table_id: TableId }
    /// # #[decision]
    /// # #[derive(Clone)]
    /// # struct Table { #[boundary] table_id: TableId, open: bool }
    /// # #[decision]
    /// # impl Table { fn opened(&mut self, _: &TableOpened) { self.open = true; } }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = InMemoryStore::new();
    /// let table_id = TableId::new();
    /// let open = |t: &Table| if t.open { Err("already open") } else { Ok(TableOpened { table_id }) };
    /// Decider::new(&store).decide_new(Table::new(table_id), open).await?;
    /// // Not new any more: the append conflicts, the read finds it open.
    /// let again = Decider::new(&store).decide_new(Table::new(table_id), open).await;
    /// assert_eq!(again.unwrap_err().rejected(), Some("already open"));
    /// # Ok::<(), dcb_core::DecideError<&str>>(())
    /// # }).unwrap();
    /// ```
    pub async fn decide_new<P, R, E>(
        &self,
        projection: P,
        mut command: impl FnMut(&P) -> Result<R, E>,
    ) -> Result<R::Output, DecideError<E>>
    where
        P: Projection + Clone,
        R: Outcome,
    {
        let condition = AppendCondition::new(projection.query());
        let served = self
            .without_read(projection.clone(), condition, &mut command)
            .instrument(tracing::info_span!("decide", new = true))
            .await;
        match served {
            Some(decided) => decided,
            None => self.read_and_decide(projection, command).await,
        }
    }

    /// Decides from `state` without reading and appends under `condition`;
    /// `None` when the decision must be read and made again: it conflicted,
    /// or refused, or decided nothing (which no condition guards).
    async fn without_read<P, R, E>(
        &self,
        mut state: P,
        condition: AppendCondition,
        command: &mut impl FnMut(&P) -> Result<R, E>,
    ) -> Option<Result<R::Output, DecideError<E>>>
    where
        P: Projection,
        R: Outcome,
    {
        let Ok(outcome) = command(&state) else {
            tracing::debug!("the command refused from a state not read; confirming with a read");
            return None;
        };
        let (events, value) = outcome.split();
        let mut decided = Vec::new();
        if let Err(e) = events.into_events(&mut decided) {
            return Some(Err(DecideError::Encode(e)));
        }
        if decided.is_empty() {
            tracing::debug!("decided nothing from a state not read; confirming with a read");
            return None;
        }
        let prepared = Prepared {
            events: decided,
            condition,
            value: (),
        }
        .with_metadata(&self.metadata);
        let events = prepared.events.clone();
        match prepared.append(self.store).await {
            Ok(last) => {
                if let (Some(known), Some(last)) = (&self.known, last) {
                    known.remember_after_append(state, &events, last);
                }
                Some(Ok(R::output(last, value)))
            }
            Err(AppendError::ConditionFailed { conflicting }) => {
                tracing::debug!(
                    conflicting = conflicting.get(),
                    "the state not read was stale; reading it and deciding again"
                );
                if let Some(known) = &self.known {
                    known.forget(&mut state);
                }
                None
            }
            Err(other) => Some(Err(DecideError::Append(other))),
        }
    }

    /// Runs a decision with a read, retrying it under the decider's
    /// [`Retry`].
    async fn read_and_decide<P, R, E>(
        &self,
        projection: P,
        mut command: impl FnMut(&P) -> Result<R, E>,
    ) -> Result<R::Output, DecideError<E>>
    where
        P: Projection + Clone,
        R: Outcome,
    {
        let mut attempts = 1;
        loop {
            let span = tracing::info_span!("decide", attempt = attempts);
            match attempt(
                self.store,
                projection.clone(),
                &mut command,
                &self.metadata,
                self.known.as_ref(),
            )
            .instrument(span)
            .await
            {
                Err(DecideError::Conflict { conflicting, .. })
                    if attempts < self.retry.attempts =>
                {
                    let delay = self.retry.delay(attempts);
                    tracing::warn!(
                        attempt = attempts,
                        conflicting = conflicting.get(),
                        retry_in_us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
                        "the decision conflicted with an event appended after its read; \
                         retrying with a fresh read"
                    );
                    tokio::time::sleep(delay).await;
                    attempts += 1;
                }
                Err(DecideError::Conflict { conflicting, .. }) => {
                    return Err(DecideError::Conflict {
                        conflicting,
                        attempts,
                    });
                }
                other => return other,
            }
        }
    }
}

/// How often and how patiently to retry a decision that lost a race.
///
/// The delay before retry `n` (1-based) is `base · 2^(n-1)`, capped at
/// `max`, scaled by a random factor in `[0.5, 1.5)` so that racing clients
/// spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    base: Duration,
    max: Duration,
}

impl Retry {
    /// One attempt, no retry.
    #[must_use]
    pub fn never() -> Retry {
        Retry::attempts(1)
    }

    /// At most `attempts` attempts in all (at least one), with a backoff
    /// from 1 ms up to 100 ms.
    #[must_use]
    pub fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts: attempts.max(1),
            base: Duration::from_millis(1),
            max: Duration::from_millis(100),
        }
    }

    /// Sets the first delay and the longest one.
    #[must_use]
    pub fn backoff(mut self, base: Duration, max: Duration) -> Retry {
        self.base = base;
        self.max = max.max(base);
        self
    }

    /// The delay before retry `n` (1-based).
    fn delay(&self, n: u32) -> Duration {
        let exponential = self
            .base
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        exponential.min(self.max).mul_f64(0.5 + fastrand::f64())
    }
}

impl Default for Retry {
    fn default() -> Retry {
        Retry::never()
    }
}

/// One decision with a read; with a `known` state, keeps the state it
/// decided from (after its own events, when it appended).
async fn attempt<S, P, R, E>(
    store: &S,
    projection: P,
    command: impl FnOnce(&P) -> Result<R, E>,
    metadata: &Metadata,
    known: Option<&KnownState>,
) -> Result<R::Output, DecideError<E>>
where
    S: EventStore,
    P: Projection,
    R: Outcome,
{
    let (mut projection, head, decided) = read_and_fold(store, projection, command).await?;
    let (decided, value) = match decided {
        Ok(decided) => decided.with_metadata(metadata).split(),
        Err(refused) => {
            tracing::debug!("the command refused");
            if let Some(known) = known {
                known.remember(&mut projection, head);
            }
            return Err(refused);
        }
    };
    tracing::debug!(events = decided.events.len(), "decided");
    if decided.events.is_empty() {
        if let Some(known) = known {
            known.remember(&mut projection, head);
        }
        return Ok(R::output(None, value));
    }
    let events = known.map(|_| decided.events.clone());
    match decided.append(store).await {
        Ok(position) => {
            if let (Some(known), Some(events), Some(last)) = (known, events, position) {
                known.remember_after_append(projection, &events, last);
            }
            Ok(R::output(position, value))
        }
        Err(AppendError::ConditionFailed { conflicting }) => Err(DecideError::Conflict {
            conflicting,
            attempts: 1,
        }),
        Err(other) => Err(DecideError::Append(other)),
    }
}

/// The first half of [`decide`]: reads, folds and lets `command` decide,
/// without appending. [`Prepared::append`] is the second half.
///
/// Splitting the two shows what a decision's condition protects: anything
/// it depends on that is appended in between makes the append fail.
///
/// ```
/// # use dcb_core::{prepare, DecideError, Event, Id, InMemoryStore, decision};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct TableId(dcb_core::Uuid);
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct TableBooked { #[tag] table_id: TableId }
/// # #[decision]
/// # struct Table { #[boundary] table_id: TableId, booked: bool }
/// # #[decision]
/// # impl Table { fn booked(&mut self, _: &TableBooked) { self.booked = true; } }
/// # let book = |t: &Table| if t.booked { Err("taken") } else { Ok(TableBooked { table_id: t.table_id }) };
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let table_id = TableId::new();
/// let mine = prepare(&store, Table::new(table_id), book).await.map_err(|e| e.to_string())?;
/// let theirs = prepare(&store, Table::new(table_id), book).await.map_err(|e| e.to_string())?;
/// theirs.append(&store).await?;
/// let lost = mine.append(&store).await.unwrap_err();
/// assert!(lost.conflicting_position().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn prepare<S, P, R, E>(
    store: &S,
    projection: P,
    command: impl FnOnce(&P) -> Result<R, E>,
) -> Result<Prepared<R::Value>, DecideError<E>>
where
    S: EventStore,
    P: Projection,
    R: Outcome,
{
    let (_, _, decided) = read_and_fold(store, projection, command).await?;
    decided
}

/// Reads and folds `projection` and lets `command` decide: the folded
/// projection, the read's head, and the decision or the refusal.
#[allow(clippy::type_complexity)]
async fn read_and_fold<S, P, R, E>(
    store: &S,
    mut projection: P,
    command: impl FnOnce(&P) -> Result<R, E>,
) -> Result<
    (
        P,
        Option<Position>,
        Result<Prepared<R::Value>, DecideError<E>>,
    ),
    DecideError<E>,
>
where
    S: EventStore,
    P: Projection,
    R: Outcome,
{
    let query = projection.query();
    let head = fold_read(store, &query, &mut projection).await?;
    let (events, value) = match command(&projection) {
        Ok(outcome) => outcome.split(),
        Err(e) => return Ok((projection, head, Err(DecideError::Rejected(e)))),
    };
    let mut decided = Vec::new();
    events
        .into_events(&mut decided)
        .map_err(DecideError::Encode)?;
    let condition = AppendCondition::new(projection.condition(&query)).after(head);
    Ok((
        projection,
        head,
        Ok(Prepared {
            condition,
            events: decided,
            value,
        }),
    ))
}

/// Reads the events `projection` selects and folds them: the state a
/// decision would decide from, for queries and views.
pub async fn load<S, P>(
    store: &S,
    mut projection: P,
) -> Result<P, DecideError<std::convert::Infallible>>
where
    S: EventStore,
    P: Projection,
{
    let query = projection.query();
    fold_read(store, &query, &mut projection).await?;
    Ok(projection)
}

/// Reads what `query` selects into `projection`, event by event; returns
/// the read's head. A latest-event projection ([`Projection::LATEST`])
/// reads its last events backwards and folds them in position order.
async fn fold_read<S, P, E>(
    store: &S,
    query: &Query,
    projection: &mut P,
) -> Result<Option<Position>, DecideError<E>>
where
    S: EventStore,
    P: Projection,
{
    if let Some(latest) = P::LATEST {
        let mut read = store
            .read_to_end(query, ReadOptions::new().backwards().limit(latest.get()))
            .await
            .map_err(DecideError::Read)?;
        read.events.reverse();
        for event in &read.events {
            projection.apply(event).map_err(DecideError::Decode)?;
        }
        return Ok(read.head);
    }
    let mut events = store
        .read(query, ReadOptions::new())
        .await
        .map_err(DecideError::Read)?;
    while let Some(event) = events.next().await {
        projection
            .apply(&event.map_err(DecideError::Read)?)
            .map_err(DecideError::Decode)?;
    }
    Ok(events.head())
}

/// A decision made but not yet appended: its events, the condition they
/// must be appended under, and the command's value (`()` unless it
/// returned [`Returning`](crate::Returning)).
#[derive(Clone, Debug)]
#[must_use = "a prepared decision does nothing until it is appended"]
pub struct Prepared<V = ()> {
    /// The decided events; empty when the command decided nothing.
    pub events: Vec<crate::EventRecord>,
    /// The projection's condition after the read's head.
    pub condition: AppendCondition,
    /// The command's value.
    pub value: V,
}

impl<V> Prepared<V> {
    /// The decision without the command's value, and the value: to append
    /// the one and keep the other.
    pub fn split(self) -> (Prepared, V) {
        let Prepared {
            events,
            condition,
            value,
        } = self;
        (
            Prepared {
                events,
                condition,
                value: (),
            },
            value,
        )
    }

    /// The decision with `metadata` added to each of its events, whose
    /// own keys keep their values ([`Metadata::or`]).
    pub fn with_metadata(mut self, metadata: &Metadata) -> Prepared<V> {
        if !metadata.is_empty() {
            self.events = std::mem::take(&mut self.events)
                .into_iter()
                .map(|event| {
                    let stamped = event.metadata().clone().or(metadata);
                    event.with_metadata(stamped)
                })
                .collect();
        }
        self
    }

    /// Appends the decided events under the decision's condition; `None`
    /// when there is nothing to append. A decision that lost its race fails
    /// with [`AppendError::ConditionFailed`].
    pub async fn append<S: EventStore>(self, store: &S) -> Result<Option<Position>, AppendError> {
        append(store, self.events, self.condition).await
    }
}

/// Appends decided events under their condition; `None` when there are none.
async fn append<S: EventStore>(
    store: &S,
    events: Vec<crate::EventRecord>,
    condition: AppendCondition,
) -> Result<Option<Position>, AppendError> {
    if events.is_empty() {
        return Ok(None);
    }
    store.append(events, Some(condition)).await.map(Some)
}

/// Why a decision did not append. [`Rejected`](DecideError::Rejected)
/// carries the command's own (domain) error; every other variant is about
/// the store or the events.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecideError<E> {
    /// The command refused: the domain's error.
    Rejected(E),
    /// Events the decision depends on were appended after its read, on every
    /// attempt made.
    Conflict {
        /// The first conflicting position of the last attempt.
        conflicting: Position,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The read failed.
    Read(ReadError),
    /// A stored event could not be decoded into its domain type.
    Decode(DecodeError),
    /// A decided event could not be encoded.
    Encode(EncodeError),
    /// The append failed for a reason other than a conflict.
    Append(AppendError),
}

impl<E> DecideError<E> {
    /// The domain error, when the command refused.
    pub fn rejected(self) -> Option<E> {
        match self {
            DecideError::Rejected(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the decision lost a race on every attempt.
    pub fn is_conflict(&self) -> bool {
        matches!(self, DecideError::Conflict { .. })
    }
}

impl<E: fmt::Display> fmt::Display for DecideError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecideError::Rejected(e) => fmt::Display::fmt(e, f),
            DecideError::Conflict {
                conflicting,
                attempts,
            } => write!(
                f,
                "the decision conflicted with event {conflicting}, appended after its read \
                 ({attempts} attempt(s)); try again"
            ),
            DecideError::Read(e) => fmt::Display::fmt(e, f),
            DecideError::Decode(e) => fmt::Display::fmt(e, f),
            DecideError::Encode(e) => fmt::Display::fmt(e, f),
            DecideError::Append(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// An error whatever the domain's error is — a `&'static str` too — so that
/// `?` converts it into `Box<dyn Error>`. A refusal has no source: its
/// message is the domain error's own.
impl<E: fmt::Debug + fmt::Display> std::error::Error for DecideError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecideError::Rejected(_) | DecideError::Conflict { .. } => None,
            DecideError::Read(e) => Some(e),
            DecideError::Decode(e) => Some(e),
            DecideError::Encode(e) => Some(e),
            DecideError::Append(e) => Some(e),
        }
    }
}
