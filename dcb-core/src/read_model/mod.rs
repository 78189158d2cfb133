//! Read models: state built from events for queries, kept up to date by a
//! subscription, and saved together with the position it reflects.
//!
//! A [`ReadModel`] says which events it needs and how each changes it. A
//! [`Runner`] follows those events with a [`Subscription`](crate::Subscription),
//! applies them, and hands the model and its **checkpoint** — the position
//! up to which it has applied every matching event — to a [`Storage`] in
//! one atomic save. After a restart the runner loads the pair and resumes
//! right after the checkpoint: an event is never applied twice to the saved
//! model and never skipped, so delivery is effectively exactly-once.
//!
//! A saved model belongs to the events it was built from. When the store no
//! longer holds them — an older copy of the store was restored, its tail
//! cut — the checkpoint is beyond the store's head, or the store holds
//! another event there than the one saved with the model (its
//! [`EventFingerprint`]). The runner notices on start and fails, or
//! rebuilds the model if told to: see [`OnMismatch`].
//!
//! Storages: [`FileStorage`] (one file replaced atomically; pairs with the
//! embedded store) and [`MemoryStorage`] (nothing survives the process; for tests).
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use dcb_core::read_model::{FileStorage, ReadModel, Runner};
//! use dcb_core::DecodeError;
//! use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Query, SequencedEvent};
//! use serde::{Deserialize, Serialize};
//!
//! /// How many events of each type the store holds.
//! #[derive(Default, Serialize, Deserialize)]
//! struct Counts(BTreeMap<String, u64>);
//!
//! impl ReadModel for Counts {
//!     fn query(&self) -> Query {
//!         Query::all()
//!     }
//!
//!     fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
//!         *self.0.entry(event.event_type().to_string()).or_default() += 1;
//!         Ok(())
//!     }
//! }
//!
//! # tokio_test_block_on(async {
//! let store = InMemoryStore::new();
//! let dir = tempfile::tempdir()?;
//! let opened = EventType::new("AccountOpened")?;
//! store.append(vec![EventRecord::new(opened.clone(), "{}")], None).await?;
//!
//! let mut runner = Runner::<_, Counts, _>::start(store.clone(), FileStorage::new(dir.path().join("counts.json"))).await?;
//! runner.catch_up().await?;
//! assert_eq!(runner.handle().read().await.0["AccountOpened"], 1);
//!
//! // Started again, the runner resumes from the saved checkpoint.
//! store.append(vec![EventRecord::new(opened, "{}")], None).await?;
//! let mut runner = Runner::<_, Counts, _>::start(store.clone(), FileStorage::new(dir.path().join("counts.json"))).await?;
//! assert_eq!(runner.handle().read().await.0["AccountOpened"], 1);
//! runner.catch_up().await?;
//! assert_eq!(runner.handle().read().await.0["AccountOpened"], 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

mod fingerprint;
mod mismatch;
mod runner;
mod storage;

pub use self::fingerprint::EventFingerprint;
pub use self::mismatch::{Mismatch, OnMismatch};
pub use self::runner::{
    DEFAULT_SAVE_EVERY, ReadModelHandle, RunError, Runner, RunnerStopped, StartError,
};
pub use self::storage::{
    FileStorage, MemoryStorage, Saved, SavedWithFingerprint, Storage, StorageError,
};

use crate::domain::event::DecodeError;
use crate::{Event, Query, SequencedEvent};

/// State built from the events matching a query, for answering queries.
///
/// Unlike a decision's projection, a read model needs no consistency
/// boundary: it may read every event of a type. Its events arrive in
/// position order, each exactly once per saved state.
pub trait ReadModel: Send + Sync + 'static {
    /// The events the model is built from.
    fn query(&self) -> Query;

    /// Applies one event matching [`query`](Self::query).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the event's data does not decode; the
    /// [`Runner`] stops, and its saved state stays at the last checkpoint.
    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError>;
}

/// Decodes `event` as an `E` if it is one: `Ok(None)` for an event of
/// another type. The building block of [`ReadModel::apply`]:
///
/// ```
/// # use dcb_core::SequencedEvent;
/// # use dcb_core::DecodeError;
/// # use dcb_core::read_model::decode_if;
/// # #[derive(dcb_core::Event, serde::Serialize, serde::Deserialize)]
/// # struct AccountOpened { owner: String }
/// # struct Owners(Vec<String>);
/// # impl Owners {
/// fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
///     if let Some(opened) = decode_if::<AccountOpened>(event)? {
///         self.0.push(opened.owner);
///     }
///     Ok(())
/// }
/// # }
/// ```
///
/// # Errors
///
/// A [`DecodeError`] when the event is an `E` whose data does not decode.
pub fn decode_if<E: Event>(event: &SequencedEvent) -> Result<Option<E>, DecodeError> {
    if event.event_type().as_str() == E::NAME {
        E::from_event(event).map(Some)
    } else {
        Ok(None)
    }
}
