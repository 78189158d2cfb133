//! Idempotent appends: repeating an append whose events all carry ids.

use super::support::{
    append, append_err, append_if, assert_unchanged, condition, conflict, ev, ev_data,
    expect_duplicate, read, read_everything, tagged,
};
use crate::{EventRecord, EventStore, ReadOptions, Uuid};

/// The id number `n`.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0xdcb0_0000_0000_0000_0000_0000_0000_0000 | n)
}

/// Repeats `events` and checks that the append returns `original`.
async fn assert_repeat<S: EventStore>(
    store: &S,
    events: &[EventRecord],
    original: crate::Position,
    what: &str,
) {
    match store.append(events.to_vec(), None).await {
        Ok(position) => assert_eq!(
            position, original,
            "{what}: a repeated append returns the original append's position"
        ),
        Err(e) => panic!("{what}: a repeated append must succeed, it failed with {e:?}"),
    }
}

/// Checks that a failed append reported one of `stored` (id, position)
/// pairs as the duplicate.
fn assert_reports_one_of(reported: (Uuid, u64), stored: &[(Uuid, u64)], what: &str) {
    assert!(
        stored.contains(&reported),
        "{what}: DuplicateEventId reported id {} at {}, but the stored ids are {stored:?}",
        reported.0,
        reported.1
    );
}

/// Repeating an append whose events all carry ids returns the original
/// position and writes nothing, however often and however late.
pub async fn retry_returns_original_position<S: EventStore + 'static>(store: S) {
    let pair = vec![
        ev_data("Booked", &["seat:1"], "a").with_id(id(1)),
        ev_data("Booked", &["seat:2"], "b").with_id(id(2)),
    ];
    let original = append(&store, pair.clone()).await;
    let single = vec![ev_data("Booked", &["seat:3"], "c").with_id(id(3))];
    let single_original = append(&store, single.clone()).await;
    append(&store, vec![ev("Other", &[])]).await;
    let before = read_everything(&store).await;
    for attempt in 1..=2 {
        let what = format!("attempt {attempt}");
        assert_repeat(&store, &pair, original, &format!("{what} of two events")).await;
        assert_repeat(
            &store,
            &single,
            single_original,
            &format!("{what} of one event"),
        )
        .await;
    }
    assert_unchanged(&store, &before, "a repeated append").await;
}

/// A repeated append succeeds with the original position even when its
/// condition would now fail.
pub async fn retry_succeeds_even_when_condition_now_fails<S: EventStore + 'static>(store: S) {
    let seat = tagged(&["seat:1"]);
    let booked = vec![ev_data("Booked", &["seat:1"], "mine").with_id(id(10))];
    let original = append_if(&store, booked.clone(), condition(&seat, None)).await;
    append(
        &store,
        vec![ev_data("Booked", &["seat:1"], "someone else's")],
    )
    .await;
    let before = read_everything(&store).await;
    for after in [None, Some(original.get())] {
        let what = format!("a retry under a condition on seat:1 after {after:?}");
        conflict(
            &store,
            vec![ev("Probe", &[])],
            condition(&seat, after),
            &what,
        )
        .await;
        match store
            .append(booked.clone(), Some(condition(&seat, after)))
            .await
        {
            Ok(position) => assert_eq!(
                position, original,
                "{what}: the retry returns the original position"
            ),
            Err(e) => panic!(
                "{what}: the condition now fails, but a repeated append must still succeed \
                 with the original position; it failed with {e:?}"
            ),
        }
    }
    assert_unchanged(&store, &before, "a repeated conditional append").await;
}

/// An append of which only some ids are stored fails with
/// `DuplicateEventId` and writes nothing.
pub async fn partial_id_overlap_is_rejected<S: EventStore + 'static>(store: S) {
    let a = ev_data("Booked", &["seat:1"], "a").with_id(id(1));
    let b = ev_data("Booked", &["seat:2"], "b").with_id(id(2));
    let c = ev_data("Booked", &["seat:3"], "c").with_id(id(3));
    let last = append(&store, vec![a.clone(), b.clone()]).await.get();
    let stored = [(id(1), last - 1), (id(2), last)];
    let before = read_everything(&store).await;

    let what = "an append of a stored id and a new one";
    let err = append_err(&store, vec![b.clone(), c.clone()], None, what).await;
    assert_eq!(
        expect_duplicate(err, what),
        stored[1],
        "{what}: the duplicate is b"
    );
    let what = "an append of a new id and a stored one";
    let err = append_err(&store, vec![c.clone(), a.clone()], None, what).await;
    assert_eq!(
        expect_duplicate(err, what),
        stored[0],
        "{what}: the duplicate is a"
    );
    let what = "the stored append plus a new event";
    let err = append_err(&store, vec![a, b, c.clone()], None, what).await;
    assert_reports_one_of(expect_duplicate(err, what), &stored, what);
    assert_unchanged(&store, &before, "an append with a partial id overlap").await;

    let position = append(&store, vec![c.clone()]).await;
    assert!(
        position.get() > last,
        "c's id stayed free and is appended after {last}"
    );
    let found = read(&store, &tagged(&["seat:3"]), ReadOptions::new()).await;
    assert_eq!(found.events.len(), 1, "c is stored once");
    assert_eq!(found.events[0].event, c, "c is stored as given");
}

/// An append that reuses stored ids with other content (data, type, tags
/// or order) fails with `DuplicateEventId` and writes nothing.
pub async fn same_ids_different_content_is_rejected<S: EventStore + 'static>(store: S) {
    let a = ev_data("Booked", &["seat:1"], "v1").with_id(id(1));
    let b = ev_data("Booked", &["seat:2"], "v2").with_id(id(2));
    let last = append(&store, vec![a.clone(), b.clone()]).await.get();
    let stored = [(id(1), last - 1), (id(2), last)];
    let before = read_everything(&store).await;

    let variants = [
        (
            "other data",
            ev_data("Booked", &["seat:1"], "v9").with_id(id(1)),
        ),
        (
            "another type",
            ev_data("Cancelled", &["seat:1"], "v1").with_id(id(1)),
        ),
        (
            "an extra tag",
            ev_data("Booked", &["seat:1", "vip"], "v1").with_id(id(1)),
        ),
        ("no tags", ev_data("Booked", &[], "v1").with_id(id(1))),
    ];
    for (difference, changed) in variants {
        let what = format!("a's id with {difference}");
        let err = append_err(&store, vec![changed.clone()], None, &what).await;
        assert_eq!(
            expect_duplicate(err, &what),
            stored[0],
            "{what}: the duplicate is a"
        );
        let what = format!("the stored pair with {difference} in a");
        let err = append_err(&store, vec![changed, b.clone()], None, &what).await;
        assert_reports_one_of(expect_duplicate(err, &what), &stored, &what);
    }
    let what = "the stored pair in reverse order";
    let err = append_err(&store, vec![b, a], None, what).await;
    assert_reports_one_of(expect_duplicate(err, what), &stored, what);
    assert_unchanged(&store, &before, "an append reusing ids with other content").await;
}

/// Repeating an append in which only some events carry ids is not
/// idempotent: the stored ids make it fail with `DuplicateEventId`.
pub async fn retry_of_append_with_some_ids_is_rejected<S: EventStore + 'static>(store: S) {
    let with_id = ev_data("Booked", &["seat:1"], "a").with_id(id(1));
    let without = ev_data("Noted", &["seat:1"], "x");
    let last = append(&store, vec![with_id.clone(), without.clone()])
        .await
        .get();
    let before = read_everything(&store).await;
    for (order, events) in [
        ("as before", vec![with_id.clone(), without.clone()]),
        ("reversed", vec![without, with_id]),
    ] {
        let what = format!("a repeat, {order}, of an append where one event has no id");
        let err = append_err(&store, events, None, &what).await;
        assert_eq!(
            expect_duplicate(err, &what),
            (id(1), last - 1),
            "{what}: the duplicate is the event with the id"
        );
    }
    assert_unchanged(&store, &before, "a repeat of a partly identified append").await;
}

/// Events without ids are never deduplicated: appending the same event
/// again stores it again.
pub async fn events_without_ids_are_not_deduplicated<S: EventStore + 'static>(store: S) {
    let event = ev_data("Ping", &["t"], "same");
    let first = append(&store, vec![event.clone()]).await;
    let second = append(&store, vec![event.clone()]).await;
    assert!(second > first, "the second append gets a new position");
    let both = append(&store, vec![event.clone(), event.clone()]).await;
    assert!(both > second, "an append of the same event twice is stored");
    let stored = read(&store, &tagged(&["t"]), ReadOptions::new()).await;
    assert_eq!(stored.events.len(), 4, "all four copies are stored");
    assert!(
        stored.events.iter().all(|e| e.event == event),
        "every copy is stored as given"
    );
}
