//! `EmbeddedStore::open_read_only_scanning`: every read of a store opened
//! without an index answers what the writer's own reads answer — across
//! many segments, and within one segment long enough to be marked — for
//! every shape of query, from every position, forwards and backwards, with
//! and without a limit; and it reads the events appended after it opened.

use std::time::Duration;

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::{EventRecord, EventStore, EventType, Position, Query, QueryItem, ReadOptions, Tag};

use crate::support::block_on;

const TYPES: [&str; 3] = ["Registered", "Joined", "Left"];

/// Event `i`: one of three types, tagged with one of 7 courses and one of
/// 11 students, about 300 bytes of log.
fn event(i: u64) -> EventRecord {
    EventRecord::new(
        EventType::from_static(TYPES[(i % 3) as usize]),
        format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(250)),
    )
    .with_tags([
        Tag::new(format!("course:{}", i % 7)).unwrap(),
        Tag::new(format!("student:{}", i % 11)).unwrap(),
    ])
}

fn queries() -> Vec<Query> {
    let course = |n: u64| Tag::new(format!("course:{n}")).unwrap();
    let student = |n: u64| Tag::new(format!("student:{n}")).unwrap();
    vec![
        Query::all(),
        Query::from(QueryItem::new().types([EventType::from_static("Joined")])),
        Query::from(QueryItem::new().tags([course(3)])),
        Query::from(QueryItem::new().tags([course(3), student(5)])),
        Query::from(
            QueryItem::new()
                .types([
                    EventType::from_static("Joined"),
                    EventType::from_static("Left"),
                ])
                .tags([course(2)]),
        )
        .or(QueryItem::new().tags([student(4)])),
        Query::from(QueryItem::new().tags([Tag::new("course:none").unwrap()])),
    ]
}

/// Appends `n` events in batches of 1 to 9, then checks every read of a
/// scanning reader against the writer's.
fn reads_match(options: &EmbeddedOptions, n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let writer = EmbeddedStore::open_with(dir.path(), options).unwrap();
    block_on(async {
        let mut i = 0;
        while i < n {
            let batch = (i % 9 + 1).min(n - i);
            let events = (i..i + batch).map(event).collect();
            writer.append(events, None).await.unwrap();
            i += batch;
        }
        let reader = EmbeddedStore::open_read_only_scanning(dir.path()).unwrap();
        assert_eq!(reader.len(), writer.len());
        let afters = [
            None,
            Some(1),
            Some(n / 3),
            Some(n / 2 + 1),
            Some(n - 1),
            Some(n),
        ];
        for query in queries() {
            for after in afters {
                let after = after.and_then(Position::new);
                for limit in [None, Some(1), Some(5), Some(1000)] {
                    for backwards in [false, true] {
                        let mut options = ReadOptions::new().after(after);
                        if let Some(limit) = limit {
                            options = options.limit(limit);
                        }
                        if backwards {
                            options = options.backwards();
                        }
                        let expected = writer.read_to_end(&query, options).await.unwrap();
                        let read = reader.read_to_end(&query, options).await.unwrap();
                        assert_eq!(
                            read.events, expected.events,
                            "{query:?} after {after:?}, limit {limit:?}, backwards {backwards}"
                        );
                        assert_eq!(read.head, expected.head);
                    }
                }
            }
        }
        // What the writer appends after the open is read as well.
        writer.append(vec![event(n)], None).await.unwrap();
        let seen = async {
            while reader.head().await.unwrap() != Position::new(n + 1) {
                let head = reader.head().await.unwrap();
                reader.wait_for_append(head).await.unwrap();
            }
        };
        // Only stops a hung test: the follower looks every 50 ms.
        tokio::time::timeout(Duration::from_mins(1), seen)
            .await
            .expect("the reader saw the append");
        let query =
            Query::from(QueryItem::new().tags([Tag::new(format!("course:{}", n % 7)).unwrap()]));
        assert_eq!(
            reader
                .read_to_end(&query, ReadOptions::new())
                .await
                .unwrap()
                .events,
            writer
                .read_to_end(&query, ReadOptions::new())
                .await
                .unwrap()
                .events
        );
        reader.close();
    });
}

#[test]
fn reads_across_many_segments_match_the_writers() {
    reads_match(&EmbeddedOptions::default().segment_size(16 << 10), 700);
}

#[test]
fn reads_within_a_long_marked_segment_match_the_writers() {
    // About 3.6 MiB in one segment: marks 1 MiB apart.
    reads_match(&EmbeddedOptions::default(), 12_000);
}
