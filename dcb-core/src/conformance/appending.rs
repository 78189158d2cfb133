//! Appending: positions, atomicity, and append conditions.
//!
//! The cases that start from the eight-event fixture described in
//! [`matching`](super::matching) use its positions 1 to 8.

use super::Options;
use super::support::{
    append, append_err, append_if, condition, conflict, ev, ev_data, expect_invalid, fixture, head,
    item, read, read_everything, read_numbers, tagged, typed,
};
use crate::{AppendCondition, EventRecord, EventStore, Position, Query, ReadOptions, Uuid};

/// A probe event that no fixture query selects (except the ones selecting
/// everything).
fn probe() -> Vec<EventRecord> {
    vec![ev("Probe", &["probe"])]
}

/// An append returns the position of its last event; the first event of a
/// store is at position 1.
pub async fn append_returns_last_position<S: EventStore + 'static>(store: S) {
    let first = append(&store, vec![ev("A", &["x"])]).await;
    assert_eq!(
        first.get(),
        1,
        "the first event of a store is at position 1"
    );
    let last = append(&store, vec![ev("B", &["x"]), ev("C", &[]), ev("D", &["y"])])
        .await
        .get();
    assert!(
        last >= 4,
        "an append of three events after position 1 cannot end before 4, got {last}"
    );
    let single = append(&store, vec![ev("E", &[])]).await.get();
    assert!(
        single > last,
        "a later append ends later: {single} after {last}"
    );
    assert_eq!(
        read_numbers(&store, &Query::all(), ReadOptions::new()).await,
        (vec![1, last - 2, last - 1, last, single], Some(single)),
        "the appended events are where the appends said (positions, head)"
    );
}

/// The events of one append are stored in the given order at consecutive
/// positions, exactly as given.
pub async fn append_is_atomic_and_ordered<S: EventStore + 'static>(store: S) {
    append(&store, vec![ev("Before", &["batch"])]).await;
    let batch = vec![
        ev_data("Zeta", &["batch", "k:0"], "0"),
        ev_data("Alpha", &["batch", "k:1"], "1"),
        ev_data("Mid", &["batch"], "2"),
        ev_data("Alpha", &["batch", "k:3"], "3"),
        ev_data("Beta", &[], "4"),
    ];
    let last = append(&store, batch.clone()).await.get();
    let stored = read_everything(&store).await;
    let tail = &stored.events[stored.events.len() - batch.len()..];
    let positions: Vec<u64> = tail.iter().map(|e| e.position.get()).collect();
    assert_eq!(
        positions,
        (last - 4..=last).collect::<Vec<_>>(),
        "the five events of one append are at consecutive positions ending at the returned one"
    );
    let events: Vec<&EventRecord> = tail.iter().map(|e| &e.event).collect();
    assert_eq!(
        events,
        batch.iter().collect::<Vec<_>>(),
        "the events of one append are stored in the given order, unchanged"
    );
    assert_eq!(
        read_numbers(&store, &typed(&["Alpha"]), ReadOptions::new()).await,
        (vec![last - 3, last - 1], Some(last)),
        "the batch's events are found by type (positions, head)"
    );
}

/// Appends get strictly increasing positions, also around failed appends;
/// with gap-free positions, the events of a store are at `1..=n`.
pub async fn positions_strictly_increase<S: EventStore + 'static>(store: S, options: &Options) {
    let mut expected: Vec<u64> = Vec::new();
    let mut data: Vec<String> = Vec::new();
    for round in 0..12_u64 {
        let size = round % 3 + 1;
        let batch: Vec<String> = (0..size).map(|k| format!("{round}:{k}")).collect();
        let events = batch
            .iter()
            .map(|d| ev_data("Seq", &["seq"], d.clone()))
            .collect();
        let last = append(&store, events).await.get();
        let first = last + 1 - size;
        if let Some(&previous) = expected.last() {
            assert!(
                first > previous,
                "append {round} starts at {first}, not after the previous append's {previous}"
            );
        }
        expected.extend(first..=last);
        data.extend(batch);
        conflict(
            &store,
            vec![ev("Seq", &["seq"])],
            condition(&tagged(&["seq"]), None),
            "a condition on an existing tag",
        )
        .await;
        expect_invalid(
            append_err(&store, vec![], None, "an empty append").await,
            "an empty append",
        );
    }
    let stored = read_everything(&store).await;
    let positions: Vec<u64> = stored.events.iter().map(|e| e.position.get()).collect();
    assert_eq!(
        positions, expected,
        "the stored positions are those the appends returned"
    );
    let stored_data: Vec<&[u8]> = stored.events.iter().map(|e| e.data().as_ref()).collect();
    let data: Vec<&[u8]> = data.iter().map(String::as_bytes).collect();
    assert_eq!(stored_data, data, "the events are stored in append order");
    if options.gap_free_positions {
        let n = expected.len() as u64;
        assert_eq!(
            positions,
            (1..=n).collect::<Vec<_>>(),
            "the store promises gap-free positions, also around failed appends"
        );
        assert_eq!(
            head(&store).await,
            Some(n),
            "head() of a gap-free store of {n} events"
        );
    }
}

/// A condition without `after` fails on any matching event at all, and
/// reports the first one.
pub async fn condition_without_after_fails_on_any_match<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let before = read_everything(&store).await;
    let cases: [(Query, u64); 5] = [
        (Query::all(), 1),
        (tagged(&["course:2"]), 2),
        (typed(&["Heartbeat"]), 8),
        (Query::from(item(&["StudentJoined"], &["student:b"])), 7),
        (tagged(&["student:b"]).or(item(&[], &["course:2"])), 2),
    ];
    for (query, expected) in cases {
        let conflicting = conflict(
            &store,
            probe(),
            condition(&query, None),
            &format!("a condition on {query:?} without `after`"),
        )
        .await;
        assert_eq!(
            conflicting, expected,
            "a condition on {query:?} without `after` reports the first matching position"
        );
    }
    super::support::assert_unchanged(&store, &before, "an append whose condition failed").await;
}

/// A failed condition reports the first matching position after `after`,
/// and passes once `after` is past the last match.
pub async fn condition_reports_first_conflict<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, Vec<u64>); 2] = [
        (tagged(&["student:a"]), vec![3, 4, 5]),
        (
            tagged(&["student:b"]).or(item(&["CourseRegistered"], &[])),
            vec![1, 2, 6, 7],
        ),
    ];
    for (query, matches) in cases {
        let mut after = None;
        for &expected in &matches {
            let conflicting = conflict(
                &store,
                probe(),
                condition(&query, after),
                &format!("a condition on {query:?} after {after:?}"),
            )
            .await;
            assert_eq!(
                conflicting, expected,
                "a condition on {query:?} after {after:?} reports the first match after it"
            );
            after = Some(expected);
        }
        let position = append_if(&store, probe(), condition(&query, after)).await;
        assert!(
            position.get() > 8,
            "the append after the last match of {query:?} landed at {position}"
        );
    }
}

/// Events at or before `after` do not fail a condition, even when they
/// match; `after` beyond the head passes.
pub async fn condition_after_ignores_earlier_events<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let course_1 = tagged(&["course:1"]);
    let ninth = append_if(&store, probe(), condition(&course_1, Some(7)))
        .await
        .get();
    let conflicting = conflict(
        &store,
        probe(),
        condition(&course_1, Some(6)),
        "course:1 matches position 7, after 6",
    )
    .await;
    assert_eq!(conflicting, 7, "course:1 after 6 conflicts with 7");
    let tenth = append_if(&store, probe(), condition(&Query::all(), Some(ninth)))
        .await
        .get();
    let conflicting = conflict(
        &store,
        probe(),
        condition(&Query::all(), Some(ninth)),
        "an event was appended after the condition's `after`",
    )
    .await;
    assert_eq!(
        conflicting, tenth,
        "the first event after {ninth} is {tenth}"
    );
    append_if(&store, probe(), condition(&Query::all(), Some(1_000_000))).await;
    let conflicting = conflict(
        &store,
        probe(),
        condition(&typed(&["Probe"]), None),
        "probes were appended",
    )
    .await;
    assert_eq!(conflicting, ninth, "the first probe is at {ninth}");
}

/// A condition that matches nothing passes, on an empty store and on one
/// whose events have the condition's type or tag but not both.
pub async fn condition_matching_nothing_passes<S: EventStore + 'static>(store: S) {
    let first = append_if(
        &store,
        vec![ev("A", &["x"])],
        condition(&Query::all(), None),
    )
    .await;
    assert_eq!(
        first.get(),
        1,
        "an empty store has no events to fail any condition"
    );
    append(&store, vec![ev("B", &["y"]), ev("A", &["z"])]).await;
    let cases = [
        tagged(&["nobody"]),
        typed(&["Nothing"]),
        Query::from(item(&["A"], &["y"])),
        Query::from(item(&["B"], &["x"])),
        tagged(&["x", "y"]),
    ];
    let mut previous = first.get();
    for query in cases {
        let position = append_if(&store, probe(), condition(&query, None))
            .await
            .get();
        assert!(
            position > previous,
            "the append under a condition on {query:?} returned {position}, not after {previous}"
        );
        previous = position;
    }
    assert_eq!(
        read_everything(&store).await.events.len(),
        8,
        "three events and five probes are stored"
    );
}

/// The events being appended do not count against their own condition.
pub async fn condition_ignores_own_events<S: EventStore + 'static>(store: S) {
    let seat = tagged(&["seat:1"]);
    let two = vec![ev("Seat", &["seat:1"]), ev("Seat", &["seat:1"])];
    let last = append_if(&store, two.clone(), condition(&seat, None)).await;
    assert_eq!(
        last.get(),
        2,
        "an empty store: the two events end at position 2"
    );
    let conflicting = conflict(
        &store,
        two,
        condition(&seat, None),
        "seat:1 events are now stored",
    )
    .await;
    assert_eq!(
        conflicting, 1,
        "the same append again conflicts with the first event"
    );

    let seen = head(&store).await;
    let third = append_if(
        &store,
        vec![ev("Seat", &["seat:2"])],
        condition(&Query::all(), seen),
    )
    .await
    .get();
    let conflicting = conflict(
        &store,
        probe(),
        condition(&Query::all(), seen),
        "an event was appended after the head",
    )
    .await;
    assert_eq!(
        conflicting, third,
        "the event appended under Query::all() is now a conflict"
    );
}

/// A decision's condition fails only when an event its query selects was
/// appended after its read; other events do not interfere, and a failed
/// decision writes nothing.
pub async fn condition_only_conflicts_with_matching_events<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let course_2 = tagged(&["course:2"]);

    let seen = read(&store, &course_2, ReadOptions::new()).await;
    append(
        &store,
        vec![ev("StudentJoined", &["course:1", "student:c"])],
    )
    .await;
    let decided = append_if(
        &store,
        vec![ev("StudentJoined", &["course:2", "student:c"])],
        condition(&course_2, seen.head.map(Position::get)),
    )
    .await;

    let seen = read(&store, &course_2, ReadOptions::new()).await;
    assert_eq!(
        seen.events.last().map(|e| e.position),
        Some(decided),
        "the decision's event is the newest course:2 event"
    );
    let interfering = append(&store, vec![ev("StudentLeft", &["course:2", "student:a"])]).await;
    let before = read_everything(&store).await;
    let conflicting = conflict(
        &store,
        vec![ev("StudentJoined", &["course:2", "student:d"])],
        condition(&course_2, seen.head.map(Position::get)),
        "a course:2 event was appended after the decision's read",
    )
    .await;
    assert_eq!(
        conflicting,
        interfering.get(),
        "the conflict is the course:2 event appended after the read"
    );
    super::support::assert_unchanged(&store, &before, "the conflicting decision").await;
}

/// An append whose condition fails writes none of its events, and their
/// ids stay free.
pub async fn failed_condition_writes_nothing<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let before = read_everything(&store).await;
    let batch: Vec<EventRecord> = (1..=3_u128)
        .map(|n| ev("Booked", &["new", "course:1"]).with_id(Uuid::from_u128(n)))
        .collect();
    let conflicting = conflict(
        &store,
        batch.clone(),
        condition(&tagged(&["course:1"]), Some(4)),
        "course:1 has an event at 7",
    )
    .await;
    assert_eq!(conflicting, 7, "the conflict is course:1's event at 7");
    super::support::assert_unchanged(&store, &before, "an append of three events").await;
    assert_eq!(
        read_numbers(&store, &tagged(&["new"]), ReadOptions::new()).await,
        (vec![], Some(8)),
        "no event of the failed append is readable by its tag"
    );
    let last = append(&store, batch.clone()).await.get();
    let stored = read(&store, &tagged(&["new"]), ReadOptions::new()).await;
    let stored: Vec<&EventRecord> = stored.events.iter().map(|e| &e.event).collect();
    assert_eq!(
        stored,
        batch.iter().collect::<Vec<_>>(),
        "the ids of a failed append are free: the same events append as new ones"
    );
    assert!(
        last > 8,
        "the new events come after the fixture, got {last}"
    );
}

/// A condition of parts ([`AppendCondition::of_parts`]) checks each item
/// after its own position: events of a part at or before its position pass
/// though a later one of another part's would not, and an event after a
/// part's position fails it though it comes before another part's.
///
/// [`AppendCondition::of_parts`]: crate::AppendCondition::of_parts
pub async fn condition_items_count_after_their_own_positions<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    // course:1 is at 1, 4 and 7; student:a at 3, 4 and 5; student:b at 6, 7.
    let course_seen_at_7 = (tagged(&["course:1"]), Position::new(7));
    let ninth = append_if(
        &store,
        probe(),
        AppendCondition::of_parts([
            course_seen_at_7.clone(),
            (tagged(&["student:a"]), Position::new(5)),
        ]),
    )
    .await
    .get();
    assert!(ninth > 8, "the passing append landed at {ninth}");
    let conflicting = conflict(
        &store,
        probe(),
        AppendCondition::of_parts([course_seen_at_7, (tagged(&["student:b"]), Position::new(5))]),
        "student:b matches 6 and 7, after its own position 5",
    )
    .await;
    assert_eq!(
        conflicting, 6,
        "the first event after student:b's own position 5 is 6 (not the course's 7)"
    );
    let conflicting = conflict(
        &store,
        probe(),
        AppendCondition::of_parts([
            (tagged(&["course:1"]), Position::new(3)),
            (tagged(&["student:a"]), Position::new(4)),
        ]),
        "course:1 matches 4 after 3, and student:a 5 after 4",
    )
    .await;
    assert_eq!(
        conflicting, 4,
        "the first failing event over all items is 4"
    );
}

/// Items without tags, and a part never seen (no position: any matching
/// event fails it), keep their own positions too.
pub async fn condition_item_positions_hold_for_untagged_items<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    // StudentRegistered is at 3 and 6, course:2 at 2 and 5, Heartbeat at 8.
    let registered_seen_at_6 = (typed(&["StudentRegistered"]), Position::new(6));
    append_if(
        &store,
        probe(),
        AppendCondition::of_parts([
            registered_seen_at_6.clone(),
            (tagged(&["course:2"]), Position::new(5)),
            (Query::from(item(&["Heartbeat"], &[])), Position::new(8)),
        ]),
    )
    .await;
    let conflicting = conflict(
        &store,
        probe(),
        AppendCondition::of_parts([
            registered_seen_at_6.clone(),
            (tagged(&["course:2"]), Position::new(2)),
        ]),
        "course:2 matches 5 after its own position 2",
    )
    .await;
    assert_eq!(conflicting, 5, "course:2 after 2 fails at 5");
    let never_seen = (tagged(&["course:3"]), None);
    append_if(
        &store,
        probe(),
        AppendCondition::of_parts([registered_seen_at_6.clone(), never_seen.clone()]),
    )
    .await;
    let opened = append(&store, vec![ev("CourseRegistered", &["course:3"])])
        .await
        .get();
    let conflicting = conflict(
        &store,
        probe(),
        AppendCondition::of_parts([registered_seen_at_6, never_seen]),
        "course:3 was never seen, and now has an event",
    )
    .await;
    assert_eq!(
        conflicting, opened,
        "any course:3 event fails a part never seen"
    );
}
