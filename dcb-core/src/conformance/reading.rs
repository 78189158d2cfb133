//! Reading: `after`, `limit`, direction, the head in each combination,
//! snapshots, `head()`, and reads larger than any batch.
//!
//! Most cases use the eight-event fixture described in
//! [`matching`](super::matching); its head is 8.

use futures_util::StreamExt;

use super::support::{
    FIXTURE_HEAD, append, condition, conflict, ev, ev_data, event_type, fixture, head, item, open,
    read, read_everything, read_numbers, stream_all, tagged, tags, typed,
};
use crate::{Bytes, EventRecord, EventStore, EventStream, Position, Query, ReadOptions, Uuid};

/// Reads of an empty store return nothing and the head `None`, whatever
/// the options; `head()` is `None` too.
pub async fn empty_store_reads_nothing<S: EventStore + 'static>(store: S) {
    assert_eq!(head(&store).await, None, "head() of an empty store");
    let queries = [Query::all(), tagged(&["course:1"])];
    let options = [
        ReadOptions::new(),
        ReadOptions::new().backwards(),
        ReadOptions::new().limit(5),
        ReadOptions::new().backwards().limit(1),
        ReadOptions::new().after(Position::new(3)),
        ReadOptions::new()
            .after(Position::new(3))
            .backwards()
            .limit(2),
    ];
    for query in &queries {
        for options in options {
            assert_eq!(
                read_numbers(&store, query, options).await,
                (vec![], None),
                "read of {query:?} with {options:?} in an empty store (positions, head)"
            );
        }
    }
}

/// Events read back equal the events appended: type, data (any bytes),
/// tags and id.
pub async fn events_round_trip<S: EventStore + 'static>(store: S) {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let appended = vec![
        EventRecord::new(event_type("Binary"), all_bytes)
            .with_tags(tags(&["z:last", "a:first", "m:middle", "a:first"]))
            .with_id(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
        EventRecord::new(event_type("Empty"), Bytes::new()),
        ev_data("Événement ✓", &["ключ:1", "emoji:🦀"], "{\"json\": [1, 2]}"),
    ];
    let last = append(&store, appended.clone()).await;
    assert_eq!(
        last.get(),
        3,
        "three events appended to an empty store end at 3"
    );
    let more = ev_data("Later", &["a:first"], vec![0_u8; 1000]);
    append(&store, vec![more.clone()]).await;

    let result = read_everything(&store).await;
    let read_back: Vec<&EventRecord> = result.events.iter().map(|e| &e.event).collect();
    let expected: Vec<&EventRecord> = appended.iter().chain([&more]).collect();
    assert_eq!(
        read_back, expected,
        "the events read back differ from those appended"
    );
    let first = &result.events[0];
    assert_eq!(
        first.tags().len(),
        3,
        "tags are a set: the duplicate is dropped"
    );
    assert_eq!(first.data().len(), 256, "data is stored byte for byte");

    let by_tag = read(&store, &tagged(&["a:first"]), ReadOptions::new()).await;
    let by_tag: Vec<&EventRecord> = by_tag.events.iter().map(|e| &e.event).collect();
    assert_eq!(
        by_tag,
        [&appended[0], &more],
        "a read by tag returns the full events"
    );
}

/// `head()` is `None` for an empty store, then the last appended position;
/// a failed append does not move it, and it agrees with a read's head.
pub async fn head_tracks_appends<S: EventStore + 'static>(store: S) {
    assert_eq!(head(&store).await, None, "head() of an empty store");
    let first = append(&store, vec![ev("A", &["x"])]).await;
    assert_eq!(
        head(&store).await,
        Some(first.get()),
        "head() after one append"
    );
    let second = append(&store, vec![ev("B", &["x"]), ev("C", &["y"]), ev("D", &[])]).await;
    assert_eq!(
        head(&store).await,
        Some(second.get()),
        "head() after an append of three events is the position it returned"
    );
    conflict(
        &store,
        vec![ev("E", &[])],
        condition(&tagged(&["x"]), None),
        "a condition on an existing tag",
    )
    .await;
    assert_eq!(
        head(&store).await,
        Some(second.get()),
        "head() after a failed append"
    );
    let result = read_everything(&store).await;
    assert_eq!(
        result.head,
        Some(second),
        "the head of a full read equals head()"
    );
}

/// A read's head is the snapshot's last position, not the last matching
/// event's, and not `None` when nothing matches.
pub async fn head_is_the_snapshot_not_the_last_match<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_eq!(
        read_numbers(&store, &tagged(&["course:1"]), ReadOptions::new()).await,
        (vec![1, 4, 7], FIXTURE_HEAD),
        "the head is the store's last position (8), not the last match (7)"
    );
    assert_eq!(
        read_numbers(&store, &tagged(&["course:404"]), ReadOptions::new()).await,
        (vec![], FIXTURE_HEAD),
        "a read that matches nothing still has the store's last position as head"
    );
    assert_eq!(
        read_numbers(
            &store,
            &typed(&["CourseRegistered"]),
            ReadOptions::new().backwards()
        )
        .await,
        (vec![2, 1], FIXTURE_HEAD),
        "a backwards read's head is the store's last position"
    );
}

/// `after` is exclusive and counts in store positions, matching or not.
pub async fn after_skips_earlier_events<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, u64, Vec<u64>); 5] = [
        (Query::all(), 4, vec![5, 6, 7, 8]),
        (Query::all(), 1, vec![2, 3, 4, 5, 6, 7, 8]),
        (tagged(&["course:1"]), 1, vec![4, 7]),
        (tagged(&["course:1"]), 3, vec![4, 7]),
        (tagged(&["course:1"]), 4, vec![7]),
    ];
    for (query, after, expected) in cases {
        assert_eq!(
            read_numbers(
                &store,
                &query,
                ReadOptions::new().after(Position::new(after))
            )
            .await,
            (expected, FIXTURE_HEAD),
            "read of {query:?} after {after} (positions, head)"
        );
    }
}

/// `after` at or beyond the last position reads nothing, both ways; the
/// head stays the snapshot's last position.
pub async fn after_at_or_beyond_the_head_reads_nothing<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    for query in [Query::all(), tagged(&["course:1"])] {
        for after in [8, 9, 1_000_000] {
            for options in [ReadOptions::new(), ReadOptions::new().backwards()] {
                let options = options.after(Position::new(after));
                assert_eq!(
                    read_numbers(&store, &query, options).await,
                    (vec![], FIXTURE_HEAD),
                    "read of {query:?} with {options:?} (positions, head)"
                );
            }
        }
    }
    assert_eq!(
        read_numbers(
            &store,
            &tagged(&["course:1"]),
            ReadOptions::new().after(Position::new(7))
        )
        .await,
        (vec![], FIXTURE_HEAD),
        "read of course:1 after its last match"
    );
}

/// A forward read cut short by its limit has the last returned position as
/// its head.
pub async fn forward_limit_cut_short_reports_last_returned<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, ReadOptions, Vec<u64>); 4] = [
        (Query::all(), ReadOptions::new().limit(3), vec![1, 2, 3]),
        (
            tagged(&["course:1"]),
            ReadOptions::new().limit(2),
            vec![1, 4],
        ),
        (
            Query::all(),
            ReadOptions::new().after(Position::new(2)).limit(3),
            vec![3, 4, 5],
        ),
        (
            typed(&["StudentJoined"]),
            ReadOptions::new().limit(1),
            vec![4],
        ),
    ];
    for (query, options, expected) in cases {
        let last = expected.last().copied();
        assert_eq!(
            read_numbers(&store, &query, options).await,
            (expected, last),
            "read of {query:?} with {options:?}: the head of a forward read stopped by its \
             limit is the last returned position (positions, head)"
        );
    }
}

/// A forward read whose limit is not reached has the snapshot's last
/// position as its head.
pub async fn forward_limit_not_reached_reports_snapshot_head<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, ReadOptions, Vec<u64>); 3] = [
        (
            tagged(&["course:1"]),
            ReadOptions::new().limit(10),
            vec![1, 4, 7],
        ),
        (
            Query::all(),
            ReadOptions::new().limit(100),
            (1..=8).collect(),
        ),
        (
            tagged(&["course:1"]),
            ReadOptions::new().after(Position::new(4)).limit(5),
            vec![7],
        ),
    ];
    for (query, options, expected) in cases {
        assert_eq!(
            read_numbers(&store, &query, options).await,
            (expected, FIXTURE_HEAD),
            "read of {query:?} with {options:?}: the limit was not reached, so the head is \
             the store's last position (positions, head)"
        );
    }
}

/// The positions and the head of one page.
type Page = (Vec<u64>, Option<u64>);

/// Paging forward with `after` = the previous head and a limit visits every
/// matching event once, in order, and ends with the store's head.
pub async fn paging_with_after_and_limit<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, usize, Vec<Page>); 2] = [
        (
            Query::all(),
            3,
            vec![
                (vec![1, 2, 3], Some(3)),
                (vec![4, 5, 6], Some(6)),
                (vec![7, 8], Some(8)),
                (vec![], Some(8)),
            ],
        ),
        (
            tagged(&["course:1"]),
            2,
            vec![(vec![1, 4], Some(4)), (vec![7], Some(8)), (vec![], Some(8))],
        ),
    ];
    for (query, limit, expected) in cases {
        let mut pages = Vec::new();
        let mut after = None;
        for _ in 0..expected.len() {
            let page = read_numbers(
                &store,
                &query,
                ReadOptions::new()
                    .after(after.and_then(Position::new))
                    .limit(limit),
            )
            .await;
            after = page.1;
            pages.push(page);
        }
        assert_eq!(
            pages, expected,
            "pages of {limit} of {query:?}, each after the previous page's head \
             (positions, head)"
        );
    }
}

/// A backwards read returns the matching events newest first, with the
/// store's last position as head.
pub async fn backwards_reads_newest_first<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    assert_eq!(
        read_numbers(&store, &Query::all(), ReadOptions::new().backwards()).await,
        (vec![8, 7, 6, 5, 4, 3, 2, 1], FIXTURE_HEAD),
        "backwards read of everything (positions, head)"
    );
    assert_eq!(
        read_numbers(
            &store,
            &tagged(&["student:a"]),
            ReadOptions::new().backwards()
        )
        .await,
        (vec![5, 4, 3], FIXTURE_HEAD),
        "backwards read of student:a (positions, head)"
    );
}

/// A backwards read with a limit returns the newest matching events; its
/// head stays the store's last position.
pub async fn backwards_limit_returns_the_newest<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, usize, Vec<u64>); 4] = [
        (Query::all(), 3, vec![8, 7, 6]),
        (tagged(&["course:1"]), 2, vec![7, 4]),
        (typed(&["CourseRegistered"]), 1, vec![2]),
        (Query::all(), 100, vec![8, 7, 6, 5, 4, 3, 2, 1]),
    ];
    for (query, limit, expected) in cases {
        assert_eq!(
            read_numbers(&store, &query, ReadOptions::new().backwards().limit(limit)).await,
            (expected, FIXTURE_HEAD),
            "backwards read of {query:?} with limit {limit} (positions, head)"
        );
    }
}

/// A backwards read with `after` stops before reaching `after`, and a limit
/// keeps the newest of those events.
pub async fn backwards_after_and_limit<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let back = ReadOptions::new().backwards();
    let cases: [(Query, ReadOptions, Vec<u64>); 5] = [
        (Query::all(), back.after(Position::new(4)), vec![8, 7, 6, 5]),
        (
            Query::all(),
            back.after(Position::new(4)).limit(2),
            vec![8, 7],
        ),
        (tagged(&["course:1"]), back.after(Position::new(4)), vec![7]),
        (
            tagged(&["course:1"]),
            back.after(Position::new(1)),
            vec![7, 4],
        ),
        (
            tagged(&["student:a"]),
            back.after(Position::new(2)).limit(2),
            vec![5, 4],
        ),
    ];
    for (query, options, expected) in cases {
        assert_eq!(
            read_numbers(&store, &query, options).await,
            (expected, FIXTURE_HEAD),
            "read of {query:?} with {options:?} (positions, head)"
        );
    }
}

/// While a stream is being read, a forward read's head is the last position
/// yielded so far and a backwards read's head is `None`.
pub async fn stream_head_before_the_end<S: EventStore + 'static>(store: S) {
    fixture(&store).await;
    let cases: [(Query, ReadOptions, Option<u64>); 4] = [
        (Query::all(), ReadOptions::new(), FIXTURE_HEAD),
        (tagged(&["course:1"]), ReadOptions::new(), FIXTURE_HEAD),
        (Query::all(), ReadOptions::new().limit(2), Some(2)),
        (
            tagged(&["course:1"]),
            ReadOptions::new().backwards(),
            FIXTURE_HEAD,
        ),
    ];
    for (query, options, final_head) in cases {
        let mut stream = open(&store, &query, options).await;
        assert_eq!(
            stream.head().map(Position::get),
            None,
            "head of {query:?} with {options:?} before anything was yielded"
        );
        let mut yielded = 0;
        while let Some(event) = stream.next().await {
            let event = event.unwrap_or_else(|e| panic!("read of {query:?} failed: {e}"));
            yielded += 1;
            let expected = if options.backwards {
                None
            } else {
                Some(event.position)
            };
            assert_eq!(
                stream.head(),
                expected,
                "head of {query:?} with {options:?} right after yielding {}",
                event.position
            );
        }
        assert!(
            yielded > 0,
            "read of {query:?} with {options:?} yielded nothing"
        );
        assert_eq!(
            stream.head().map(Position::get),
            final_head,
            "head of {query:?} with {options:?} once the stream has ended"
        );
    }
}

/// How many events the snapshot cases store before they start reading.
const SNAPSHOT_EVENTS: u64 = 1000;

/// Appends `SNAPSHOT_EVENTS` events tagged `t` in one append.
async fn snapshot_setup<S: EventStore>(store: &S) {
    let events = (1..=SNAPSHOT_EVENTS)
        .map(|n| ev_data("Snap", &["t"], n.to_string()))
        .collect();
    let last = append(store, events).await;
    assert_eq!(last.get(), SNAPSHOT_EVENTS, "the first append starts at 1");
}

/// Appends events that every read of the snapshot cases would match.
async fn append_during_read<S: EventStore>(store: &S) {
    append(store, (0..10).map(|_| ev("Snap", &["t"])).collect()).await;
    append(store, vec![ev("Snap", &["t", "late"])]).await;
}

/// Starts two reads of `query` with `options`, polls the first once,
/// appends matching events, then drains both: each must yield exactly the
/// events of the snapshot taken before, with its head.
async fn check_snapshot<S: EventStore>(store: &S, query: &Query, options: ReadOptions) {
    let before = read(store, query, options).await;
    let expected: Vec<u64> = before.events.iter().map(|e| e.position.get()).collect();
    assert!(
        expected.len() as u64 >= SNAPSHOT_EVENTS,
        "read of {query:?} with {options:?} before the test returned only {} events",
        expected.len()
    );
    let mut started = open(store, query, options).await;
    let mut unpolled = open(store, query, options).await;
    let first = match started.next().await {
        Some(Ok(event)) => event.position.get(),
        other => panic!("read of {query:?} with {options:?} yielded {other:?} first"),
    };
    assert_eq!(
        first, expected[0],
        "read of {query:?} with {options:?}: the first event"
    );
    append_during_read(store).await;
    for (name, stream, skip) in [
        ("a started", &mut started, 1),
        ("an unpolled", &mut unpolled, 0),
    ] {
        let mut positions = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => positions.push(event.position.get()),
                Err(e) => panic!("read of {query:?} with {options:?} failed: {e}"),
            }
        }
        assert!(
            positions == expected[skip..],
            "{name} read of {query:?} with {options:?} must yield the {} remaining events of \
             its snapshot, from {:?} to {:?}, and nothing appended later; got {} events from \
             {:?} to {:?}",
            expected.len() - skip,
            expected.get(skip),
            expected.last(),
            positions.len(),
            positions.first(),
            positions.last()
        );
        assert_eq!(
            stream.head(),
            before.head,
            "{name} read of {query:?} with {options:?}: the head is the snapshot's last position"
        );
    }
}

/// A forward read shows the store as it was when the read began: events
/// appended while it is consumed (or before it is first polled) are not
/// yielded, and the head is the snapshot's.
pub async fn read_is_a_snapshot_forward<S: EventStore + 'static>(store: S) {
    snapshot_setup(&store).await;
    check_snapshot(&store, &Query::all(), ReadOptions::new()).await;
    check_snapshot(&store, &tagged(&["t"]), ReadOptions::new()).await;
}

/// A backwards read shows the store as it was when the read began: it
/// starts from the snapshot's newest event, not one appended later.
pub async fn read_is_a_snapshot_backwards<S: EventStore + 'static>(store: S) {
    snapshot_setup(&store).await;
    let back = ReadOptions::new().backwards();
    check_snapshot(&store, &Query::all(), back).await;
    check_snapshot(&store, &tagged(&["t"]), back).await;
}

/// How many events the large-read cases store: more than one batch of any
/// reasonable store.
const LARGE: u64 = 5_000;

/// Appends `LARGE` events in one append: every event is tagged `bulk`,
/// every third also `third`; the data is the position.
async fn large_setup<S: EventStore>(store: &S) {
    let events = (1..=LARGE)
        .map(|n| {
            let tags: &[&str] = match (n % 3 == 0, n % 5 == 0) {
                (true, true) => &["bulk", "fifth", "third"],
                (true, false) => &["bulk", "third"],
                (false, true) => &["bulk", "fifth"],
                (false, false) => &["bulk"],
            };
            ev_data("Bulk", tags, n.to_string())
        })
        .collect();
    let last = append(store, events).await;
    assert_eq!(last.get(), LARGE, "the first append starts at 1");
}

/// Checks the positions of a large read and that each event's data is its
/// position.
fn check_large(result: &crate::ReadResult, expected: &[u64], head: u64, what: &str) {
    let positions: Vec<u64> = result.events.iter().map(|e| e.position.get()).collect();
    assert!(
        positions == expected,
        "{what}: expected {} events from {:?} to {:?}, got {} from {:?} to {:?}",
        expected.len(),
        expected.first(),
        expected.last(),
        positions.len(),
        positions.first(),
        positions.last()
    );
    for event in &result.events {
        assert_eq!(
            event.data().as_ref(),
            event.position.get().to_string().as_bytes(),
            "{what}: the event at {} carries another event's data",
            event.position
        );
    }
    assert_eq!(
        result.head.map(Position::get),
        Some(head),
        "{what}: the head"
    );
}

/// A forward read of thousands of events yields them all in order, through
/// the stream and collected, with the right head.
pub async fn large_read_forward<S: EventStore + 'static>(store: S) {
    large_setup(&store).await;
    let all: Vec<u64> = (1..=LARGE).collect();
    let thirds: Vec<u64> = (1..=LARGE).filter(|n| n % 3 == 0).collect();
    let cases: [(Query, ReadOptions, Vec<u64>, u64); 5] = [
        (Query::all(), ReadOptions::new(), all.clone(), LARGE),
        (tagged(&["bulk"]), ReadOptions::new(), all.clone(), LARGE),
        (tagged(&["third"]), ReadOptions::new(), thirds, LARGE),
        (
            Query::all(),
            ReadOptions::new().limit(4000),
            all[..4000].to_vec(),
            4000,
        ),
        (
            tagged(&["bulk"]),
            ReadOptions::new().after(Position::new(700)).limit(3000),
            all[700..3700].to_vec(),
            3700,
        ),
    ];
    for (query, options, expected, head) in cases {
        let result = read(&store, &query, options).await;
        check_large(
            &result,
            &expected,
            head,
            &format!("read of {query:?} with {options:?}"),
        );
    }
    let streamed = stream_all(&store, &Query::all(), ReadOptions::new()).await;
    check_large(&streamed, &all, LARGE, "a streamed read of everything");
    // Two items whose matches interleave and overlap, merged across batches.
    let either = tagged(&["third"]).or(item(&[], &["fifth"]));
    let expected: Vec<u64> = (1..=LARGE).filter(|n| n % 3 == 0 || n % 5 == 0).collect();
    let streamed = stream_all(&store, &either, ReadOptions::new()).await;
    check_large(&streamed, &expected, LARGE, "a streamed read of two items");
    let result = read(&store, &either, ReadOptions::new()).await;
    check_large(&result, &expected, LARGE, "a read of two items");
}

/// A backwards read of thousands of events yields them all newest first,
/// through the stream and collected, with the store's last position as head.
pub async fn large_read_backwards<S: EventStore + 'static>(store: S) {
    large_setup(&store).await;
    let all: Vec<u64> = (1..=LARGE).rev().collect();
    let thirds: Vec<u64> = (1..=LARGE).rev().filter(|n| n % 3 == 0).collect();
    let back = ReadOptions::new().backwards();
    let cases: [(Query, ReadOptions, Vec<u64>); 5] = [
        (Query::all(), back, all.clone()),
        (tagged(&["bulk"]), back, all.clone()),
        (tagged(&["third"]), back, thirds),
        (Query::all(), back.limit(4000), all[..4000].to_vec()),
        (
            tagged(&["bulk"]),
            back.after(Position::new(700)).limit(3000),
            all[..3000].to_vec(),
        ),
    ];
    for (query, options, expected) in cases {
        let result = read(&store, &query, options).await;
        check_large(
            &result,
            &expected,
            LARGE,
            &format!("read of {query:?} with {options:?}"),
        );
    }
    let either = tagged(&["third"]).or(item(&[], &["fifth"]));
    let expected: Vec<u64> = (1..=LARGE)
        .rev()
        .filter(|n| n % 3 == 0 || n % 5 == 0)
        .collect();
    let streamed = stream_all(&store, &either, back).await;
    check_large(
        &streamed,
        &expected,
        LARGE,
        "a streamed backwards read of two items",
    );
    let streamed = stream_all(&store, &Query::all(), back).await;
    check_large(
        &streamed,
        &all,
        LARGE,
        "a streamed backwards read of everything",
    );
}
