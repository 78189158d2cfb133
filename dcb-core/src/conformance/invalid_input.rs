//! Input that every store rejects, before it checks or writes anything.
//!
//! The store must enforce the default [`Limits`]: events of at most 1 MiB
//! and 1 024 tags, appends of at most 100 000 events and 64 MiB.

use super::support::{
    append, append_err, assert_unchanged, condition, ev, ev_data, event_type, expect_invalid,
    fixture, head, read, read_everything, tag, tagged,
};
use crate::{
    EventRecord, EventStore, EventType, InvalidInput, Limits, MAX_NAME_LEN, NameKind, NameProblem,
    Position, Query, ReadError, ReadOptions, Tag, Uuid,
};

/// An append without events fails with `EmptyAppend` and writes nothing.
pub async fn empty_append_is_rejected<S: EventStore + 'static>(store: S) {
    for condition in [None, Some(condition(&Query::all(), None))] {
        let what = format!("an empty append with condition {condition:?}");
        let err = append_err(&store, vec![], condition, &what).await;
        assert_eq!(
            expect_invalid(err, &what),
            InvalidInput::EmptyAppend,
            "{what}"
        );
        assert_eq!(head(&store).await, None, "{what} must write nothing");
    }
    append(&store, vec![ev("A", &[])]).await;
    let before = read_everything(&store).await;
    let what = "an empty append to a non-empty store";
    let err = append_err(&store, vec![], None, what).await;
    assert_eq!(
        expect_invalid(err, what),
        InvalidInput::EmptyAppend,
        "{what}"
    );
    assert_unchanged(&store, &before, what).await;
}

/// An append of one event more than the limit fails with `TooManyEvents`
/// and writes nothing; an append of exactly the limit succeeds.
pub async fn too_many_events_are_rejected<S: EventStore + 'static>(store: S) {
    let limit = Limits::DEFAULT_MAX_EVENTS_PER_APPEND;
    let tiny = EventRecord::new(event_type("T"), "");
    let mut events = vec![tiny; limit + 1];
    let what = format!("an append of {} events", limit + 1);
    let err = append_err(&store, events.clone(), None, &what).await;
    assert_eq!(
        expect_invalid(err, &what),
        InvalidInput::TooManyEvents {
            count: limit + 1,
            limit
        },
        "{what}"
    );
    assert_eq!(head(&store).await, None, "{what} must write nothing");

    events.pop();
    let last = append(&store, events).await;
    assert_eq!(
        last.get(),
        limit as u64,
        "an append of exactly {limit} events is accepted, at positions 1..={limit}"
    );
}

/// An append containing an event over the size limit fails with
/// `EventTooLarge` naming it and writes nothing; an event of exactly the
/// limit succeeds. The size counts data, type and tags.
pub async fn oversized_event_is_rejected<S: EventStore + 'static>(store: S) {
    let limit = Limits::DEFAULT_MAX_EVENT_SIZE;
    let big = event_type("Big");
    let sized = |size: usize, tags: &[&str]| {
        let overhead = big.as_str().len() + tags.iter().map(|t| t.len()).sum::<usize>();
        EventRecord::new(big.clone(), vec![7_u8; size - overhead])
            .with_tags(super::support::tags(tags))
    };
    let small = ev("Small", &["ok"]);
    for tags in [&[][..], &["size:counts-tags", "too"][..]] {
        let oversized = sized(limit + 1, tags);
        assert_eq!(oversized.size(), limit + 1, "the suite's oversized event");
        let what = format!("an append whose second event is {} bytes", limit + 1);
        let err = append_err(&store, vec![small.clone(), oversized], None, &what).await;
        assert_eq!(
            expect_invalid(err, &what),
            InvalidInput::EventTooLarge {
                index: 1,
                event_type: big.clone(),
                size: limit + 1,
                limit
            },
            "{what} with tags {tags:?}"
        );
        assert_eq!(head(&store).await, None, "{what} must write nothing");
    }
    let largest = sized(limit, &["size:counts-tags"]);
    let position = append(&store, vec![small, largest.clone()]).await;
    assert_eq!(
        position.get(),
        2,
        "an event of exactly {limit} bytes is accepted"
    );
    let stored = read(&store, &tagged(&["size:counts-tags"]), ReadOptions::new()).await;
    assert!(
        stored.events.len() == 1 && stored.events[0].event == largest,
        "the largest event is stored whole"
    );
}

/// An append containing an event with one tag over the limit fails with
/// `TooManyTags` naming it and writes nothing; an event with exactly the
/// limit is accepted and read back whole.
pub async fn too_many_tags_are_rejected<S: EventStore + 'static>(store: S) {
    let limit = Limits::DEFAULT_MAX_TAGS_PER_EVENT;
    let many = event_type("Many");
    let tagged_with = |count: usize| {
        let names: Vec<String> = (0..count).map(|i| format!("t:{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        EventRecord::new(many.clone(), "").with_tags(super::support::tags(&names))
    };
    let what = format!("an append whose second event has {} tags", limit + 1);
    let err = append_err(
        &store,
        vec![ev("Small", &["ok"]), tagged_with(limit + 1)],
        None,
        &what,
    )
    .await;
    assert_eq!(
        expect_invalid(err, &what),
        InvalidInput::TooManyTags {
            index: 1,
            event_type: many.clone(),
            count: limit + 1,
            limit
        },
        "{what}"
    );
    assert_eq!(head(&store).await, None, "{what} must write nothing");

    let largest = tagged_with(limit);
    append(&store, vec![largest.clone()]).await;
    let stored = read(&store, &tagged(&["t:0", "t:1023"]), ReadOptions::new()).await;
    assert!(
        stored.events.len() == 1 && stored.events[0].event == largest,
        "an event with exactly {limit} tags is stored whole"
    );
}

/// An append whose events together are over the size limit fails with
/// `AppendTooLarge` and writes nothing, although each event is within its
/// own limit; an append of exactly the limit is accepted.
pub async fn oversized_append_is_rejected<S: EventStore + 'static>(store: S) {
    let limit = Limits::DEFAULT_MAX_APPEND_SIZE;
    let per_event = Limits::DEFAULT_MAX_EVENT_SIZE;
    let count = limit / per_event;
    let full = event_type("Full");
    let event = EventRecord::new(full.clone(), vec![1_u8; per_event - full.as_str().len()]);
    let mut events = vec![event; count];
    events.push(ev("T", &[]));
    let what = format!("an append of {} bytes", limit + 1);
    let err = append_err(&store, events.clone(), None, &what).await;
    assert_eq!(
        expect_invalid(err, &what),
        InvalidInput::AppendTooLarge {
            size: limit + 1,
            limit
        },
        "{what}"
    );
    assert_eq!(head(&store).await, None, "{what} must write nothing");

    events.pop();
    let last = append(&store, events).await;
    assert_eq!(
        last.get(),
        count as u64,
        "an append of exactly {limit} bytes is accepted"
    );
}

/// An append that carries one id twice fails with
/// `DuplicateEventIdInAppend` naming the second occurrence, and writes
/// nothing.
pub async fn duplicate_id_in_append_is_rejected<S: EventStore + 'static>(store: S) {
    let repeated = Uuid::from_u128(0xdcb1);
    let other = Uuid::from_u128(0xdcb2);
    let events = vec![
        ev_data("A", &["x"], "0").with_id(repeated),
        ev_data("B", &["x"], "1").with_id(other),
        ev_data("C", &["x"], "2"),
        ev_data("D", &["x"], "3").with_id(repeated),
    ];
    let what = "an append with one id twice";
    let err = append_err(&store, events.clone(), None, what).await;
    assert_eq!(
        expect_invalid(err, what),
        InvalidInput::DuplicateEventIdInAppend {
            id: repeated,
            index: 3
        },
        "{what}"
    );
    assert_eq!(head(&store).await, None, "{what} must write nothing");
    let first_three = events[..3].to_vec();
    let last = append(&store, first_three).await;
    assert_eq!(
        last.get(),
        3,
        "the ids of the rejected append stayed free: its first three events append as new"
    );
}

/// Invalid input is reported as such even when the append's condition
/// would fail or its ids are stored: input is checked first.
pub async fn invalid_input_is_reported_before_the_condition<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let stored_id = Uuid::from_u128(0xdcb3);
    let with_id = ev("Identified", &["course:1"]).with_id(stored_id);
    append(&store, vec![with_id.clone()]).await;
    let before = read_everything(&store).await;
    let failing = || Some(condition(&tagged(&["course:1"]), None));
    let oversized = EventRecord::new(
        event_type("Big"),
        vec![0_u8; Limits::DEFAULT_MAX_EVENT_SIZE],
    );

    let what = "an empty append with a failing condition";
    let err = append_err(&store, vec![], failing(), what).await;
    assert_eq!(
        expect_invalid(err, what),
        InvalidInput::EmptyAppend,
        "{what}"
    );

    let what = "an oversized event with a failing condition";
    let err = append_err(&store, vec![oversized], failing(), what).await;
    assert!(
        matches!(
            expect_invalid(err, what),
            InvalidInput::EventTooLarge { index: 0, .. }
        ),
        "{what}: expected EventTooLarge for event 0"
    );

    let what = "a stored id twice in one append";
    let err = append_err(&store, vec![with_id.clone(), with_id], failing(), what).await;
    assert_eq!(
        expect_invalid(err, what),
        InvalidInput::DuplicateEventIdInAppend {
            id: stored_id,
            index: 1
        },
        "{what}: the duplicate within the append is reported, not the stored id"
    );
    assert_unchanged(&store, &before, "an invalid append").await;
}

/// A read with a limit of zero fails with `ZeroLimit`, whatever the other
/// options, through `read` and `read_to_end`.
pub async fn zero_limit_is_rejected<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let options = [
        ReadOptions::new().limit(0),
        ReadOptions::new().backwards().limit(0),
        ReadOptions::new().after(Position::new(3)).limit(0),
    ];
    for query in [Query::all(), tagged(&["course:1"])] {
        for options in options {
            let what = format!("a read of {query:?} with {options:?}");
            match store.read(&query, options).await {
                Ok(_) => panic!("{what}: read must fail with ZeroLimit, it succeeded"),
                Err(ReadError::InvalidInput(InvalidInput::ZeroLimit)) => {}
                Err(e) => panic!("{what}: read must fail with ZeroLimit, got {e:?}"),
            }
            match store.read_to_end(&query, options).await {
                Ok(result) => panic!(
                    "{what}: read_to_end must fail with ZeroLimit, it returned {} events",
                    result.events.len()
                ),
                Err(ReadError::InvalidInput(InvalidInput::ZeroLimit)) => {}
                Err(e) => panic!("{what}: read_to_end must fail with ZeroLimit, got {e:?}"),
            }
        }
    }
}

/// Empty, overlong and control-character names are rejected when tags and
/// types are built; the longest valid names round-trip through the store.
pub async fn invalid_names_are_rejected<S: EventStore + 'static>(store: S) {
    let too_long = "x".repeat(MAX_NAME_LEN + 1);
    let tag_cases = [
        ("", NameProblem::Empty),
        ("course\n1", NameProblem::ControlCharacter { offset: 6 }),
        ("\0", NameProblem::ControlCharacter { offset: 0 }),
        (
            too_long.as_str(),
            NameProblem::TooLong {
                len: MAX_NAME_LEN + 1,
            },
        ),
    ];
    for (name, problem) in tag_cases {
        let err = Tag::new(name).expect_err("the tag is invalid");
        assert_eq!(
            (err.kind, err.problem, err.value.as_str()),
            (NameKind::Tag, problem, name),
            "Tag::new({name:?})"
        );
        let err = EventType::new(name).expect_err("the type is invalid");
        assert_eq!(
            (err.kind, err.problem, err.value.as_str()),
            (NameKind::EventType, problem, name),
            "EventType::new({name:?})"
        );
    }
    let longest_tag = tag(&"t".repeat(MAX_NAME_LEN));
    let longest_type = event_type(&"T".repeat(MAX_NAME_LEN));
    let event = EventRecord::new(longest_type, "x").with_tags([longest_tag.clone()]);
    append(&store, vec![event.clone()]).await;
    let found = read(
        &store,
        &Query::from(crate::QueryItem::new().tags([longest_tag])),
        ReadOptions::new(),
    )
    .await;
    assert!(
        found.events.len() == 1 && found.events[0].event == event,
        "an event with names of {MAX_NAME_LEN} bytes is stored and found by its tag"
    );
}
