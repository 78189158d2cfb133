//! [`Below`]: the events under the engine's in-memory tail, kept by
//! another structure — the embedded store's on-disk index.
//!
//! An engine with a `Below` holds in memory only the events after its
//! *base* position; every event up to the base is found through the
//! `Below`, which never changes them (it only grows, and only while the
//! engine's base moves up with it). The engine asks it what its own
//! indexes would answer for the positions up to the base: the first
//! match of a condition, the matches of a read, the position of an event
//! id, and an event by position.

use uuid::Uuid;

use super::entry::Pos;
use crate::model::error::BackendError;
use crate::{EventRecord, Query, SequencedEvent};

/// Where an engine finds the events up to its base; see the
/// [module](self).
pub(crate) trait Below: Send + Sync {
    /// The first position in `(after, upto]` holding an event that matches
    /// `query`.
    fn first_match(
        &self,
        query: &Query,
        after: Pos,
        upto: Pos,
    ) -> Result<Option<Pos>, BackendError>;

    /// Appends to `out` the next events in `(after, upto]` matching
    /// `query`, at most `max`, in position order (descending when
    /// `backwards`); returns whether the matches in the range ran out.
    fn read(
        &self,
        query: &Query,
        range: (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<SequencedEvent>,
    ) -> Result<bool, BackendError>;

    /// The position of the event with `id`, if one is kept.
    fn position_of_id(&self, id: &Uuid) -> Result<Option<Pos>, BackendError>;

    /// The event at `position`, if it is kept.
    fn event(&self, position: Pos) -> Result<Option<EventRecord>, BackendError>;

    /// Whether any event kept carries an id.
    fn has_ids(&self) -> bool;
}
