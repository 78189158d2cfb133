//! Which events a query selects, in reads and in append conditions.
//!
//! Every case appends the same eight events (see the table below) and
//! checks a few queries: the forward read, the backwards read (same events,
//! reversed; head 8 both ways), and, when something matches, the append
//! conditions built from the query, which must report the first and second
//! matching positions as conflicts.
//!
//! | pos | type                | tags                |
//! |-----|---------------------|---------------------|
//! | 1   | `CourseRegistered`  | course:1            |
//! | 2   | `CourseRegistered`  | course:2            |
//! | 3   | `StudentRegistered` | student:a           |
//! | 4   | `StudentJoined`     | course:1, student:a |
//! | 5   | `StudentJoined`     | course:2, student:a |
//! | 6   | `StudentRegistered` | student:b           |
//! | 7   | `StudentJoined`     | course:1, student:b |
//! | 8   | `Heartbeat`         | (none)              |

use super::support::{
    FIXTURE_HEAD, append_if, condition, conflict, ev, fixture, item, read_numbers, tagged, typed,
};
use crate::{EventStore, Query, QueryItem, ReadOptions};

/// Checks that `query` selects exactly the fixture positions `expected`,
/// in reads both ways and in append conditions.
async fn assert_selects<S: EventStore>(store: &S, query: &Query, expected: &[u64], what: &str) {
    assert_eq!(
        read_numbers(store, query, ReadOptions::new()).await,
        (expected.to_vec(), FIXTURE_HEAD),
        "{what}: forward read of {query:?} (positions, head)"
    );
    let reversed: Vec<u64> = expected.iter().rev().copied().collect();
    assert_eq!(
        read_numbers(store, query, ReadOptions::new().backwards()).await,
        (reversed, FIXTURE_HEAD),
        "{what}: backwards read of {query:?} (positions, head)"
    );
    let probe = || vec![ev("ConditionProbe", &["probe"])];
    if let Some(&first) = expected.first() {
        let conflicting = conflict(
            store,
            probe(),
            condition(query, None),
            &format!("{what}: a condition on {query:?} without `after`"),
        )
        .await;
        assert_eq!(
            conflicting, first,
            "{what}: a condition on {query:?} without `after` must report the first \
             matching position"
        );
    }
    if let [first, second, ..] = *expected {
        let conflicting = conflict(
            store,
            probe(),
            condition(query, Some(first)),
            &format!("{what}: a condition on {query:?} after {first}"),
        )
        .await;
        assert_eq!(
            conflicting, second,
            "{what}: a condition on {query:?} after {first} must report the next matching \
             position"
        );
    }
}

/// Checks that append conditions on `queries`, which select none of the
/// fixture's events, pass even without `after`. Each writes an event, so
/// call it last.
async fn assert_conditions_pass<S: EventStore>(store: &S, queries: &[Query], what: &str) {
    for query in queries {
        let position = append_if(
            store,
            vec![ev("ConditionProbe", &["probe"])],
            condition(query, None),
        )
        .await;
        assert!(
            position.get() > 8,
            "{what}: the append under a condition on {query:?} returned position {position}, \
             which is not after the fixture"
        );
    }
}

/// A query without items selects every event, tagged or not.
pub async fn empty_query_matches_every_event<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let everything = [1, 2, 3, 4, 5, 6, 7, 8];
    assert_selects(&store, &Query::all(), &everything, "Query::all()").await;
    assert_selects(
        &store,
        &Query::from_items([]),
        &everything,
        "a query built from no items",
    )
    .await;
}

/// An item without types and tags selects every event, alone or OR-ed with
/// a narrower item.
pub async fn unrestricted_item_matches_every_event<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let everything = [1, 2, 3, 4, 5, 6, 7, 8];
    assert_selects(
        &store,
        &Query::from(QueryItem::new()),
        &everything,
        "an item without types or tags",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["course:2"]).or(QueryItem::new()),
        &everything,
        "a narrow item OR-ed with an unrestricted one",
    )
    .await;
}

/// An item with types only selects the events of any of those types.
pub async fn types_only<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(&store, &typed(&["StudentRegistered"]), &[3, 6], "one type").await;
    assert_selects(
        &store,
        &typed(&["CourseRegistered", "StudentRegistered"]),
        &[1, 2, 3, 6],
        "two types (any of them)",
    )
    .await;
}

/// An item with tags only (empty types) selects events of any type that
/// carry the tags.
pub async fn tags_only<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &tagged(&["course:1"]),
        &[1, 4, 7],
        "one tag, any type",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["student:a"]),
        &[3, 4, 5],
        "one tag, any type",
    )
    .await;
}

/// An item with types and tags selects events of one of the types that
/// carry all the tags.
pub async fn types_and_tags<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &Query::from(item(&["StudentJoined"], &["course:1"])),
        &[4, 7],
        "a type and a tag",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["StudentJoined", "CourseRegistered"], &["course:2"])),
        &[2, 5],
        "two types and a tag",
    )
    .await;
}

/// The tags of one item are AND-ed: an event needs all of them.
pub async fn tags_within_an_item_are_and_ed<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &tagged(&["course:1", "student:a"]),
        &[4],
        "two tags in one item",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["course:2", "student:b"]),
        &[],
        "two tags that no event carries together",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["StudentJoined"], &["student:b", "course:1"])),
        &[7],
        "a type and two tags",
    )
    .await;
}

/// The items of a query are OR-ed: an event matching any item is selected.
pub async fn items_are_or_ed<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &Query::from_items([
            item(&["CourseRegistered"], &["course:2"]),
            item(&[], &["student:b"]),
        ]),
        &[2, 6, 7],
        "two items",
    )
    .await;
    assert_selects(
        &store,
        &Query::from_items([
            item(&["Heartbeat"], &[]),
            item(&[], &["student:b"]),
            item(&["CourseRegistered"], &["course:1"]),
        ]),
        &[1, 6, 7, 8],
        "three items",
    )
    .await;
}

/// An event matched by several items is selected once.
pub async fn overlapping_items_yield_each_event_once<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &tagged(&["course:1"]).or(item(&[], &["student:a"])),
        &[1, 3, 4, 5, 7],
        "two items that both match event 4",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["course:1"]).or(item(&[], &["course:1"])),
        &[1, 4, 7],
        "the same item twice",
    )
    .await;
    assert_selects(
        &store,
        &typed(&["StudentJoined"]).or(item(&[], &["student:a"])),
        &[3, 4, 5, 7],
        "a type item and a tag item that overlap",
    )
    .await;
}

/// Queries of many items, and items of many tags, select what small ones
/// would: a store that reads small query shapes another way must not lose
/// events on large ones.
pub async fn many_items_and_many_tags<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let tags = [
        "course:404",
        "student:b",
        "course:405",
        "course:2",
        "student:404",
        "x:1",
        "x:2",
        "x:3",
        "x:4",
    ];
    let many = Query::from_items(
        tags.iter()
            .map(|tag| item(&[], &[tag]))
            .chain([item(&["CourseRegistered"], &["course:1"])]),
    );
    assert_selects(&store, &many, &[1, 2, 5, 6, 7], "ten items").await;
    assert_selects(
        &store,
        &tagged(&["course:1", "student:a", "x:1", "x:2", "x:3"]),
        &[],
        "five tags, three of them unknown",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["course:1", "student:a", "x:1", "x:2", "x:3"])
            .or(item(&["StudentJoined"], &["student:a"])),
        &[4, 5],
        "an item of five tags or a small one",
    )
    .await;
}

/// A tag that no event carries selects nothing, alone or with other tags
/// and types; OR-ed with a known item it selects that item's events.
pub async fn unknown_tag_matches_nothing<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(&store, &tagged(&["course:404"]), &[], "an unknown tag").await;
    assert_selects(
        &store,
        &tagged(&["course:1", "course:404"]),
        &[],
        "a known tag AND an unknown tag",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["StudentJoined"], &["course:404"])),
        &[],
        "a known type and an unknown tag",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["course:404"]).or(item(&[], &["course:2"])),
        &[2, 5],
        "an unknown tag OR a known tag",
    )
    .await;
    assert_conditions_pass(
        &store,
        &[
            tagged(&["course:404"]),
            tagged(&["course:1", "course:404"]),
            Query::from(item(&["StudentJoined"], &["course:404"])),
        ],
        "conditions on an unknown tag",
    )
    .await;
}

/// A type that no event has selects nothing, alone or with a tag.
pub async fn unknown_type_matches_nothing<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(&store, &typed(&["CourseCancelled"]), &[], "an unknown type").await;
    assert_selects(
        &store,
        &Query::from(item(&["CourseCancelled"], &["course:1"])),
        &[],
        "an unknown type and a known tag",
    )
    .await;
    assert_conditions_pass(
        &store,
        &[
            typed(&["CourseCancelled"]),
            Query::from(item(&["CourseCancelled"], &["course:1"])),
        ],
        "conditions on an unknown type",
    )
    .await;
}

/// An unknown type in an item's type list does not stop the known types
/// from matching.
pub async fn unknown_type_among_known_types<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &typed(&["CourseCancelled", "CourseRegistered"]),
        &[1, 2],
        "an unknown type or a known type",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["CourseCancelled", "StudentJoined"], &["student:b"])),
        &[7],
        "an unknown or a known type, and a tag",
    )
    .await;
}

/// An item with types and tags selects nothing when some events have the
/// type and others the tag, but none both.
pub async fn item_needs_both_its_type_and_its_tags<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &Query::from(item(&["CourseRegistered"], &["student:a"])),
        &[],
        "a type whose events lack the tag",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["StudentRegistered"], &["course:1"])),
        &[],
        "a tag whose events have other types",
    )
    .await;
    assert_selects(
        &store,
        &Query::from(item(&["Heartbeat"], &["course:1"])),
        &[],
        "an untagged type and a tag",
    )
    .await;
    assert_conditions_pass(
        &store,
        &[
            Query::from(item(&["CourseRegistered"], &["student:a"])),
            Query::from(item(&["StudentRegistered"], &["course:1"])),
        ],
        "conditions whose type and tag match different events",
    )
    .await;
}

/// An event without tags is selected by its type, and by no item that
/// requires a tag.
pub async fn untagged_events_match_by_type_only<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(
        &store,
        &typed(&["Heartbeat"]),
        &[8],
        "the untagged event's type",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["student:a"]).or(item(&["Heartbeat"], &[])),
        &[3, 4, 5, 8],
        "a tag OR the untagged event's type",
    )
    .await;
}

/// Types and tags match by exact, case-sensitive name: not by prefix, and a
/// tag never matches a type of the same name or the reverse.
pub async fn names_match_exactly<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_selects(&store, &tagged(&["course:"]), &[], "a prefix of a tag").await;
    assert_selects(
        &store,
        &tagged(&["course:10"]),
        &[],
        "a tag extending a tag",
    )
    .await;
    assert_selects(&store, &tagged(&["Course:1"]), &[], "a tag in other case").await;
    assert_selects(&store, &typed(&["Course"]), &[], "a prefix of a type").await;
    assert_selects(
        &store,
        &typed(&["courseregistered"]),
        &[],
        "a type in other case",
    )
    .await;
    assert_selects(
        &store,
        &tagged(&["Heartbeat"]),
        &[],
        "a tag named like a type",
    )
    .await;
    assert_selects(
        &store,
        &typed(&["course:1"]),
        &[],
        "a type named like a tag",
    )
    .await;
    assert_conditions_pass(
        &store,
        &[
            tagged(&["course:"]),
            tagged(&["Course:1"]),
            typed(&["course:1"]),
        ],
        "conditions on near-miss names",
    )
    .await;
}
