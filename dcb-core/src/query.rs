//! [`Query`] and [`QueryItem`]: which events a read or an append condition
//! selects.

use std::fmt;
use std::sync::Arc;

use crate::{Event, EventType, Tag, Tags};

/// A decision's query item names a few event types: they live inline, so an
/// item costs no allocation of its own (a query is built, and dropped, for
/// every decision).
type ItemTypes = smallvec::SmallVec<[EventType; 3]>;

/// One alternative of a [`Query`]: event types (any of them) and tags (all
/// of them).
///
/// An item matches an event when its type list is empty or contains the
/// event's type, **and** every tag of the item is among the event's tags.
///
/// ```
/// use dcb_core::{Event, EventType, QueryItem, Tag};
///
/// let joined = EventType::from_static("StudentJoinedCourse");
/// let course = Tag::from_static("course:1");
/// let item = QueryItem::new().types([joined.clone()]).tags([course.clone()]);
///
/// let event = Event::new(joined, "{}").with_tags([course, Tag::from_static("student:9")]);
/// assert!(item.matches(&event));
/// assert!(!item.matches(&Event::new(EventType::from_static("Other"), "{}")));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct QueryItem {
    types: ItemTypes,
    tags: Tags,
}

impl QueryItem {
    /// An item that matches every event; narrow it with [`types`](Self::types)
    /// and [`tags`](Self::tags).
    #[must_use]
    pub fn new() -> QueryItem {
        QueryItem::default()
    }

    /// Narrows the item to events of one of these types (in addition to any
    /// given before). Duplicates are removed.
    #[must_use]
    pub fn types(mut self, types: impl IntoIterator<Item = EventType>) -> QueryItem {
        self.types.extend(types);
        self.types.sort_unstable();
        self.types.dedup();
        self
    }

    /// Narrows the item to events carrying all of these tags (in addition to
    /// any given before).
    #[must_use]
    pub fn tags(mut self, tags: impl IntoIterator<Item = Tag>) -> QueryItem {
        self.tags = self.tags.iter().cloned().chain(tags).collect();
        self
    }

    /// The event types, sorted; empty means any type.
    #[must_use]
    pub fn event_types(&self) -> &[EventType] {
        &self.types
    }

    /// The tags an event must all carry; empty means no tag is required.
    #[must_use]
    pub fn required_tags(&self) -> &Tags {
        &self.tags
    }

    /// Whether `event` is selected by this item.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_type(event.event_type()) && event.tags().contains_all(&self.tags)
    }

    /// Whether an event of `event_type` passes the item's type filter.
    #[must_use]
    pub fn matches_type(&self, event_type: &EventType) -> bool {
        self.types.is_empty() || self.types.binary_search(event_type).is_ok()
    }
}

impl fmt::Debug for QueryItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryItem")
            .field("types", &self.types)
            .field("tags", &self.tags)
            .finish()
    }
}

/// Which events to select: a list of [`QueryItem`]s, OR-ed together.
///
/// A query without items selects every event ([`Query::all`]). Queries are
/// immutable once built and cheap to clone, because a decision uses the same
/// query for its read and for its append condition.
///
/// ```
/// use dcb_core::{EventType, Query, QueryItem, Tag};
///
/// let course = Tag::from_static("course:1");
/// let query = Query::from(
///     QueryItem::new()
///         .types([EventType::from_static("CourseRegistered")])
///         .tags([course.clone()]),
/// )
/// .or(QueryItem::new().types([EventType::from_static("StudentJoinedCourse")]).tags([course]));
/// assert_eq!(query.items().len(), 2);
/// assert!(!query.is_all());
/// assert!(Query::all().is_all());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Query {
    items: Arc<[QueryItem]>,
}

impl Query {
    /// The query that selects every event.
    #[must_use]
    pub fn all() -> Query {
        Query::default()
    }

    /// A query of the given items. No items means every event.
    pub fn from_items(items: impl IntoIterator<Item = QueryItem>) -> Query {
        Query {
            items: items.into_iter().collect(),
        }
    }

    /// This query with one more alternative.
    #[must_use]
    pub fn or(&self, item: QueryItem) -> Query {
        Query::from_items(self.items.iter().cloned().chain([item]))
    }

    /// The union of two queries: events selected by either.
    ///
    /// The union with [`Query::all`] is [`Query::all`].
    #[must_use]
    pub fn union(&self, other: &Query) -> Query {
        if self.is_all() || other.is_all() {
            return Query::all();
        }
        let mut items: Vec<QueryItem> = self.items.to_vec();
        for item in other.items.iter() {
            if !items.contains(item) {
                items.push(item.clone());
            }
        }
        Query::from_items(items)
    }

    /// The items; empty means every event.
    #[must_use]
    pub fn items(&self) -> &[QueryItem] {
        &self.items
    }

    /// Whether this query selects every event.
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `event` is selected by this query.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.is_all() || self.items.iter().any(|item| item.matches(event))
    }
}

impl From<QueryItem> for Query {
    fn from(item: QueryItem) -> Query {
        Query::from_items([item])
    }
}

impl FromIterator<QueryItem> for Query {
    fn from_iter<I: IntoIterator<Item = QueryItem>>(iter: I) -> Query {
        Query::from_items(iter)
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("Query::all()")
        } else {
            f.debug_list().entries(self.items.iter()).finish()
        }
    }
}
