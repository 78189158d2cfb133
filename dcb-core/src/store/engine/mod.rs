//! The in-memory index shared by the in-memory and the embedded store: the
//! events, posting lists by type and by tag, event ids, and the scans that
//! answer queries from them.
//!
//! Events are *pushed* and then *published*: a read sees events up to the
//! published position only. The in-memory store publishes at once; the
//! embedded store publishes a batch once it is durable, and can roll back
//! what it pushed if writing fails.
//!
//! The tags of pushed events are indexed in runs (`State::index_tags`),
//! whose lookups overlap; reads and conditions index what waits before
//! they use the tag index.

mod scan;
mod signal;
mod spare;
mod state;
mod stream;
mod tag_index;

pub(crate) use self::scan::first_match;
pub(crate) use self::signal::AppendSignal;
pub(crate) use self::state::State;
pub use self::stream::IndexedEvents;
