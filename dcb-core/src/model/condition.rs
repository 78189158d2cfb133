//! [`AppendCondition`]: the optimistic-concurrency check of an append.

use crate::{EventRecord, Position, Query, QueryItem};

/// "Fail if any event matching this query exists after this position."
///
/// A decision reads with a query, folds what it saw, and appends its new
/// events under the condition built from the same query and the read's head:
/// if anything the decision depended on was appended since, the append fails
/// and writes nothing.
///
/// ```
/// use dcb_core::{AppendCondition, Position, Query};
///
/// // Fail if any event at all was appended after position 7.
/// let condition = AppendCondition::new(Query::all()).after(Position::new(7));
/// assert_eq!(condition.after, Position::new(7));
///
/// // Without `after`, any matching event fails the append:
/// // "this must not exist yet".
/// let must_be_new = AppendCondition::new(Query::all());
/// assert_eq!(must_be_new.after, None);
/// ```
///
/// # Items with positions of their own
///
/// A decision made of parts that were each seen up to a different position
/// (a composite served from known state, see
/// [`KnownState`](crate::KnownState)) needs each part checked after its own
/// position: [`AppendCondition::of_parts`] gives every item of the query
/// its own position, and the condition fails if an event matching an item
/// exists after *that item's* position ([`item_after`](Self::item_after)).
/// It is a strict generalisation: when every item has the same position it
/// is the plain condition. [`after`](Self::after) is then the least of the
/// items' positions, so a check that looked only at it would be stricter,
/// never weaker.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AppendCondition {
    /// The events that must not exist after `after`.
    pub fail_if_events_match: Query,
    /// The position up to which the decision saw every matching event (the
    /// read's head); `None` means no matching event may exist at all. With
    /// items of their own positions, the least of them.
    pub after: Option<Position>,
    /// Each item's own position, in the order of the query's items; empty
    /// when every item counts after `after`.
    items_after: Vec<Option<Position>>,
}

impl AppendCondition {
    /// Fail if any event matching `query` exists (narrow with
    /// [`after`](Self::after)).
    #[must_use]
    pub fn new(query: Query) -> AppendCondition {
        AppendCondition {
            fail_if_events_match: query,
            after: None,
            items_after: Vec::new(),
        }
    }

    /// Only events after `position` count; pass the head of the read the
    /// decision was made from. Clears the items' own positions: every item
    /// counts after `position`.
    #[must_use]
    pub fn after(mut self, position: Option<Position>) -> AppendCondition {
        self.after = position;
        self.items_after.clear();
        self
    }

    /// The condition of a decision made of parts, each a query and the
    /// position up to which the decision saw every event it matches: it
    /// fails if an event matching a part's query exists after that part's
    /// position.
    ///
    /// An item that another part's item [covers](QueryItem::covers) is left
    /// out only when the covering item's position is not later (so the
    /// check stays as strict). A part whose query selects everything is
    /// the item that matches every event.
    ///
    /// ```
    /// use dcb_core::{AppendCondition, EventRecord, EventType, Position, Query, QueryItem, Tag};
    ///
    /// let course = Query::from(QueryItem::new().tags([Tag::from_static("course:1")]));
    /// let student = Query::from(QueryItem::new().tags([Tag::from_static("student:9")]));
    /// // The course was last seen at 40, the student at 12.
    /// let condition = AppendCondition::of_parts([
    ///     (course, Position::new(40)),
    ///     (student, Position::new(12)),
    /// ]);
    /// assert_eq!(condition.after, Position::new(12));
    /// assert_eq!(condition.item_after(0), Position::new(40));
    /// assert_eq!(condition.item_after(1), Position::new(12));
    ///
    /// // An event of the course at 30 was seen: it does not fail the append.
    /// let joined = EventRecord::new(EventType::from_static("Joined"), "{}")
    ///     .with_tags([Tag::from_static("course:1")]);
    /// assert!(!condition.fails_on(Position::new(30).unwrap(), &joined));
    /// assert!(condition.fails_on(Position::new(41).unwrap(), &joined));
    /// ```
    #[must_use]
    pub fn of_parts(parts: impl IntoIterator<Item = (Query, Option<Position>)>) -> AppendCondition {
        let mut kept: Vec<(QueryItem, Option<Position>)> = Vec::new();
        for (query, position) in parts {
            let items: Vec<QueryItem> = if query.is_all() {
                vec![QueryItem::new()]
            } else {
                query.items().to_vec()
            };
            for item in items {
                if kept.iter().any(|(k, p)| *p <= position && k.covers(&item)) {
                    continue;
                }
                kept.retain(|(k, p)| !(position <= *p && item.covers(k)));
                kept.push((item, position));
            }
        }
        let after = kept.iter().map(|(_, p)| *p).min().flatten();
        let uniform = kept.iter().all(|(_, p)| *p == after);
        let (items, positions): (Vec<QueryItem>, Vec<Option<Position>>) = kept.into_iter().unzip();
        AppendCondition {
            fail_if_events_match: Query::from_items(items),
            after,
            items_after: if uniform { Vec::new() } else { positions },
        }
    }

    /// The position after which events matching item `index` of the query
    /// count: the item's own, when [`of_parts`](Self::of_parts) gave it one,
    /// otherwise [`after`](Self::after) (also when the query was replaced by
    /// one with another number of items since).
    #[must_use]
    pub fn item_after(&self, index: usize) -> Option<Position> {
        if self.has_item_positions() {
            self.items_after.get(index).copied().flatten()
        } else {
            self.after
        }
    }

    /// Whether some item has a position of its own, later than
    /// [`after`](Self::after): a store then checks each item after its own
    /// position ([`item_after`](Self::item_after)).
    #[must_use]
    pub fn has_item_positions(&self) -> bool {
        !self.items_after.is_empty()
            && self.items_after.len() == self.fail_if_events_match.items().len()
    }

    /// Whether `event`, stored at `position`, fails this condition: it
    /// matches an item of the query and comes after that item's position
    /// (any event after [`after`](Self::after), for the query that selects
    /// everything). The rule every store checks, stated plainly.
    #[must_use]
    pub fn fails_on(&self, position: Position, event: &EventRecord) -> bool {
        let items = self.fail_if_events_match.items();
        if items.is_empty() {
            return Some(position) > self.after;
        }
        items
            .iter()
            .enumerate()
            .any(|(i, item)| Some(position) > self.item_after(i) && item.matches(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Tag};

    fn tagged(tag: &'static str) -> Query {
        Query::from(QueryItem::new().tags([Tag::from_static(tag)]))
    }

    #[test]
    fn parts_seen_at_one_position_make_the_plain_condition() {
        let condition = AppendCondition::of_parts([
            (tagged("a"), Position::new(5)),
            (tagged("b"), Position::new(5)),
        ]);
        assert_eq!(condition.after, Position::new(5));
        assert!(!condition.has_item_positions());
        assert_eq!(
            condition,
            AppendCondition::new(tagged("a").union(&tagged("b"))).after(Position::new(5))
        );
    }

    #[test]
    fn a_covered_item_of_an_earlier_position_is_kept() {
        // The membership (course and student) was seen at 3, the course at 9:
        // the course's item covers the membership's, but dropping the
        // membership's would let an event of the pair at 4..=9 through.
        let course = QueryItem::new().tags([Tag::from_static("course:1")]);
        let pair = course.clone().tags([Tag::from_static("student:2")]);
        let condition = AppendCondition::of_parts([
            (Query::from(course.clone()), Position::new(9)),
            (Query::from(pair.clone()), Position::new(3)),
        ]);
        assert_eq!(
            condition.fail_if_events_match.items(),
            [course.clone(), pair]
        );
        let joined = EventRecord::new(EventType::from_static("Joined"), "{}")
            .with_tags([Tag::from_static("course:1"), Tag::from_static("student:2")]);
        assert!(condition.fails_on(Position::new(4).unwrap(), &joined));

        // Seen later than the course, the pair adds nothing.
        let later = AppendCondition::of_parts([
            (Query::from(course.clone()), Position::new(3)),
            (
                Query::from(course.clone().tags([Tag::from_static("student:2")])),
                Position::new(9),
            ),
        ]);
        assert_eq!(later.fail_if_events_match.items(), [course]);
        assert_eq!(later.after, Position::new(3));
    }

    #[test]
    fn a_part_never_seen_counts_from_the_start() {
        let condition =
            AppendCondition::of_parts([(tagged("a"), Position::new(5)), (tagged("b"), None)]);
        assert_eq!(condition.after, None);
        assert_eq!(condition.item_after(0), Position::new(5));
        assert_eq!(condition.item_after(1), None);
        let b =
            EventRecord::new(EventType::from_static("T"), "{}").with_tags([Tag::from_static("b")]);
        assert!(condition.fails_on(Position::new(1).unwrap(), &b));
    }

    #[test]
    fn a_replaced_query_falls_back_to_the_least_position() {
        let mut condition = AppendCondition::of_parts([
            (tagged("a"), Position::new(5)),
            (tagged("b"), Position::new(2)),
        ]);
        condition.fail_if_events_match = tagged("c");
        assert!(!condition.has_item_positions());
        assert_eq!(condition.item_after(0), Position::new(2));
    }
}
