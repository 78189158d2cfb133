//! Event sourcing with dynamic consistency boundaries (DCB): annotate plain
//! Rust types, and the macros derive what each decision reads and the
//! condition it appends under.
//!
//! # From ids to a tested decision
//!
//! Typed ids ([`Id`]) render as tags; events ([`Event`]) say with `#[tag]`
//! fields which ids they concern; a [`decision`] is the state a command
//! needs, its `#[boundary]` ids choosing the events it reads; [`Decider`]
//! runs it against a store, retrying when another client's append got in
//! between; [`testkit`] states its rules as given / when / then.
//!
//! ```
//! use dcb_core::testkit::given;
//! use dcb_core::{Decider, Event, Id, InMemoryStore, Retry, decision};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
//! struct Username(String);
//!
//! #[derive(Event, Serialize, Deserialize, Debug)]
//! struct UserRegistered {
//!     #[tag]
//!     username: Username,
//! }
//!
//! /// Whether a username is taken: the events tagged with it.
//! #[decision]
//! #[derive(Clone)]
//! struct Claim {
//!     #[boundary]
//!     username: Username,
//!     taken: bool,
//! }
//!
//! #[decision]
//! impl Claim {
//!     fn registered(&mut self, _: &UserRegistered) {
//!         self.taken = true;
//!     }
//! }
//!
//! fn register(claim: &Claim) -> Result<UserRegistered, &'static str> {
//!     if claim.taken {
//!         return Err("the username is taken");
//!     }
//!     Ok(UserRegistered { username: claim.username.clone() })
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let store = InMemoryStore::new();
//! let decider = Decider::new(&store).retry(Retry::attempts(5));
//! let ada = Username::new("ada")?;
//! decider.decide(Claim::new(ada.clone()), register).await?;
//! let again = decider.decide(Claim::new(ada.clone()), register).await;
//! assert_eq!(again.unwrap_err().rejected(), Some("the username is taken"));
//!
//! // The rule as a test; another name's registration is invisible to it.
//! given(UserRegistered { username: ada.clone() })
//!     .unseen(UserRegistered { username: Username::new("bob")? })
//!     .when(Claim::new(ada), register)
//!     .then_error(&"the username is taken");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Decisions also take parameters, read only their latest event, return
//! values and one of several event types, and read models derive their
//! query the same way: see [`decision`], [`read_model`](macro@read_model),
//! [`IntoEvents`](derive@IntoEvents) and the patterns in `examples/`.
//!
//! # Under the hood
//!
//! A DCB store keeps one global, ordered sequence of events. Each [`EventRecord`](struct@EventRecord)
//! has a type, opaque data and a set of tags. A decision reads the events its
//! rules depend on with a [`Query`], folds them into state, decides, and
//! appends its new events under an [`AppendCondition`] built from the same
//! query and the read's head: the append fails if anything the decision
//! depended on changed in between. Consistency is exactly as wide as the
//! query. The macros build exactly these; code may use them directly.
//!
//! The contract is the [`EventStore`] trait; [`InMemoryStore`], the
//! [`embedded`] store and the `postgres` store implement it.
//!
//! Beyond decisions:
//!
//! - [`EventStore::subscribe`] follows a query's events, stored and then
//!   live, each exactly once in position order ([`Subscription`]).
//! - [`read_model`](mod@read_model) keeps state for queries up to date from a subscription
//!   and saves it with its checkpoint, so a restart resumes exactly where
//!   it stopped.
//! - [`versioning`]: `#[event(version = N)]` and `#[upcast]` functions let
//!   an event's shape change while old stored events still decode; an
//!   [`event_lock`] keeps stored names from drifting.
//!
//! # Features
//!
//! - `embedded` (default): the `embedded` module, a durable store in one
//!   directory.
//! - `postgres`: the `postgres` module, a store on a PostgreSQL server
//!   (tokio-postgres with a deadpool connection pool).
//! - `inspect`: the `inspect` module, the store inspector `dcb` for a
//!   binary of one's own (implies `embedded`; PostgreSQL stores with `postgres` as well).
//! - `conformance`: the `conformance` module, a suite of tests that any
//!   [`EventStore`] implementation runs with one call.
// docs.rs builds with `--cfg docsrs` on nightly, where `doc_cfg` marks each
// item with the features it needs (it took in `doc_auto_cfg`).
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate's floor plan, layer by layer: the DCB vocabulary (`model`),
// the domain layer the derives implement (`domain`), the decision layer
// `#[decision]` implements (`decide`), the stores (`store`), then the tools
// built on them. Layers are private modules; their items have one public
// path each: the root for the vocabulary, the domain and decision traits
// and the store contract, and a public module for each store and tool.
// Why: docs/decisions/0015-one-public-path-per-item.md.

#[doc(hidden)]
pub mod __private;
mod decide;
mod domain;
mod model;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "inspect")]
pub mod inspect;
pub mod read_model;

pub use crate::decide::decision::{Boundary, Projection, fold};
pub use crate::decide::known::{KnownState, KnownStats};
pub use crate::decide::outcome::{Outcome, Returning};
pub use crate::decide::runner::{DecideError, Decider, Prepared, Retry, decide, load, prepare};
pub use crate::decide::testkit;
pub use crate::domain::event::{
    DecodeError, EncodeError, Event, HasTag, HasTags, IntoEvents, TagField,
};
pub use crate::domain::id::{Identifier, MAX_STRING_ID_LEN, ParseIdError};
pub use crate::domain::{codec, event_lock, registry, versioning};
pub use crate::model::condition::AppendCondition;
pub use crate::model::error::{AppendError, BackendError, InvalidInput, ReadError};
pub use crate::model::event::{EventRecord, SequencedEvent, Tags};
pub use crate::model::limits::Limits;
pub use crate::model::metadata::Metadata;
pub use crate::model::name::{EventType, InvalidName, MAX_NAME_LEN, NameKind, NameProblem, Tag};
pub use crate::model::position::{Position, ZeroPosition};
pub use crate::model::query::{Query, QueryItem};
pub use crate::model::read::{EventStream, ReadOptions, ReadResult};
pub use crate::model::time::{Clock, ParseTimestampError, Timestamp};
pub use crate::store::any;
pub use crate::store::contract::{DEFAULT_POLL_INTERVAL, EventStore};
#[cfg(feature = "embedded")]
pub use crate::store::embedded;
pub use crate::store::engine::IndexedEvents;
pub use crate::store::memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use crate::store::postgres;
pub use crate::store::subscription::{DEFAULT_BATCH_SIZE, Subscription};
pub use bytes::Bytes;
pub use dcb_macros::{Event, Id, IntoEvents, decision, read_model, upcast};
pub use uuid::Uuid;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;
