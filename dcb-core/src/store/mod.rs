//! The store layer: the [`EventStore`](crate::EventStore) contract,
//! subscriptions, the indexed engine shared by the in-memory and the
//! embedded store, the three stores, and [`any`]: one of them chosen at
//! run time.

pub mod any;
pub(crate) mod contract;
#[cfg(feature = "embedded")]
pub mod embedded;
pub(crate) mod engine;
pub(crate) mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod subscription;
pub(crate) mod trace;
