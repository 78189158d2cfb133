//! [`Query`] and [`QueryItem`]: which events a read or an append condition
//! selects.

use std::fmt;
use std::sync::Arc;

use crate::{EventRecord, EventType, Tag, Tags};

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
/// use dcb_core::{EventRecord, EventType, QueryItem, Tag};
///
/// let joined = EventType::from_static("StudentJoinedCourse");
/// let course = Tag::from_static("course:1");
/// let item = QueryItem::new().types([joined.clone()]).tags([course.clone()]);
///
/// let event = EventRecord::new(joined, "{}").with_tags([course, Tag::from_static("student:9")]);
/// assert!(item.matches(&event));
/// assert!(!item.matches(&EventRecord::new(EventType::from_static("Other"), "{}")));
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
    pub fn matches(&self, event: &EventRecord) -> bool {
        self.matches_type(event.event_type()) && event.tags().contains_all(&self.tags)
    }

    /// Whether an event of `event_type` passes the item's type filter.
    #[must_use]
    pub fn matches_type(&self, event_type: &EventType) -> bool {
        self.types.is_empty() || self.types.binary_search(event_type).is_ok()
    }

    /// Whether every event `other` matches is matched by this item too: this
    /// item requires no tag `other` does not, and accepts every type `other`
    /// accepts.
    ///
    /// A query that has both items selects what it would select without
    /// `other`, so the unions of queries ([`Query::union`], composite
    /// decisions) leave covered items out: a store then reads and checks
    /// each event once per boundary instead of once per item.
    ///
    /// ```
    /// use dcb_core::{EventType, QueryItem, Tag};
    ///
    /// let joined = EventType::from_static("StudentJoinedCourse");
    /// let registered = EventType::from_static("CourseRegistered");
    /// let course = Tag::from_static("course:1");
    /// let student = Tag::from_static("student:9");
    /// let capacity = QueryItem::new()
    ///     .types([registered, joined.clone()])
    ///     .tags([course.clone()]);
    /// let membership = QueryItem::new().types([joined]).tags([course, student]);
    /// assert!(capacity.covers(&membership));
    /// assert!(!membership.covers(&capacity));
    /// assert!(QueryItem::new().covers(&capacity));
    /// ```
    #[must_use]
    pub fn covers(&self, other: &QueryItem) -> bool {
        let types = self.types.is_empty()
            || (!other.types.is_empty()
                && other
                    .types
                    .iter()
                    .all(|t| self.types.binary_search(t).is_ok()));
        types && other.tags.contains_all(&self.tags)
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
    /// The union with [`Query::all`] is [`Query::all`]. Items that another
    /// item of the union [covers](QueryItem::covers) are left out (of equal
    /// items, the first is kept).
    #[must_use]
    pub fn union(&self, other: &Query) -> Query {
        if self.is_all() || other.is_all() {
            return Query::all();
        }
        Query::union_of_items(self.items.iter().chain(other.items.iter()).cloned())
    }

    /// The query selecting what any of `items` selects, without the items
    /// another one covers. Each item is kept only if no item kept before it
    /// covers it, and it removes the kept items it covers; the others keep
    /// their order.
    pub(crate) fn union_of_items(items: impl IntoIterator<Item = QueryItem>) -> Query {
        // A decision's union has a handful of items: pairwise checks, on
        // the stack.
        let mut kept: smallvec::SmallVec<[QueryItem; 4]> = smallvec::SmallVec::new();
        for item in items {
            if kept.iter().any(|k| k.covers(&item)) {
                continue;
            }
            kept.retain(|k| !item.covers(k));
            kept.push(item);
        }
        Query::from_items(kept)
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
    pub fn matches(&self, event: &EventRecord) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(types: &[&'static str], tags: &[&'static str]) -> QueryItem {
        QueryItem::new()
            .types(types.iter().map(|t| EventType::from_static(t)))
            .tags(tags.iter().map(|t| Tag::from_static(t)))
    }

    #[test]
    fn an_item_covers_the_items_it_widens() {
        let course = item(&["Registered", "Joined"], &["course:1"]);
        // More tags, fewer types: inside.
        assert!(course.covers(&item(&["Joined"], &["course:1", "student:2"])));
        assert!(course.covers(&course));
        // A type it does not accept, any type, or a tag it lacks: outside.
        assert!(!course.covers(&item(&["Left"], &["course:1"])));
        assert!(!course.covers(&item(&[], &["course:1"])));
        assert!(!course.covers(&item(&["Joined"], &["course:2"])));
        assert!(!course.covers(&item(&["Joined"], &[])));
        // Any type and no tag: everything.
        assert!(item(&[], &[]).covers(&course));
        assert!(item(&[], &["course:1"]).covers(&course));
    }

    #[test]
    fn a_union_leaves_out_covered_items_and_keeps_the_order_of_the_rest() {
        let course = item(&["Registered", "Joined"], &["course:1"]);
        let student = item(&["Registered"], &["student:2"]);
        let membership = item(&["Joined"], &["course:1", "student:2"]);
        // Covered by an item before it.
        let union = Query::from_items([course.clone(), student.clone()])
            .union(&Query::from(membership.clone()));
        assert_eq!(union.items(), [course.clone(), student.clone()]);
        // Covering items before it: those leave, the rest keep their order.
        let union =
            Query::from_items([membership, student.clone()]).union(&Query::from(course.clone()));
        assert_eq!(union.items(), [student.clone(), course.clone()]);
        // Equal items: the first stays.
        let union = Query::from(course.clone()).union(&Query::from(course.clone()));
        assert_eq!(union.items(), [course]);
    }
}
