//! Posting-list entries: an event's position and the id of its type
//! packed into one `u64`, ascending. Carrying the type in the entry lets a
//! scan apply a query item's type filter without touching the event itself,
//! which keeps a read to a few cache lines per match.

/// A position as a plain number; position `p` is `events[p - 1]`.
pub(crate) type Pos = u64;

/// The dense id of an interned event type.
pub(crate) type TypeId = u32;

/// A posting-list entry: `position << TYPE_BITS | type id`.
pub(crate) type Entry = u64;

const TYPE_BITS: u32 = 24;

/// The most distinct event types the store can index.
pub(crate) const MAX_TYPES: usize = 1 << TYPE_BITS;

/// The most events the store can index (about 10^12, far beyond memory).
pub(crate) const MAX_EVENTS: Pos = 1 << (64 - TYPE_BITS);

/// The position an entry holds.
pub(crate) fn position_of(entry: Entry) -> Pos {
    entry >> TYPE_BITS
}

/// The type id an entry holds.
pub(crate) fn type_of(entry: Entry) -> TypeId {
    // The mask keeps the value below 2^24, so the cast is lossless.
    #[allow(clippy::cast_possible_truncation)]
    let id = (entry & ((1 << TYPE_BITS) - 1)) as TypeId;
    id
}

/// The entry of an event at `position` of type `type_id`.
pub(crate) fn entry(position: Pos, type_id: TypeId) -> Entry {
    (position << TYPE_BITS) | Entry::from(type_id)
}
