//! The domain layer: what `#[derive(Id)]`, `#[derive(Event)]` and
//! `#[upcast]` implement — typed ids, domain events and their tags, codecs,
//! versioning — the registry of event types, and the lock of their stored
//! names. The traits are re-exported at the crate root; `codec`,
//! `versioning`, `registry` and `event_lock` are public modules.

pub mod codec;
pub(crate) mod event;
pub mod event_lock;
pub(crate) mod id;
pub mod registry;
pub mod versioning;
