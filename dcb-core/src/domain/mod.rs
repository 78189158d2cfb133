//! The domain layer: what `#[derive(Id)]`, `#[derive(Event)]` and
//! `#[upcast]` implement — typed ids, domain events and their tags, codecs,
//! versioning — and the registry of event types. The traits are
//! re-exported at the crate root; `codec`, `versioning` and `registry` are
//! public modules.

pub mod codec;
pub(crate) mod event;
pub(crate) mod id;
pub mod registry;
pub mod versioning;
