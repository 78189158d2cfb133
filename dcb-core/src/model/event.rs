//! [`EventRecord`], its [`Tags`], and [`SequencedEvent`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use crate::{EventType, Metadata, Position, Tag, Timestamp};

/// The set of tags on an event or in a query item: sorted, without
/// duplicates, and cheap to clone.
///
/// ```
/// use dcb_core::{Tag, Tags};
///
/// let tags: Tags = [Tag::from_static("b:2"), Tag::from_static("a:1"), Tag::from_static("b:2")]
///     .into_iter()
///     .collect();
/// assert_eq!(tags.len(), 2);
/// assert_eq!(tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["a:1", "b:2"]);
/// ```
#[derive(Clone, Default)]
pub struct Tags(TagsRepr);

/// A set of one tag — a query item's usual set — keeps it inline: a query
/// is built and dropped for every decision, and its tags then cost no
/// allocation of their own. Sets are canonical: one tag is always `One`.
#[derive(Clone, Default)]
enum TagsRepr {
    #[default]
    Empty,
    One(Tag),
    Many(Arc<[Tag]>),
}

impl Tags {
    /// The empty set.
    #[must_use]
    pub const fn new() -> Tags {
        Tags(TagsRepr::Empty)
    }

    /// The tags in ascending order.
    #[must_use]
    pub fn as_slice(&self) -> &[Tag] {
        match &self.0 {
            TagsRepr::Empty => &[],
            TagsRepr::One(tag) => std::slice::from_ref(tag),
            TagsRepr::Many(tags) => tags,
        }
    }

    /// Iterates over the tags in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Tag> {
        self.as_slice().iter()
    }

    /// The number of tags.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no tags.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self.0, TagsRepr::Empty)
    }

    /// Whether `tag` is in the set.
    #[must_use]
    pub fn contains(&self, tag: &str) -> bool {
        self.as_slice()
            .binary_search_by(|t| t.as_str().cmp(tag))
            .is_ok()
    }

    /// Whether every tag of `other` is in this set.
    #[must_use]
    pub fn contains_all(&self, other: &Tags) -> bool {
        let mut mine = self.as_slice();
        // Both are sorted: one merge pass.
        for wanted in other {
            match mine.binary_search(wanted) {
                Ok(i) => mine = &mine[i + 1..],
                Err(_) => return false,
            }
        }
        true
    }
}

impl FromIterator<Tag> for Tags {
    fn from_iter<I: IntoIterator<Item = Tag>>(iter: I) -> Tags {
        // Sorted on the stack: the set's one allocation is its own.
        let mut tags: smallvec::SmallVec<[Tag; 4]> = iter.into_iter().collect();
        tags.sort_unstable();
        tags.dedup();
        match tags.len() {
            0 => Tags(TagsRepr::Empty),
            1 => Tags(tags.pop().map_or(TagsRepr::Empty, TagsRepr::One)),
            _ => Tags(TagsRepr::Many(Arc::from(tags.as_slice()))),
        }
    }
}

impl PartialEq for Tags {
    fn eq(&self, other: &Tags) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Tags {}

impl std::hash::Hash for Tags {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<const N: usize> From<[Tag; N]> for Tags {
    fn from(tags: [Tag; N]) -> Tags {
        tags.into_iter().collect()
    }
}

impl From<Vec<Tag>> for Tags {
    fn from(tags: Vec<Tag>) -> Tags {
        tags.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a Tag;
    type IntoIter = std::slice::Iter<'a, Tag>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// An event to append: a type, opaque data, a set of tags, optionally an
/// id that makes its append idempotent, and [`Metadata`] that says why it
/// was appended and by whom.
///
/// Events are immutable once built and cheap to clone (one reference count),
/// so stores can hand them out without copying their data.
///
/// ```
/// use dcb_core::{EventRecord, EventType, Tag};
///
/// let event = EventRecord::new(EventType::from_static("CourseRegistered"), "{\"places\":5}")
///     .with_tags([Tag::new("course:42")?]);
/// assert_eq!(event.event_type(), "CourseRegistered");
/// assert!(event.tags().contains("course:42"));
/// assert_eq!(event.id(), None);
/// # Ok::<(), dcb_core::InvalidName>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EventRecord(Arc<Parts>);

#[derive(Clone, PartialEq, Eq)]
struct Parts {
    event_type: EventType,
    data: Bytes,
    tags: Tags,
    id: Option<Uuid>,
    metadata: Metadata,
}

impl EventRecord {
    /// An event of `event_type` carrying `data`, with no tags and no id.
    pub fn new(event_type: EventType, data: impl Into<Bytes>) -> EventRecord {
        EventRecord(Arc::new(Parts {
            event_type,
            data: data.into(),
            tags: Tags::new(),
            id: None,
            metadata: Metadata::new(),
        }))
    }

    /// Replaces the event's tags.
    #[must_use]
    pub fn with_tags(mut self, tags: impl Into<Tags>) -> EventRecord {
        Arc::make_mut(&mut self.0).tags = tags.into();
        self
    }

    /// Gives the event an id. An append whose events all carry ids is
    /// idempotent: repeating it returns the original position.
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> EventRecord {
        Arc::make_mut(&mut self.0).id = Some(id);
        self
    }

    /// Replaces the event's metadata.
    ///
    /// ```
    /// use dcb_core::{EventRecord, EventType, Metadata};
    ///
    /// let event = EventRecord::new(EventType::from_static("CourseRegistered"), "{}")
    ///     .with_metadata([("user", "alice"), (Metadata::CORRELATION, "req-7f3a")]);
    /// assert_eq!(event.metadata().get("user"), Some("alice"));
    /// ```
    #[must_use]
    pub fn with_metadata(mut self, metadata: impl Into<Metadata>) -> EventRecord {
        Arc::make_mut(&mut self.0).metadata = metadata.into();
        self
    }

    /// Records that this event is appended in reaction to `cause`: its
    /// metadata's [`CAUSATION`](Metadata::CAUSATION) becomes the cause's
    /// position, and its [`CORRELATION`](Metadata::CORRELATION) the
    /// cause's correlation — or, if the cause has none, the cause's
    /// position, so that every event of a chain shares the correlation of
    /// its first. Other metadata is kept.
    ///
    /// ```
    /// use dcb_core::{EventRecord, EventType, Metadata, Position, SequencedEvent};
    ///
    /// let paid = SequencedEvent::new(
    ///     Position::new(12).unwrap(),
    ///     EventRecord::new(EventType::from_static("InvoicePaid"), "{}"),
    /// );
    /// let shipped = EventRecord::new(EventType::from_static("OrderShipped"), "{}")
    ///     .caused_by(&paid);
    /// assert_eq!(shipped.metadata().causation(), Position::new(12));
    /// assert_eq!(shipped.metadata().correlation(), Some("12"));
    /// ```
    #[must_use]
    pub fn caused_by(mut self, cause: &SequencedEvent) -> EventRecord {
        let position = cause.position.to_string();
        let correlation = cause
            .metadata()
            .correlation()
            .map_or_else(|| position.clone(), str::to_owned);
        let parts = Arc::make_mut(&mut self.0);
        parts.metadata = std::mem::take(&mut parts.metadata)
            .with(Metadata::CAUSATION, position)
            .with(Metadata::CORRELATION, correlation);
        self
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> &EventType {
        &self.0.event_type
    }

    /// The event's data, opaque to the store.
    #[must_use]
    pub fn data(&self) -> &Bytes {
        &self.0.data
    }

    /// The event's tags.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.0.tags
    }

    /// The event's id, if it has one.
    #[must_use]
    pub fn id(&self) -> Option<Uuid> {
        self.0.id
    }

    /// The event's metadata (empty unless set).
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// The size the store's event size limit applies to: the data, the
    /// type, the tags and the metadata's keys and values, in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.data().len()
            + self.event_type().as_str().len()
            + self.tags().iter().map(|t| t.as_str().len()).sum::<usize>()
            + self.metadata().size()
    }

    /// Whether `other` is the same event for an idempotent repeat: the same
    /// type, data, tags and id. Metadata is not compared — a retried
    /// command may carry a new request id — and the stored event keeps
    /// what it was first appended with.
    pub(crate) fn repeats(&self, other: &EventRecord) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.event_type == other.0.event_type
                && self.0.data == other.0.data
                && self.0.tags == other.0.tags
                && self.0.id == other.0.id)
    }

    /// Takes the event apart: `(type, data, tags, id)`.
    #[must_use]
    pub fn into_parts(self) -> (EventType, Bytes, Tags, Option<Uuid>) {
        let parts = Arc::unwrap_or_clone(self.0);
        (parts.event_type, parts.data, parts.tags, parts.id)
    }

    /// Brings the event's shared parts into the cache ahead of a clone; a
    /// plain load, so several can be in flight at once.
    pub(crate) fn prefetch(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("EventRecord");
        s.field("event_type", self.event_type());
        match std::str::from_utf8(self.data()) {
            Ok(text) => s.field("data", &text),
            Err(_) => s.field("data", self.data()),
        };
        s.field("tags", self.tags());
        if let Some(id) = self.id() {
            s.field("id", &id);
        }
        if !self.metadata().is_empty() {
            s.field("metadata", self.metadata());
        }
        s.finish()
    }
}

/// A stored event with its position in the store's sequence and the time
/// the store recorded it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct SequencedEvent {
    /// Where the event sits in the sequence.
    pub position: Position,
    /// When the store recorded the event: set by the store at append, in
    /// UTC to the microsecond, and never decreasing along positions.
    /// `None` only for events stored before stores recorded times (an
    /// embedded store's `DCBLOG1` segments, PostgreSQL rows from before
    /// migration 10), which come before every recorded one.
    pub recorded_at: Option<Timestamp>,
    /// The event as appended.
    pub event: EventRecord,
}

impl SequencedEvent {
    /// `event` at `position`, with no recorded time: for tests and tools
    /// that make stored events by hand. Stores set the time.
    #[must_use]
    pub fn new(position: Position, event: EventRecord) -> SequencedEvent {
        SequencedEvent {
            position,
            recorded_at: None,
            event,
        }
    }

    /// This event with its recorded time set to `at`.
    #[must_use]
    pub fn recorded(mut self, at: Timestamp) -> SequencedEvent {
        self.recorded_at = Some(at);
        self
    }
}

impl std::ops::Deref for SequencedEvent {
    type Target = EventRecord;

    fn deref(&self) -> &EventRecord {
        &self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Tags {
        names.iter().map(|n| Tag::new(*n).unwrap()).collect()
    }

    #[test]
    fn contains_all_is_subset() {
        let set = tags(&["a", "c", "e"]);
        assert!(set.contains_all(&tags(&[])));
        assert!(set.contains_all(&tags(&["a", "e"])));
        assert!(set.contains_all(&tags(&["e", "c", "a"])));
        assert!(!set.contains_all(&tags(&["b"])));
        assert!(!set.contains_all(&tags(&["a", "f"])));
        assert!(!tags(&[]).contains_all(&tags(&["a"])));
    }

    #[test]
    fn size_counts_data_type_and_tags() {
        let e = EventRecord::new(EventType::from_static("T"), vec![0u8; 10])
            .with_tags(tags(&["ab", "c"]));
        assert_eq!(e.size(), 10 + 1 + 3);
        let e = e.with_metadata([("k", "vv")]);
        assert_eq!(e.size(), 10 + 1 + 3 + 3);
    }

    #[test]
    fn a_repeat_ignores_metadata_only() {
        let e = EventRecord::new(EventType::from_static("T"), "x").with_tags(tags(&["a"]));
        assert!(e.repeats(&e.clone().with_metadata([("user", "alice")])));
        assert!(!e.repeats(&e.clone().with_tags(tags(&["b"]))));
        assert!(
            !e.repeats(&EventRecord::new(EventType::from_static("T"), "y").with_tags(tags(&["a"])))
        );
        assert!(!e.repeats(&e.clone().with_id(Uuid::from_u128(1))));
    }

    #[test]
    fn caused_by_keeps_the_chains_correlation() {
        let root = SequencedEvent::new(
            Position::new(3).unwrap(),
            EventRecord::new(EventType::from_static("A"), ""),
        );
        let second = EventRecord::new(EventType::from_static("B"), "")
            .with_metadata([("user", "u")])
            .caused_by(&root);
        assert_eq!(second.metadata().correlation(), Some("3"));
        let second = SequencedEvent::new(Position::new(9).unwrap(), second);
        let third = EventRecord::new(EventType::from_static("C"), "").caused_by(&second);
        assert_eq!(third.metadata().causation(), Position::new(9));
        assert_eq!(third.metadata().correlation(), Some("3"));
        assert_eq!(second.metadata().get("user"), Some("u"));
    }
}
