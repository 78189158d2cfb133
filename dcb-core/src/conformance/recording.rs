//! What a store records beside an event: the time it recorded it and the
//! event's metadata.
//!
//! Every event a store returns carries [`SequencedEvent::recorded_at`],
//! set by the store at append, never decreasing along positions, the same
//! for every event of one append; and its [`Metadata`] exactly as
//! appended. Metadata is never matched by a query or a condition, and an
//! idempotent repeat does not compare it.

use std::time::Duration;

use super::support::{
    append, append_err, append_if, assert_unchanged, condition, ev, ev_data, expect_invalid, read,
    read_everything, stream_all, tagged,
};
use crate::{
    EventRecord, EventStore, InvalidInput, MAX_NAME_LEN, Metadata, Query, ReadOptions, ReadResult,
    SequencedEvent, Timestamp, Uuid,
};

/// How far a recorded time may be from the test's clock: the store's clock
/// may be another machine's (a database server's), so only a time in the
/// wrong unit or from the wrong source is caught.
const CLOCK_SKEW: Duration = Duration::from_hours(1);

/// Metadata as rich as the limits allow: keys and values beyond ASCII, an
/// empty value, a key of the longest length.
fn rich_metadata() -> Metadata {
    Metadata::new()
        .with(Metadata::CORRELATION, "req-7f3a")
        .with("utilisateur", "Zoë ✓ 東京")
        .with("empty", "")
        .with("k".repeat(MAX_NAME_LEN), "v".repeat(200))
}

/// Checks that `events` carry recorded times, never decreasing along
/// positions, and within [`CLOCK_SKEW`] of `since..=until`.
fn assert_times(events: &[SequencedEvent], since: Timestamp, until: Timestamp, what: &str) {
    let mut previous: Option<Timestamp> = None;
    for event in events {
        let Some(at) = event.recorded_at else {
            panic!("{what}: event {} carries no recorded time", event.position);
        };
        assert!(
            at >= since.saturating_sub(CLOCK_SKEW) && at <= until.saturating_add(CLOCK_SKEW),
            "{what}: event {} was recorded at {at}, far from the test's clock ({since} to {until})",
            event.position
        );
        if let Some(previous) = previous {
            assert!(
                at >= previous,
                "{what}: event {} was recorded at {at}, before the event before it ({previous})",
                event.position
            );
        }
        previous = Some(at);
    }
}

/// Metadata is stored with its event and read back exactly — by a read,
/// a stream, a backwards read and a limited one; an event without
/// metadata reads back without.
pub async fn metadata_round_trips<S: EventStore + 'static>(store: S) {
    let plain = ev_data("Plain", &["case:1"], "p");
    let rich = ev_data("Rich", &["case:1"], "r").with_metadata(rich_metadata());
    let one = ev("One", &[]).with_metadata([("user", "alice")]);
    append(&store, vec![plain.clone(), rich.clone()]).await;
    append(&store, vec![one.clone()]).await;
    let want = [plain, rich, one];
    let all = read_everything(&store).await;
    let got: Vec<&EventRecord> = all.events.iter().map(|e| &e.event).collect();
    assert_eq!(
        got,
        want.iter().collect::<Vec<_>>(),
        "the events read back, metadata and all"
    );
    for event in &all.events {
        assert_eq!(
            event.metadata(),
            want[usize::try_from(event.position.get() - 1).unwrap_or(0)].metadata(),
            "the metadata of event {}",
            event.position
        );
    }
    let backwards = read(&store, &Query::all(), ReadOptions::new().backwards()).await;
    assert_eq!(
        backwards.events.first().map(|e| e.metadata().clone()),
        Some(Metadata::new().with("user", "alice")),
        "a backwards read returns metadata"
    );
    let limited = read(&store, &tagged(&["case:1"]), ReadOptions::new().limit(2)).await;
    assert_eq!(
        limited.events.get(1).map(|e| e.metadata().clone()),
        Some(rich_metadata()),
        "a read by tag returns metadata"
    );
}

/// A query or a condition never matches metadata: not by a tag equal to a
/// key, a value or `key:value`.
pub async fn metadata_is_never_matched<S: EventStore + 'static>(store: S) {
    let event = ev("Tagged", &["course:1"]).with_metadata([
        ("student", "student:9"),
        ("course:2", "x"),
        ("user", "course:3"),
    ]);
    append(&store, vec![event]).await;
    for tag in ["student:9", "course:2", "course:3", "user:course:3", "user"] {
        let found = read(&store, &tagged(&[tag]), ReadOptions::new()).await;
        assert!(
            found.events.is_empty(),
            "a query for tag {tag} matches an event that carries it only in its metadata"
        );
        append_if(
            &store,
            vec![ev("Decided", &[])],
            condition(&tagged(&[tag]), None),
        )
        .await;
    }
}

/// Every returned event carries the time the store recorded it: the same
/// for every event of one append, never decreasing along positions, near
/// the test's clock — whether read, streamed, read backwards or read by a
/// query that skips positions.
pub async fn times_are_recorded_and_never_decrease<S: EventStore + 'static>(store: S) {
    let since = Timestamp::now();
    for round in 0..20 {
        let events = (0..=round % 3)
            .map(|i| ev("Ticked", &[if i % 2 == 0 { "side:a" } else { "side:b" }]))
            .collect();
        append(&store, events).await;
    }
    let until = Timestamp::now();
    let all = read_everything(&store).await;
    assert_times(&all.events, since, until, "a read of everything");
    let streamed = stream_all(&store, &Query::all(), ReadOptions::new()).await;
    assert_eq!(streamed, all, "a stream returns the times a read does");
    let backwards = read(&store, &Query::all(), ReadOptions::new().backwards()).await;
    let mut reversed = backwards.events.clone();
    reversed.reverse();
    assert_eq!(
        reversed, all.events,
        "a backwards read returns the same times"
    );
    let side_b = read(&store, &tagged(&["side:b"]), ReadOptions::new()).await;
    assert_times(&side_b.events, since, until, "a read by tag");
    for event in &side_b.events {
        let same = all.events.iter().find(|e| e.position == event.position);
        assert_eq!(
            same.map(|e| e.recorded_at),
            Some(event.recorded_at),
            "event {} has one recorded time, however it is read",
            event.position
        );
    }
    // The events of one append were recorded at one time.
    let at = append(&store, vec![ev("Pair", &[]), ev("Pair", &[])]).await;
    let pair = read(
        &store,
        &Query::all(),
        ReadOptions::new().after(crate::Position::new(at.get() - 2)),
    )
    .await;
    assert_eq!(pair.events.len(), 2, "the pair just appended");
    assert_eq!(
        pair.events[0].recorded_at, pair.events[1].recorded_at,
        "the events of one append are recorded at one time"
    );
}

/// Times never decrease along positions under concurrent appends either.
pub async fn times_never_decrease_under_concurrent_appends<S: EventStore + 'static>(store: S) {
    let store = std::sync::Arc::new(store);
    let since = Timestamp::now();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..25 {
                    let tag = format!("writer:{writer}");
                    let event = ev_data("Raced", &[tag.as_str()], format!("{n}"));
                    if let Err(e) = store.append(vec![event], None).await {
                        panic!("writer {writer}, append {n}: {e}");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        super::support::join(writer).await;
    }
    let until = Timestamp::now();
    let all = read_everything(&*store).await;
    assert_eq!(all.events.len(), 200, "every append is stored");
    assert_times(
        &all.events,
        since,
        until,
        "appends of eight writers at once",
    );
}

/// An idempotent repeat with other metadata returns the original position
/// and leaves the stored event, with its first metadata, as it was.
pub async fn a_repeat_keeps_the_first_metadata<S: EventStore + 'static>(store: S) {
    let id = Uuid::from_u128(0x00dc_b025);
    let first = ev("Submitted", &["form:1"])
        .with_id(id)
        .with_metadata([(Metadata::CORRELATION, "first")]);
    let original = append(&store, vec![first.clone()]).await;
    let before = read_everything(&store).await;
    let again = first
        .clone()
        .with_metadata([(Metadata::CORRELATION, "retry")]);
    match store.append(vec![again], None).await {
        Ok(position) => assert_eq!(
            position, original,
            "a repeat with other metadata returns the original position"
        ),
        Err(e) => panic!("a repeat with other metadata must succeed: {e} ({e:?})"),
    }
    assert_unchanged(&store, &before, "a repeat with other metadata").await;
    assert_eq!(
        before.events[0].metadata().correlation(),
        Some("first"),
        "the stored event keeps the metadata it was first appended with"
    );
}

/// Metadata over the limit (4 KiB by default), with an empty or over-long
/// key, or holding a NUL character is refused as invalid input, and nothing
/// is written.
pub async fn invalid_metadata_is_rejected<S: EventStore + 'static>(store: S) {
    append(&store, vec![ev("Before", &[])]).await;
    let before: ReadResult = read_everything(&store).await;
    let limit = crate::Limits::DEFAULT_MAX_METADATA_SIZE;
    let cases = [
        (
            "metadata one byte over the limit",
            Metadata::new().with("k", "v".repeat(limit)),
        ),
        ("an empty key", Metadata::new().with("", "v")),
        ("a NUL in a value", Metadata::new().with("k", "a\0b")),
        ("a NUL in a key", Metadata::new().with("k\0", "v")),
        (
            "a key over the longest name",
            Metadata::new().with("k".repeat(MAX_NAME_LEN + 1), ""),
        ),
    ];
    for (what, metadata) in cases {
        let events = vec![ev("Fine", &[]), ev("Bad", &[]).with_metadata(metadata)];
        let err = append_err(&store, events, None, what).await;
        match expect_invalid(err, what) {
            InvalidInput::MetadataTooLarge { index: 1, .. }
            | InvalidInput::BadMetadataKey { index: 1, .. }
            | InvalidInput::NulInMetadata { index: 1, .. } => {}
            other => panic!("{what}: expected a metadata error on event 1, got {other:?}"),
        }
        assert_unchanged(&store, &before, what).await;
    }
    let at_limit = Metadata::new().with("k", "v".repeat(limit - 1));
    append(&store, vec![ev("AtTheLimit", &[]).with_metadata(at_limit)]).await;
}
