//! The DCB vocabulary, without I/O: events, their names and metadata,
//! positions, recorded times, queries, append conditions, limits, errors
//! and read options. Every item is re-exported at the crate root.

pub(crate) mod condition;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod limits;
pub(crate) mod metadata;
pub(crate) mod name;
pub(crate) mod position;
pub(crate) mod query;
pub(crate) mod read;
pub(crate) mod time;
