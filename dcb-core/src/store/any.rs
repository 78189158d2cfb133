//! [`AnyStore`]: a store chosen at run time, from configuration.
//!
//! An application that lets its operator choose where events live — a
//! directory in development, PostgreSQL in production, memory in tests —
//! opens the store a location names and uses it as any [`EventStore`]:
//!
//! ```
//! use dcb_core::any::AnyStore;
//! use dcb_core::{EventRecord, EventStore, EventType};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let dir = tempfile::tempdir()?;
//! # let from_config = dir.path().to_str().unwrap().to_owned();
//! // "memory:", a directory, or a postgres:// URL.
//! let store = AnyStore::open(&from_config).await?;
//! assert_eq!(store.kind(), "embedded");
//! store.append(vec![EventRecord::new(EventType::from_static("Started"), "{}")], None).await?;
//! assert_eq!(store.head().await?.map(|p| p.get()), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! A location is one of:
//!
//! - `memory:` — a new, empty [`InMemoryStore`];
//! - `postgres://…` or `postgresql://…` — a `postgres::PostgresStore`
//!   (feature `postgres`), the URL as `postgres::PostgresOptions::new`
//!   takes it;
//! - anything else — the directory of an
//!   [`EmbeddedStore`](crate::embedded::EmbeddedStore) (feature `embedded`,
//!   on by default), made if missing unless opened read-only.
//!
//! [`AnyOptions`] opens read-only and names the PostgreSQL schema; for any
//! other setting, configure the store itself and wrap it
//! (`AnyStore::from(store)`).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

#[cfg(feature = "embedded")]
use crate::store::embedded::{self, EmbeddedStore};
use crate::store::engine::IndexedEvents;
#[cfg(feature = "postgres")]
use crate::store::postgres::{self, PostgresEvents, PostgresOptions, PostgresStore};
use crate::{
    AppendCondition, AppendError, EventRecord, EventStore, EventStream, InMemoryStore, Position,
    Query, ReadError, ReadOptions, ReadResult, SequencedEvent,
};

/// A store of any kind, chosen at run time; see the [module](self).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// An in-memory store.
    Memory(InMemoryStore),
    /// An embedded store.
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedStore),
    /// A PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// How [`AnyStore::open_with`] opens a store.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AnyOptions {
    /// Open for reading only: an embedded store without its lock (the
    /// writer may keep it open) and never made; a PostgreSQL schema never
    /// migrated, which must hold a store.
    pub read_only: bool,
    /// The PostgreSQL schema (default `dcb`).
    pub schema: Option<String>,
}

impl AnyOptions {
    /// The defaults: read and write, schema `dcb`.
    #[must_use]
    pub fn new() -> AnyOptions {
        AnyOptions::default()
    }

    /// Opens for reading only.
    #[must_use]
    pub fn read_only(mut self) -> AnyOptions {
        self.read_only = true;
        self
    }

    /// Sets the PostgreSQL schema.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> AnyOptions {
        self.schema = Some(schema.into());
        self
    }
}

/// Why [`AnyStore::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The embedded store did not open.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Embedded(#[from] embedded::OpenError),
    /// The PostgreSQL store did not connect.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] postgres::ConnectError),
    /// The location names a kind of store this build does not include.
    #[error(
        "{location} names {kind} store, which this program was built without; \
         enable dcb-core's `{feature}` feature"
    )]
    NotBuilt {
        /// The location given.
        location: String,
        /// The kind it names, with its article ("a PostgreSQL").
        kind: &'static str,
        /// The feature that adds it.
        feature: &'static str,
    },
}

/// Whether `location` names a PostgreSQL server.
fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl AnyStore {
    /// The location of a new in-memory store.
    pub const MEMORY: &'static str = "memory:";

    /// Opens the store `location` names, for reading and writing; see the
    /// [module](self).
    ///
    /// # Errors
    ///
    /// Why the store did not open, or that the location names a kind of
    /// store this build leaves out.
    pub async fn open(location: &str) -> Result<AnyStore, OpenError> {
        AnyStore::open_with(location, &AnyOptions::new()).await
    }

    /// Opens the store `location` names, as `options` say.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn open_with(location: &str, options: &AnyOptions) -> Result<AnyStore, OpenError> {
        if AnyStore::names_embedded(location) {
            return open_embedded(location, options).await;
        }
        if location == AnyStore::MEMORY {
            return Ok(AnyStore::Memory(InMemoryStore::new()));
        }
        open_postgres(location, options).await
    }

    /// Whether `location` names an embedded store's directory: neither
    /// [`MEMORY`](Self::MEMORY) nor a PostgreSQL URL.
    #[must_use]
    pub fn names_embedded(location: &str) -> bool {
        location != AnyStore::MEMORY && !is_postgres_url(location)
    }

    /// The kind of store: `memory`, `embedded` or `postgres`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Memory(_) => "memory",
            #[cfg(feature = "embedded")]
            AnyStore::Embedded(_) => "embedded",
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => "postgres",
        }
    }

    /// Closes the store: an embedded store's writer finishes and its lock
    /// is released at once, not when the last clone is dropped.
    pub fn close(self) {
        match self {
            AnyStore::Memory(_) => {}
            #[cfg(feature = "embedded")]
            AnyStore::Embedded(store) => store.close(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => {}
        }
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(location: &str, options: &AnyOptions) -> Result<AnyStore, OpenError> {
    let mut postgres = PostgresOptions::new(location).migrate(!options.read_only);
    if let Some(schema) = &options.schema {
        postgres = postgres.schema(schema.clone());
    }
    Ok(AnyStore::Postgres(
        PostgresStore::connect_with(postgres).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
#[allow(clippy::unused_async)] // the same signature as with the feature
async fn open_postgres(location: &str, _: &AnyOptions) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotBuilt {
        location: location.to_owned(),
        kind: "a PostgreSQL",
        feature: "postgres",
    })
}

#[cfg(feature = "embedded")]
async fn open_embedded(location: &str, options: &AnyOptions) -> Result<AnyStore, OpenError> {
    let dir = location.to_owned();
    let read_only = options.read_only;
    // Opening reads the whole log and may wait for the lock: off the
    // runtime's threads.
    let opened = tokio::task::spawn_blocking(move || {
        if read_only {
            EmbeddedStore::open_read_only(&dir)
        } else {
            EmbeddedStore::open(&dir)
        }
    })
    .await;
    match opened {
        Ok(store) => Ok(AnyStore::Embedded(store?)),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[cfg(not(feature = "embedded"))]
#[allow(clippy::unused_async)] // the same signature as with the feature
async fn open_embedded(location: &str, _: &AnyOptions) -> Result<AnyStore, OpenError> {
    Err(OpenError::NotBuilt {
        location: location.to_owned(),
        kind: "an embedded",
        feature: "embedded",
    })
}

impl From<InMemoryStore> for AnyStore {
    fn from(store: InMemoryStore) -> AnyStore {
        AnyStore::Memory(store)
    }
}

#[cfg(feature = "embedded")]
impl From<EmbeddedStore> for AnyStore {
    fn from(store: EmbeddedStore) -> AnyStore {
        AnyStore::Embedded(store)
    }
}

#[cfg(feature = "postgres")]
impl From<PostgresStore> for AnyStore {
    fn from(store: PostgresStore) -> AnyStore {
        AnyStore::Postgres(store)
    }
}

/// The events of a read of an [`AnyStore`].
pub enum AnyEvents {
    /// Of the in-memory or the embedded store.
    Indexed(IndexedEvents),
    /// Of the PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(PostgresEvents),
}

impl std::fmt::Debug for AnyEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyEvents")
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Stream for AnyEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            AnyEvents::Indexed(events) => Pin::new(events).poll_next(cx),
            #[cfg(feature = "postgres")]
            AnyEvents::Postgres(events) => Pin::new(events).poll_next(cx),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            AnyEvents::Indexed(events) => events.size_hint(),
            #[cfg(feature = "postgres")]
            AnyEvents::Postgres(events) => events.size_hint(),
        }
    }
}

impl EventStream for AnyEvents {
    fn head(&self) -> Option<Position> {
        match self {
            AnyEvents::Indexed(events) => events.head(),
            #[cfg(feature = "postgres")]
            AnyEvents::Postgres(events) => events.head(),
        }
    }
}

/// `$call` on whichever store `$store` is, as `$s`.
macro_rules! each {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            AnyStore::Memory($s) => $call,
            #[cfg(feature = "embedded")]
            AnyStore::Embedded($s) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $call,
        }
    };
}

impl EventStore for AnyStore {
    type Stream = AnyEvents;

    async fn read(&self, query: &Query, options: ReadOptions) -> Result<AnyEvents, ReadError> {
        match self {
            AnyStore::Memory(s) => s.read(query, options).await.map(AnyEvents::Indexed),
            #[cfg(feature = "embedded")]
            AnyStore::Embedded(s) => s.read(query, options).await.map(AnyEvents::Indexed),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.read(query, options).await.map(AnyEvents::Postgres),
        }
    }

    async fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<ReadResult, ReadError> {
        each!(self, s => s.read_to_end(query, options).await)
    }

    async fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        each!(self, s => s.append(events, condition).await)
    }

    async fn head(&self) -> Result<Option<Position>, ReadError> {
        each!(self, s => s.head().await)
    }

    async fn wait_for_append(&self, after: Option<Position>) -> Result<(), ReadError> {
        each!(self, s => s.wait_for_append(after).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_a_location() {
        let store = futures_util::FutureExt::now_or_never(AnyStore::open(AnyStore::MEMORY))
            .expect("ready")
            .expect("opens");
        assert_eq!(store.kind(), "memory");
    }
}
