//! A saved read model that does not match the store: [`Mismatch`], how
//! it is found, and what a runner does about it ([`OnMismatch`]).

use std::fmt;
use std::time::Duration;

use super::EventFingerprint;

use crate::model::error::ReadError;
use crate::{EventStore, Position, Query, ReadOptions, SequencedEvent};

/// What a [`Runner`](super::Runner) does when it starts and finds that the
/// saved model does not match the store (see [`Mismatch`]): the store no
/// longer holds the events the model was built from — an older copy of the
/// store was restored, its tail was cut, or a segment was deleted.
///
/// The default is [`Fail`](Self::Fail). A model ahead of its store means
/// the *store* lost events that were once acknowledged; rebuilding the
/// model quietly would hide that. An application that knows its read
/// models are only a cache of the log — and says so when it happens —
/// chooses [`Rebuild`](Self::Rebuild) and reports
/// [`Runner::rebuilt`](super::Runner::rebuilt).
///
/// ```
/// use dcb_core::read_model::{MemoryStorage, Mismatch, OnMismatch, ReadModel, Runner, StartError};
/// use dcb_core::DecodeError;
/// use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Position, Query, SequencedEvent};
///
/// #[derive(Default, Clone)]
/// struct Count(u64);
///
/// impl ReadModel for Count {
///     fn query(&self) -> Query {
///         Query::all()
///     }
///
///     fn apply(&mut self, _: &SequencedEvent) -> Result<(), DecodeError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
///
/// # tokio_test_block_on(async {
/// let opened = || EventRecord::new(EventType::from_static("AccountOpened"), "{}");
/// let store = InMemoryStore::new();
/// store.append(vec![opened(), opened(), opened()], None).await?;
/// let storage = MemoryStorage::new();
/// Runner::<_, Count, _>::start(store, storage.clone()).await?.catch_up().await?;
///
/// // The model is saved at position 3; an older copy of the store has 1 event.
/// let restored = InMemoryStore::new();
/// restored.append(vec![opened()], None).await?;
/// let refused = Runner::<_, Count, _>::start(restored.clone(), storage.clone()).await;
/// assert!(matches!(refused, Err(StartError::Mismatch { .. })));
///
/// let mut runner =
///     Runner::<_, Count, _>::start_with(restored, storage, OnMismatch::Rebuild).await?;
/// assert_eq!(
///     runner.rebuilt(),
///     Some(&Mismatch::AheadOfStore { checkpoint: Position::new(3).unwrap(), head: Position::new(1) })
/// );
/// runner.catch_up().await?;
/// assert_eq!(runner.handle().read().await.0, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnMismatch {
    /// Start fails with [`StartError::Mismatch`](super::StartError::Mismatch);
    /// the saved model stays as it is.
    #[default]
    Fail,
    /// The saved model is set aside: the runner starts from an empty model
    /// and builds it again from the store's first event. The first save
    /// replaces the saved model.
    Rebuild,
}

/// How a saved read model fails to match the store it is started with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The model's checkpoint is beyond the store's last event.
    AheadOfStore {
        /// The position the saved model reflects.
        checkpoint: Position,
        /// The store's head; `None` for an empty store.
        head: Option<Position>,
    },
    /// The store holds another event at the model's checkpoint than the
    /// one the model was saved after, or none.
    OtherEvent {
        /// The position the saved model reflects.
        checkpoint: Position,
        /// The event that was there when the model was saved.
        saved: EventFingerprint,
        /// The event there now; `None` when there is none.
        found: Option<EventFingerprint>,
    },
}

/// A clause about the saved model: "its checkpoint 25 is beyond the
/// store's head 20", "the store holds another `Joined` event at
/// its checkpoint 25 than the one it was saved after".
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::AheadOfStore {
                checkpoint,
                head: Some(head),
            } => write!(
                f,
                "its checkpoint {checkpoint} is beyond the store's head {head}"
            ),
            Mismatch::AheadOfStore {
                checkpoint,
                head: None,
            } => write!(f, "its checkpoint is {checkpoint} and the store is empty"),
            Mismatch::OtherEvent {
                checkpoint,
                saved,
                found: Some(found),
            } if found.event_type() == saved.event_type() => write!(
                f,
                "the store holds another {} event at its checkpoint {checkpoint} \
                 than the one it was saved after",
                found.event_type()
            ),
            Mismatch::OtherEvent {
                checkpoint,
                saved,
                found: Some(found),
            } => write!(
                f,
                "the store holds a {} event at its checkpoint {checkpoint}, \
                 not the {} it was saved after",
                found.event_type(),
                saved.event_type()
            ),
            Mismatch::OtherEvent {
                checkpoint,
                saved,
                found: None,
            } => write!(
                f,
                "the store holds no event at its checkpoint {checkpoint}, \
                 where it was saved after a {}",
                saved.event_type()
            ),
        }
    }
}

/// Whether the model saved at `checkpoint`, after the event `fingerprint`
/// if that was saved, matches `store`.
pub(super) async fn check<S: EventStore>(
    store: &S,
    checkpoint: Position,
    fingerprint: Option<&EventFingerprint>,
) -> Result<Option<Mismatch>, ReadError> {
    let head = caught_up_to(store, checkpoint).await?;
    if head < Some(checkpoint) {
        return Ok(Some(Mismatch::AheadOfStore { checkpoint, head }));
    }
    // A model saved before fingerprints existed can only be checked
    // against the head.
    let Some(saved) = fingerprint else {
        return Ok(None);
    };
    let found = event_at(store, checkpoint)
        .await?
        .map(|event| EventFingerprint::of(&event));
    if found.as_ref() == Some(saved) {
        return Ok(None);
    }
    Ok(Some(Mismatch::OtherEvent {
        checkpoint,
        saved: saved.clone(),
        found,
    }))
}

/// How long [`check`] waits for a store whose head is behind a saved
/// checkpoint to reach it: a read-only embedded store follows its log by
/// polling every 50 ms, so its head may lag appends another process made
/// (and a model saved there) by up to a poll. A store that lost the events
/// never reaches the checkpoint, and costs this wait once, at start.
const LAG: Duration = Duration::from_millis(500);

/// The store's head, once it is at `checkpoint` or [`LAG`] has passed.
async fn caught_up_to<S: EventStore>(
    store: &S,
    checkpoint: Position,
) -> Result<Option<Position>, ReadError> {
    let mut head = store.head().await?;
    let deadline = tokio::time::Instant::now() + LAG;
    while head < Some(checkpoint) {
        match tokio::time::timeout_at(deadline, store.wait_for_append(head)).await {
            Ok(waited) => waited?,
            Err(_elapsed) => break,
        }
        head = store.head().await?;
    }
    Ok(head)
}

/// The event at `position`, if the store holds one there.
pub(super) async fn event_at<S: EventStore>(
    store: &S,
    position: Position,
) -> Result<Option<SequencedEvent>, ReadError> {
    let options = ReadOptions::new()
        .after(Position::new(position.get() - 1))
        .limit(1);
    let events = store.read_to_end(&Query::all(), options).await?.events;
    Ok(events
        .into_iter()
        .next()
        .filter(|event| event.position == position))
}
