//! [`Runner`]: keeps a read model up to date and saved.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, watch};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::mismatch::{check, event_at};
use super::{
    EventFingerprint, Mismatch, OnMismatch, ReadModel, Saved, SavedWithFingerprint, Storage,
    StorageError,
};
use crate::domain::event::DecodeError;
use crate::model::error::ReadError;
use crate::{EventStore, Position, Subscription};

/// How many applied events a runner keeps unsaved at most, unless told
/// otherwise — or unless saving is slow (see [`Runner::save_every`]): it
/// also saves whenever it catches up.
pub const DEFAULT_SAVE_EVERY: usize = 10_000;

/// A save waits, after the last one, this many times as long as the last
/// one took: saving a model takes at most about a tenth of the time spent
/// catching up, however large the model grows.
const SAVE_SPACING: u32 = 10;

/// Follows a [`ReadModel`]'s events and keeps the model applied and saved.
///
/// [`start`](Self::start) loads the saved model and checkpoint (or starts
/// from `M::default()` before the first event), checks that the store
/// still holds the events the model was built from (see [`OnMismatch`]),
/// and subscribes to the model's query after the checkpoint. Each batch of
/// events is applied under the model's write lock; the model and the
/// position it then reflects are saved together, with the
/// [`EventFingerprint`] of the event there, after
/// [`save_every`](Self::save_every) events (spaced out when saving is
/// slow) and whenever the runner has caught up. A crash loses at most
/// the unsaved events' effects, and the next start applies exactly those
/// again.
///
/// Readers use a [`ReadModelHandle`]: the model as applied so far and a
/// way to wait until it reflects a given position (read-your-writes after
/// an append).
pub struct Runner<S: EventStore, M, P> {
    subscription: Subscription<S>,
    model: Arc<RwLock<M>>,
    storage: P,
    applied: watch::Sender<Option<Position>>,
    saved: Option<Position>,
    /// The last event applied, whose fingerprint a save at its position
    /// keeps without reading it again.
    last_applied: Option<(Position, EventFingerprint)>,
    unsaved: usize,
    save_every: usize,
    /// When the last save ended, and how long it took.
    last_save: Option<(Instant, Duration)>,
    failed: bool,
    rebuilt: Option<Mismatch>,
}

impl<S, M, P> Runner<S, M, P>
where
    S: EventStore,
    M: ReadModel + Default,
    P: Storage<M>,
{
    /// Loads the model saved in `storage` and prepares to follow `store`
    /// from its checkpoint; fails when the saved model does not match the
    /// store ([`OnMismatch::Fail`]). Only the store's head, and the event
    /// at the checkpoint, are read yet.
    ///
    /// # Errors
    ///
    /// See [`StartError`].
    pub async fn start(store: S, storage: P) -> Result<Runner<S, M, P>, StartError> {
        Runner::start_with(store, storage, OnMismatch::default()).await
    }

    /// As [`start`](Self::start), doing `on_mismatch` when the saved model
    /// does not match the store.
    ///
    /// # Errors
    ///
    /// See [`StartError`].
    pub async fn start_with(
        store: S,
        storage: P,
        on_mismatch: OnMismatch,
    ) -> Result<Runner<S, M, P>, StartError> {
        let empty = || SavedWithFingerprint {
            saved: Saved {
                model: M::default(),
                checkpoint: None,
            },
            fingerprint: None,
        };
        let SavedWithFingerprint {
            mut saved,
            mut fingerprint,
        } = storage
            .load_with_fingerprint()
            .await
            .map_err(StartError::Load)?
            .unwrap_or_else(empty);
        let mut rebuilt = None;
        if let Some(checkpoint) = saved.checkpoint {
            let found = check(&store, checkpoint, fingerprint.as_ref())
                .await
                .map_err(StartError::Read)?;
            if let Some(mismatch) = found {
                match on_mismatch {
                    OnMismatch::Fail => {
                        return Err(StartError::Mismatch {
                            location: storage.location(),
                            mismatch,
                        });
                    }
                    OnMismatch::Rebuild => {
                        tracing::warn!(
                            model = std::any::type_name::<M>(),
                            location = storage.location().as_deref(),
                            %mismatch,
                            "the saved read model does not match its store; rebuilding it from the log"
                        );
                        SavedWithFingerprint { saved, fingerprint } = empty();
                        rebuilt = Some(mismatch);
                    }
                }
            }
        }
        let Saved { model, checkpoint } = saved;
        let subscription = Subscription::new(store, model.query(), checkpoint);
        Ok(Runner {
            subscription,
            model: Arc::new(RwLock::new(model)),
            storage,
            applied: watch::Sender::new(checkpoint),
            saved: checkpoint,
            last_applied: checkpoint.zip(fingerprint),
            unsaved: 0,
            save_every: DEFAULT_SAVE_EVERY,
            last_save: None,
            failed: false,
            rebuilt,
        })
    }
}

impl<S, M, P> Runner<S, M, P>
where
    S: EventStore,
    M: ReadModel,
    P: Storage<M>,
{
    /// Saves after `events` applied events (and whenever the runner
    /// catches up); [`DEFAULT_SAVE_EVERY`] by default. Values below one
    /// count as one.
    ///
    /// A save writes the whole model, so a large model takes long to save.
    /// While catching up, a save also waits until ten times as long as the
    /// last save took has passed since it: saving then takes at most about
    /// a tenth of the time, and catching up on a long log stays linear in
    /// its length instead of growing with its square. A crash loses more
    /// applied events then, which the next start applies again.
    #[must_use]
    pub fn save_every(mut self, events: usize) -> Runner<S, M, P> {
        self.save_every = events.max(1);
        self
    }

    /// A handle for reading the model, which stays valid while the runner
    /// runs elsewhere.
    pub fn handle(&self) -> ReadModelHandle<M> {
        ReadModelHandle {
            model: Arc::clone(&self.model),
            applied: self.applied.subscribe(),
        }
    }

    /// The position the saved model reflects.
    pub fn saved(&self) -> Option<Position> {
        self.saved
    }

    /// Why [`start_with`](Self::start_with) set the saved model aside and
    /// builds it again from the store's first event, if it did (only with
    /// [`OnMismatch::Rebuild`]). An application says so: it means the
    /// store lost events the model had seen.
    pub fn rebuilt(&self) -> Option<&Mismatch> {
        self.rebuilt.as_ref()
    }

    /// Applies every matching event the store has now, saves, and returns
    /// the position the model reflects.
    ///
    /// # Errors
    ///
    /// See [`RunError`]; after an error the runner refuses to go on, and
    /// the saved model stays at its last checkpoint: start a new runner.
    pub async fn catch_up(&mut self) -> Result<Option<Position>, RunError> {
        self.check()?;
        let span = tracing::info_span!(
            "read_model.catch_up",
            model = std::any::type_name::<M>(),
            from = self.subscription.position().map(Position::get),
            events = tracing::field::Empty,
            position = tracing::field::Empty,
        );
        let mut applied = 0;
        let caught_up = async {
            loop {
                let events = self.subscription.try_next_batch().await?;
                let caught_up = events.is_empty();
                applied += events.len();
                self.apply(&events).await?;
                if caught_up {
                    self.save().await?;
                    return Ok(self.subscription.position());
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record("events", applied);
        if let Ok(Some(position)) = caught_up {
            span.record("position", position.get());
        }
        caught_up
    }

    /// Catches up, then keeps applying events as they are appended, until
    /// an error stops it.
    ///
    /// # Errors
    ///
    /// As for [`catch_up`](Self::catch_up); it returns only on an error.
    pub async fn run(&mut self) -> Result<Infallible, RunError> {
        self.catch_up().await?;
        loop {
            let events = self.subscription.next_batch().await?;
            self.apply(&events).await?;
            // `apply` saved already if `save_every` was reached.
            if self.subscription.is_caught_up() {
                self.save().await?;
            }
        }
    }

    fn check(&self) -> Result<(), RunError> {
        if self.failed {
            return Err(RunError::Stopped);
        }
        Ok(())
    }

    async fn apply(&mut self, events: &[crate::SequencedEvent]) -> Result<(), RunError> {
        if !events.is_empty() {
            let mut model = self.model.write().await;
            for event in events {
                if let Err(e) = model.apply(event) {
                    // The model in memory is part-way through the batch:
                    // only the saved state is consistent any more.
                    self.failed = true;
                    return Err(RunError::Apply(e));
                }
            }
            drop(model);
            self.unsaved += events.len();
            if let Some(last) = events.last() {
                self.last_applied = Some((last.position, EventFingerprint::of(last)));
            }
        }
        let position = self.subscription.position();
        self.applied.send_if_modified(|applied| {
            let moved = *applied != position;
            *applied = position;
            moved
        });
        if self.unsaved >= self.save_every && self.save_is_due() {
            self.save().await?;
        }
        Ok(())
    }

    /// Whether the last save is long enough ago (see
    /// [`save_every`](Self::save_every)).
    fn save_is_due(&self) -> bool {
        self.last_save
            .is_none_or(|(ended, took)| ended.elapsed() >= took * SAVE_SPACING)
    }

    async fn save(&mut self) -> Result<(), RunError> {
        let position = self.subscription.position();
        let Some(checkpoint) = position else {
            return Ok(());
        };
        if position == self.saved {
            return Ok(());
        }
        let fingerprint = match &self.last_applied {
            Some((applied, fingerprint)) if *applied == checkpoint => Some(fingerprint.clone()),
            // Caught up past the last matching event: the checkpoint is an
            // event of another query's, read for its fingerprint. A read
            // error leaves the runner as it was, to try again.
            _ => event_at(self.subscription.store(), checkpoint)
                .await?
                .map(|event| EventFingerprint::of(&event)),
        };
        let started = Instant::now();
        let model = self.model.read().await;
        let saved = match &fingerprint {
            Some(fingerprint) => {
                self.storage
                    .save_with_fingerprint(&model, checkpoint, fingerprint)
                    .await
            }
            // Not there (a store with gaps): the next start checks only
            // that the checkpoint is not beyond the head.
            None => self.storage.save(&model, checkpoint).await,
        };
        drop(model);
        if let Err(e) = saved {
            tracing::warn!(
                model = std::any::type_name::<M>(),
                checkpoint = checkpoint.get(),
                error = %e,
                "the read model could not be saved; its runner stops at the last saved checkpoint"
            );
            self.failed = true;
            return Err(RunError::Save(e));
        }
        tracing::debug!(
            model = std::any::type_name::<M>(),
            checkpoint = checkpoint.get(),
            "read model saved"
        );
        self.saved = position;
        self.last_applied = fingerprint.map(|fingerprint| (checkpoint, fingerprint));
        self.unsaved = 0;
        self.last_save = Some((Instant::now(), started.elapsed()));
        Ok(())
    }
}

impl<S: EventStore, M, P> std::fmt::Debug for Runner<S, M, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("applied", &*self.applied.borrow())
            .field("saved", &self.saved)
            .field("unsaved", &self.unsaved)
            .finish_non_exhaustive()
    }
}

/// Why a [`Runner`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Reading the events failed.
    #[error("the read model runner cannot read the events: {0}")]
    Read(#[from] ReadError),
    /// An event did not decode.
    #[error("the read model cannot apply an event: {0}")]
    Apply(DecodeError),
    /// Saving failed.
    #[error("the read model cannot be saved: {0}")]
    Save(StorageError),
    /// An earlier error stopped this runner.
    #[error("the read model runner stopped after an earlier error; start a new runner")]
    Stopped,
}

/// Why a [`Runner`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The saved model could not be loaded.
    #[error(transparent)]
    Load(StorageError),
    /// The store could not be read to check the saved model against it.
    #[error("the read model runner cannot read the store to check the saved model: {0}")]
    Read(ReadError),
    /// The saved model does not match the store, and the runner was told
    /// to fail then ([`OnMismatch::Fail`]).
    #[error("{}", mismatch_message(location.as_deref(), mismatch))]
    Mismatch {
        /// Where the saved model is ([`Storage::location`]).
        location: Option<String>,
        /// How it does not match.
        mismatch: Mismatch,
    },
}

/// What [`StartError::Mismatch`] says: what does not match, the likely
/// cause, and what to do.
fn mismatch_message(location: Option<&str>, mismatch: &Mismatch) -> String {
    let (model, saved_model) = match location {
        Some(location) => (format!("the read model {location}"), location),
        None => (String::from("the read model"), "the saved model"),
    };
    format!(
        "{model} does not match the store: {mismatch}, as when an older copy of the store \
         is restored or its tail cut; delete {saved_model} to rebuild the model from the \
         events, or start the runner with OnMismatch::Rebuild"
    )
}

/// Reads a read model that a [`Runner`] keeps up to date.
#[derive(Debug)]
pub struct ReadModelHandle<M> {
    model: Arc<RwLock<M>>,
    applied: watch::Receiver<Option<Position>>,
}

impl<M> Clone for ReadModelHandle<M> {
    fn clone(&self) -> Self {
        ReadModelHandle {
            model: Arc::clone(&self.model),
            applied: self.applied.clone(),
        }
    }
}

impl<M> ReadModelHandle<M> {
    /// The model as applied so far (it may be ahead of the saved one).
    pub async fn read(&self) -> RwLockReadGuard<'_, M> {
        self.model.read().await
    }

    /// The position up to which the model reflects every matching event.
    #[must_use]
    pub fn position(&self) -> Option<Position> {
        *self.applied.borrow()
    }

    /// Waits until the model reflects every matching event up to
    /// `position`, e.g. the position an append returned.
    ///
    /// # Errors
    ///
    /// [`RunnerStopped`] when the runner is gone before it got there.
    pub async fn wait_for(&mut self, position: Position) -> Result<(), RunnerStopped> {
        self.applied
            .wait_for(|applied| *applied >= Some(position))
            .await
            .map(drop)
            .map_err(|watch::error::RecvError { .. }| RunnerStopped)
    }
}

/// The runner of a read model stopped before the model reached the
/// position waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the read model runner stopped before the model reached the position waited for")]
pub struct RunnerStopped;
