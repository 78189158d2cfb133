//! `EmbeddedStore::open_read_only` and `open_read_only_scanning`: reading a
//! store that a writer has open. Each test runs with both opens.
//!
//! - It opens while a writer holds the lock, and sees what the writer
//!   appends afterwards, in reads and in a subscription, across new
//!   segments.
//! - It follows a record that is only half written when it looks, once the
//!   rest is written.
//! - It changes no file: a torn tail is skipped, not cut off; damage before
//!   the tail is still `OpenError::Corrupt`.
//! - It refuses appends, and a missing or non-store directory (which it
//!   does not create).
//!
//! Waiting for the follower goes through a subscription, which returns as
//! soon as the event is there; the timeouts only stop a hung test.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
use dcb_core::{
    AppendError, EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, ReadResult,
    SequencedEvent, Subscription, Tag,
};

use crate::support::{block_on, segments, snapshot};

/// The two read-only opens, by name.
/// A read-only open.
type Open = fn(&Path) -> Result<EmbeddedStore, OpenError>;

const OPENS: [(&str, Open); 2] = [("in memory", in_memory), ("scanning", scanning)];

fn in_memory(dir: &Path) -> Result<EmbeddedStore, OpenError> {
    EmbeddedStore::open_read_only(dir)
}

fn scanning(dir: &Path) -> Result<EmbeddedStore, OpenError> {
    EmbeddedStore::open_read_only_scanning(dir)
}

/// How long a test waits for an event before it calls the follower hung.
const HANG: Duration = Duration::from_mins(1);

fn event(i: u64) -> EventRecord {
    EventRecord::new(
        EventType::from_static(if i.is_multiple_of(2) { "Even" } else { "Odd" }),
        format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(100)),
    )
    .with_tags([Tag::new(format!("n:{i}")).unwrap(), Tag::from_static("all")])
}

async fn all(store: &EmbeddedStore) -> ReadResult {
    store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .unwrap()
}

async fn next(subscription: &mut Subscription<EmbeddedStore>) -> SequencedEvent {
    tokio::time::timeout(HANG, subscription.next())
        .await
        .expect("the read-only store saw the append")
        .unwrap()
}

#[test]
fn it_follows_a_writer_that_has_the_store_open_across_segments() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().segment_size(4096);
        let writer = EmbeddedStore::open_with(dir.path(), &options).unwrap();
        block_on(async {
            for i in 1..=3 {
                writer.append(vec![event(i)], None).await.unwrap();
            }
            let reader = open(dir.path()).unwrap();
            assert!(reader.is_read_only() && !writer.is_read_only());
            assert_eq!(reader.recovery().events, 3);
            assert_eq!(all(&reader).await, all(&writer).await);

            let odd = Query::from(QueryItem::new().types([EventType::from_static("Odd")]));
            let mut everything = reader.subscribe(Query::all(), None);
            let mut odd_ones = reader.subscribe(odd.clone(), None);
            // Enough events for several 4 KiB segments, some appends of many.
            for i in 4..=100u64 {
                let events = if i.is_multiple_of(10) {
                    vec![event(i), event(i + 1000)]
                } else {
                    vec![event(i)]
                };
                writer.append(events, None).await.unwrap();
            }
            assert!(segments(dir.path()).len() > 3, "the writer rotated");

            let expected = all(&writer).await;
            for stored in &expected.events {
                assert_eq!(&next(&mut everything).await, stored);
            }
            let expected_odd = writer.read_to_end(&odd, ReadOptions::new()).await.unwrap();
            for stored in &expected_odd.events {
                assert_eq!(&next(&mut odd_ones).await, stored);
            }
            // The subscription saw the last event, so reads see everything.
            assert_eq!(all(&reader).await, expected);
            assert_eq!(reader.head().await.unwrap(), expected.head);
        });
    }
}

#[test]
fn it_takes_a_half_written_record_once_it_is_whole() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let writer = EmbeddedStore::open(dir.path()).unwrap();
            writer.append(vec![event(1)], None).await.unwrap();
            writer.close();
            let segment = segments(dir.path()).pop().unwrap();
            let before = fs::read(&segment).unwrap();

            // The record of a second append, as the writer would write it.
            let writer = EmbeddedStore::open(dir.path()).unwrap();
            writer.append(vec![event(2)], None).await.unwrap();
            let expected = all(&writer).await;
            writer.close();
            let after = fs::read(&segment).unwrap();
            let record = &after[before.len()..];

            // Half of it is on disk when the reader opens, the rest comes later.
            fs::write(&segment, &before).unwrap();
            let half = record.len() / 2;
            fs::OpenOptions::new()
                .append(true)
                .open(&segment)
                .unwrap()
                .write_all(&record[..half])
                .unwrap();
            let reader = open(dir.path()).unwrap();
            assert_eq!(reader.len(), 1);
            assert_eq!(
                fs::read(&segment).unwrap().len(),
                before.len() + half,
                "the half record is left alone"
            );
            let mut subscription = reader.subscribe(Query::all(), reader.head().await.unwrap());
            fs::OpenOptions::new()
                .append(true)
                .open(&segment)
                .unwrap()
                .write_all(&record[half..])
                .unwrap();
            assert_eq!(next(&mut subscription).await, expected.events[1]);
            assert_eq!(all(&reader).await, expected);
        });
    }
}

#[test]
fn it_changes_no_file_and_still_refuses_damage_before_the_tail() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let writer = EmbeddedStore::open(dir.path()).unwrap();
            for i in 1..=3 {
                writer.append(vec![event(i)], None).await.unwrap();
            }
            writer.close();
        });
        let segment = segments(dir.path()).pop().unwrap();
        let mut file = fs::OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&[7, 0, 0, 0, 1, 2]).unwrap(); // a torn record header
        drop(file);

        let before = snapshot(dir.path());
        let reader = open(dir.path()).unwrap();
        assert_eq!(reader.len(), 3);
        assert_eq!(reader.recovery().truncated, None);
        reader.close();
        assert_eq!(snapshot(dir.path()), before, "nothing changed");

        // A flipped bit in the first record, with intact records after it.
        let mut bytes = fs::read(&segment).unwrap();
        bytes[8 + 8 + 4] ^= 0x01;
        fs::write(&segment, &bytes).unwrap();
        let before = snapshot(dir.path());
        match open(dir.path()) {
            Err(OpenError::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (segment, 8));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(snapshot(dir.path()), before, "nothing changed");
    }
}

#[test]
fn appends_are_refused() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        let dir = tempfile::tempdir().unwrap();
        drop(EmbeddedStore::open(dir.path()).unwrap());
        let reader = open(dir.path()).unwrap();
        let refused = block_on(reader.append(vec![event(1)], None));
        assert!(
            matches!(&refused, Err(AppendError::ReadOnly { .. })),
            "{refused:?}"
        );
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("read-only"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(reader.is_empty());
    }
}

#[test]
fn a_directory_without_a_store_is_refused_and_left_alone() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        let parent = tempfile::tempdir().unwrap();
        let missing = parent.path().join("missing");
        let err = open(&missing).unwrap_err();
        assert!(matches!(err, OpenError::NoStore { .. }), "{err:?}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(!missing.exists(), "not created");

        let empty = tempfile::tempdir().unwrap();
        let err = open(empty.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("no segment files and no LOCK file"),
            "{err}"
        );

        let file = parent.path().join("a-file");
        fs::write(&file, "hello").unwrap();
        let err = open(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}

#[test]
fn a_store_without_segments_yet_opens_empty_and_follows_the_first() {
    for (how, open) in OPENS {
        eprintln!("read-only open: {how}");
        // A writer that has taken the lock but not yet made its first segment.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("LOCK"), "").unwrap();
        let reader = open(dir.path()).unwrap();
        assert!(reader.is_empty());
        let mut subscription = reader.subscribe(Query::all(), None);
        block_on(async {
            let writer = EmbeddedStore::open(dir.path()).unwrap();
            writer.append(vec![event(1)], None).await.unwrap();
            assert_eq!(next(&mut subscription).await, all(&writer).await.events[0]);
        });
    }
}
