//! [`EventRecord`], its [`Tags`], and [`SequencedEvent`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use crate::{EventType, Position, Tag};

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

/// An event to append: a type, opaque data, a set of tags, and optionally an
/// id that makes its append idempotent.
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
}

impl EventRecord {
    /// An event of `event_type` carrying `data`, with no tags and no id.
    pub fn new(event_type: EventType, data: impl Into<Bytes>) -> EventRecord {
        EventRecord(Arc::new(Parts {
            event_type,
            data: data.into(),
            tags: Tags::new(),
            id: None,
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

    /// The size the store's event size limit applies to: the data, the type
    /// and the tags, in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.data().len()
            + self.event_type().as_str().len()
            + self.tags().iter().map(|t| t.as_str().len()).sum::<usize>()
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
        s.finish()
    }
}

/// A stored event with its position in the store's sequence.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SequencedEvent {
    /// Where the event sits in the sequence.
    pub position: Position,
    /// The event as appended.
    pub event: EventRecord,
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
    }
}
