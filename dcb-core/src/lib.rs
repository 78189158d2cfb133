//! The dynamic consistency boundary (DCB) event-store contract and its
//! stores.
//!
//! A DCB store keeps one global, ordered sequence of events. Each [`Event`](struct@Event)
//! has a type, opaque data and a set of tags. A decision reads the events its
//! rules depend on with a [`Query`], folds them into state, decides, and
//! appends its new events under an [`AppendCondition`] built from the same
//! query and the read's head: the append fails if anything the decision
//! depended on changed in between. Consistency is exactly as wide as the
//! query.
//!
//! The contract is the [`EventStore`] trait; [`InMemoryStore`] implements it.
//!
//! Beyond decisions:
//!
//! - [`EventStore::subscribe`] follows a query's events, stored and then
//!   live, each exactly once in position order ([`Subscription`]).
//! - [`read_model`] keeps state for queries up to date from a subscription
//!   and saves it with its checkpoint, so a restart resumes exactly where
//!   it stopped.
//! - [`versioning`]: `#[event(version = N)]` and `#[upcast]` functions let
//!   an event's shape change while old stored events still decode.
//!
//! # Features
//!
//! - `embedded` (default): the `embedded` module, a durable store in one
//!   directory.
//! - `postgres`: the `postgres` module, a store on a PostgreSQL server
//!   (tokio-postgres with a deadpool connection pool).
//! - `inspect`: the `inspect` module, the store inspector `dcb` for a
//!   binary of one's own (implies `embedded` and `postgres`).
//! - `conformance`: the `conformance` module, a suite of tests that any
//!   [`EventStore`] implementation runs with one call.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[doc(hidden)]
pub mod __private;
pub mod codec;
mod condition;
pub mod decide;
pub mod domain;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error;
mod event;
pub mod id;
mod index;
#[cfg(feature = "inspect")]
pub mod inspect;
mod limits;
pub mod memory;
mod name;
mod position;
#[cfg(feature = "postgres")]
pub mod postgres;
mod projection;
mod query;
pub mod read;
pub mod read_model;
pub mod registry;
mod store;
pub mod subscription;
pub mod testkit;
pub mod versioning;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use crate::condition::AppendCondition;
pub use crate::decide::{DecideError, Decider, Retry, decide};
pub use crate::domain::{DomainEvent, HasTag, HasTags, IntoEvents, TagField};
pub use crate::error::{AppendError, BackendError, InvalidInput, ReadError};
pub use crate::event::{Event, SequencedEvent, Tags};
pub use crate::id::Identifier;
pub use crate::limits::Limits;
pub use crate::memory::InMemoryStore;
pub use crate::name::{EventType, InvalidName, MAX_NAME_LEN, NameKind, NameProblem, Tag};
pub use crate::position::{Position, ZeroPosition};
pub use crate::projection::{Boundary, Projection, fold};
pub use crate::query::{Query, QueryItem};
pub use crate::read::{EventStream, ReadOptions, ReadResult};
pub use crate::store::{DEFAULT_POLL_INTERVAL, EventStore};
pub use crate::subscription::Subscription;
pub use bytes::Bytes;
pub use dcb_macros::{Event, Id, decision, upcast};
pub use uuid::Uuid;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;
