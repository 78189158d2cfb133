//! Durability of the embedded store within one process: what survives
//! closing and reopening, and what opening does with a damaged log.
//!
//! - Reopening keeps every event at its position, reads and heads
//!   identical, across several segments; appending continues gap-free.
//! - A torn or bit-flipped *last* record is cut off, reported in
//!   `Recovery::truncated`, and the store keeps working; a torn tail of
//!   megabytes of zeros is cut off as fast as any other.
//! - Damage *before* the tail is refused (`OpenError::Corrupt`, naming the
//!   file and the record's offset) without changing a byte; a file that is
//!   not a segment is refused (`OpenError::NotAStore`); a segment whose
//!   creation was cut short is removed.
//! - A segment that cannot be created fails appends cleanly: nothing
//!   acknowledged is lost, nothing failed is written, and the store keeps
//!   working once the cause is gone.
//! - The directory lock, within one process.
//!
//! The tests take the on-disk format from `dcb-core/src/embedded/record.rs`:
//! a segment is an 8-byte magic and records `len: u32 | crc: u32 | payload`,
//! the payload starting with the record's first position (`u64`), all
//! little-endian.
//!
//! Crashes of a writing process, the lock between processes and a full
//! disk are in `embedded_crash.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, Position, Query, QueryItem, ReadOptions,
    ReadResult, Uuid,
};

use crate::support::{block_on, event_type, segments, snapshot, tag};

const MAGIC_LEN: u64 = 8;
const HEADER_LEN: u64 = 8;

// ---------------------------------------------------------------------------
// Helpers.

fn small_segments() -> EmbeddedOptions {
    EmbeddedOptions::default().segment_size(4096)
}

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open_with(dir, &small_segments())
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}

fn open_err(dir: &Path) -> OpenError {
    match EmbeddedStore::open_with(dir, &small_segments()) {
        Ok(store) => panic!(
            "opening {} should fail, but it opened with {} events",
            dir.display(),
            store.len()
        ),
        Err(err) => err,
    }
}

/// The `i`-th append of a varied workload: one to three events, three
/// types, several tags, binary and empty data, ids on every third append.
fn sample_append(i: u64) -> Vec<EventRecord> {
    let count = 1 + i % 3;
    (0..count)
        .map(|j| {
            let n = i * 3 + j;
            let ty =
                ["CourseRegistered", "StudentJoined", "Renamed"][usize::try_from(n % 3).unwrap()];
            let mut data = format!("{{\"append\":{i},\"event\":{j}}}").into_bytes();
            if n.is_multiple_of(5) {
                data = Vec::new();
            } else if n.is_multiple_of(7) {
                data.extend((0..=255u8).map(|b| b.wrapping_mul(31)));
            }
            let mut event = EventRecord::new(event_type(ty), data).with_tags([
                tag(&format!("course:{}", n % 7)),
                tag(&format!("student:{}", n % 5)),
            ]);
            if i.is_multiple_of(3) {
                event = event.with_id(Uuid::from_u128(u128::from(n) + 1));
            }
            event
        })
        .collect()
}

/// What opening cut: the file, where, and how many bytes.
fn cut_of(store: &EmbeddedStore) -> Option<(PathBuf, u64, u64)> {
    store
        .recovery()
        .truncated
        .as_ref()
        .map(|cut| (cut.file.clone(), cut.offset, cut.bytes))
}

/// Everything in the store, in order.
async fn all_events(store: &EmbeddedStore) -> ReadResult {
    store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read all")
}

/// Checks that the store holds exactly `expected`, at positions 1.., and
/// that its head says so.
async fn assert_holds(store: &EmbeddedStore, expected: &[EventRecord]) {
    let read = all_events(store).await;
    let n = expected.len() as u64;
    assert_eq!(read.head, Position::new(n), "the head of a full read");
    assert_eq!(
        store.head().await.expect("head"),
        Position::new(n),
        "head()"
    );
    assert_eq!(store.len() as u64, n, "len()");
    assert_eq!(read.events.len(), expected.len(), "number of events");
    for (i, (stored, want)) in read.events.iter().zip(expected).enumerate() {
        assert_eq!(
            stored.position.get(),
            i as u64 + 1,
            "positions are 1..=head"
        );
        assert_eq!(&stored.event, want, "the event at position {}", i + 1);
    }
}

/// A set of reads, with their heads, whose answers must not change when
/// the store is reopened.
async fn views(store: &EmbeddedStore) -> Vec<ReadResult> {
    let queries = [
        Query::all(),
        Query::from_items([QueryItem::new().tags([tag("course:3")])]),
        Query::from_items([QueryItem::new().types([event_type("StudentJoined")])]),
        Query::from_items([
            QueryItem::new()
                .types([event_type("CourseRegistered")])
                .tags([tag("student:2")]),
            QueryItem::new().tags([tag("course:1"), tag("student:4")]),
        ]),
        Query::from_items([QueryItem::new().tags([tag("course:404")])]),
    ];
    let options = [
        ReadOptions::new(),
        ReadOptions::new().backwards(),
        ReadOptions::new().after(Position::new(37)),
        ReadOptions::new().limit(7),
        ReadOptions::new().after(Position::new(100)).limit(11),
        ReadOptions::new().backwards().limit(5),
    ];
    let mut out = Vec::new();
    for query in &queries {
        for option in options {
            out.push(store.read_to_end(query, option).await.expect("read"));
        }
    }
    out
}

/// The records of an intact segment file, as `(start, end)` byte offsets
/// (up to the zeros that a writer with the store open keeps after them).
fn records(path: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(path).expect("read a segment");
    let mut out = Vec::new();
    let mut offset = MAGIC_LEN;
    while offset < bytes.len() as u64 {
        let at = usize::try_from(offset).unwrap();
        if bytes[at..].iter().all(|&b| b == 0) {
            break;
        }
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let end = offset + HEADER_LEN + u64::from(len);
        assert!(
            end <= bytes.len() as u64,
            "{} is not intact",
            path.display()
        );
        out.push((offset, end));
        offset = end;
    }
    out
}

/// The first position stored in a record.
fn record_first_position(path: &Path, start: u64) -> u64 {
    let bytes = fs::read(path).expect("read a segment");
    let at = usize::try_from(start + HEADER_LEN).unwrap();
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// A fresh copy of the store in `src`, without its index: opening the
/// copy reads (and recovers) the whole log, as a store written before the
/// index existed, or one whose index was deleted.
fn copy_store(src: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("a temporary directory");
    for entry in fs::read_dir(src).expect("list the store") {
        let path = entry.expect("a directory entry").path();
        if path.is_file() {
            fs::copy(&path, copy.path().join(path.file_name().unwrap())).expect("copy a file");
        }
    }
    copy
}

/// Flips bit `bit` of byte `offset` of `path`.
fn flip_bit(path: &Path, offset: u64, bit: u32) {
    let mut bytes = fs::read(path).expect("read a segment");
    bytes[usize::try_from(offset).unwrap()] ^= 1 << bit;
    fs::write(path, bytes).expect("write a segment");
}

fn truncate_file(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open a segment")
        .set_len(len)
        .expect("truncate a segment");
}

fn single(i: u64) -> EventRecord {
    EventRecord::new(event_type("Added"), format!("added {i}")).with_tags([tag("added")])
}

/// A store of several segments whose last segment holds at least two
/// records, the last being a three-event append with ids. Returns the
/// directory, every event in order, and the number of events before the
/// last append.
fn store_with_tail() -> (tempfile::TempDir, Vec<EventRecord>, usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut events = Vec::new();
    block_on(async {
        let store = open(dir.path());
        let mut i = 0;
        loop {
            let append = sample_append(i);
            i += 1;
            store.append(append.clone(), None).await.expect("append");
            events.extend(append);
            // Stop once there are several segments and the last one holds
            // two records with room for the tail, so that appending the
            // tail does not start a new segment.
            let segs = segments(dir.path());
            let last = segs.last().expect("a segment");
            let written = records(last);
            let len = written.last().map_or(MAGIC_LEN, |&(_, end)| end);
            if segs.len() >= 3 && written.len() >= 2 && len < 2048 {
                break;
            }
        }
        let before = events.len();
        let tail: Vec<EventRecord> = (0..3)
            .map(|j| {
                EventRecord::new(event_type("Tail"), format!("tail event {j} with some data"))
                    .with_tags([tag("tail"), tag(&format!("tail:{j}"))])
                    .with_id(Uuid::from_u128(0xfeed_0000 + j))
            })
            .collect();
        store
            .append(tail.clone(), None)
            .await
            .expect("append the tail");
        events.extend(tail);
        store.close();
        (dir, events, before)
    })
}

/// The last segment of a store and the span of its last record.
fn last_record(dir: &Path) -> (PathBuf, u64, u64) {
    let last = segments(dir).pop().expect("a segment");
    let (start, end) = *records(&last).last().expect("a record in the last segment");
    (last, start, end)
}

/// After a damaged tail was cut off: the store holds `kept`, accepts a new
/// append at the next position, and that append survives another reopen
/// without anything more to repair.
fn assert_usable_after_repair(dir: &Path, store: EmbeddedStore, kept: &[EventRecord]) {
    block_on(async {
        assert_holds(&store, kept).await;
        let new = single(9999);
        let position = store
            .append(vec![new.clone()], None)
            .await
            .expect("append after repair");
        assert_eq!(
            position.get(),
            kept.len() as u64 + 1,
            "appends continue gap-free"
        );
        store.close();
        let store = open(dir);
        assert_eq!(store.recovery().truncated, None, "nothing more to repair");
        let mut all = kept.to_vec();
        all.push(new);
        assert_holds(&store, &all).await;
    });
}

/// Checks that the segments hold the appends in order, one record each,
/// and that each segment is named by its first position.
fn assert_segments_hold_appends(segs: &[PathBuf], appended: &[(Vec<EventRecord>, Position)]) {
    let mut next = 1;
    for seg in segs {
        let name: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(
            name,
            next,
            "{} starts where the log continues",
            seg.display()
        );
        for (start, _) in records(seg) {
            let first = record_first_position(seg, start);
            assert_eq!(first, next, "record at {start} of {}", seg.display());
            let (events, position) = appended
                .iter()
                .find(|(_, p)| p.get() >= first)
                .expect("an append");
            assert_eq!(position.get() + 1 - events.len() as u64, first);
            next = position.get() + 1;
        }
    }
    let last = appended.last().map_or(0, |(_, p)| p.get());
    assert_eq!(next, last + 1, "the segments hold every event");
}

// ---------------------------------------------------------------------------
// Reopening.

#[test]
fn reopening_keeps_every_event_at_its_position_across_segments() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut expected: Vec<EventRecord> = Vec::new();
    let mut appended: Vec<(Vec<EventRecord>, Position)> = Vec::new();
    let (before_views, before_head) = block_on(async {
        let store = open(dir.path());
        assert_eq!(store.recovery().events, 0);
        assert_eq!(store.head().await.unwrap(), None);
        for i in 0..300 {
            let events = sample_append(i);
            let position = store.append(events.clone(), None).await.expect("append");
            expected.extend(events.iter().cloned());
            assert_eq!(position.get(), expected.len() as u64, "append {i}");
            appended.push((events, position));
        }
        assert_holds(&store, &expected).await;
        let out = (views(&store).await, store.head().await.unwrap());
        drop(store);
        out
    });

    // Rotation happened, and every segment is named by its first position.
    let segs = segments(dir.path());
    assert!(segs.len() >= 5, "several segments: {segs:?}");
    assert_segments_hold_appends(&segs, &appended);

    block_on(async {
        let store = open(dir.path());
        let recovery = store.recovery();
        assert_eq!(recovery.events, expected.len() as u64);
        assert_eq!(recovery.segments, segs.len());
        assert_eq!(recovery.truncated, None);
        assert_holds(&store, &expected).await;
        assert_eq!(views(&store).await, before_views, "reads after reopening");
        assert_eq!(store.head().await.unwrap(), before_head);

        // An idempotent repeat answers the original position, writes nothing.
        for (events, position) in appended
            .iter()
            .filter(|(e, _)| e[0].id().is_some())
            .take(20)
        {
            let repeat = store.append(events.clone(), None).await.expect("repeat");
            assert_eq!(repeat, *position);
        }
        assert_eq!(store.head().await.unwrap(), before_head);

        // A decision continues where the log ended, gap-free.
        let query = Query::from_items([QueryItem::new().tags([tag("course:3")])]);
        let read = store.read_to_end(&query, ReadOptions::new()).await.unwrap();
        assert_eq!(read.head, before_head);
        let next = EventRecord::new(event_type("StudentJoined"), "after reopen")
            .with_tags([tag("course:3")]);
        let position = store
            .append(
                vec![next.clone()],
                Some(AppendCondition::new(query.clone()).after(read.head)),
            )
            .await
            .expect("conditional append after reopen");
        assert_eq!(position.get(), expected.len() as u64 + 1);
        expected.push(next);
        // ... and the condition still sees what was stored before.
        let stale = store
            .append(
                vec![single(0)],
                Some(AppendCondition::new(query).after(Position::new(1))),
            )
            .await;
        assert!(
            matches!(stale, Err(AppendError::ConditionFailed { .. })),
            "{stale:?}"
        );

        // More appends across further rotations, then a second reopen.
        for i in 300..500 {
            let events = sample_append(i);
            let position = store.append(events.clone(), None).await.expect("append");
            expected.extend(events);
            assert_eq!(position.get(), expected.len() as u64);
        }
        let views_second = views(&store).await;
        store.close();

        let store = open(dir.path());
        assert_eq!(store.recovery().events, expected.len() as u64);
        assert_eq!(store.recovery().segments, segments(dir.path()).len());
        assert!(store.recovery().segments > segs.len(), "rotation continued");
        assert_eq!(store.recovery().truncated, None);
        assert_holds(&store, &expected).await;
        assert_eq!(views(&store).await, views_second);
    });
}

#[test]
fn an_empty_store_reopens_empty() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    drop(open(dir.path()));
    let store = open(dir.path());
    assert_eq!(store.recovery().events, 0);
    assert_eq!(store.recovery().segments, 1);
    assert_eq!(store.recovery().truncated, None);
    block_on(async {
        assert_holds(&store, &[]).await;
        let position = store.append(vec![single(1)], None).await.unwrap();
        assert_eq!(position, Position::FIRST);
    });
}

// ---------------------------------------------------------------------------
// A damaged last record: cut off, reported, and the store goes on.

#[test]
fn a_torn_last_record_is_cut_off_at_every_offset() {
    let (pristine, events, before) = store_with_tail();
    let (last, start, end) = last_record(pristine.path());
    let name = last.file_name().unwrap().to_owned();
    assert!(
        end - start > 100,
        "the tail record is {} bytes",
        end - start
    );
    for cut in start..end {
        let copy = copy_store(pristine.path());
        let segment = copy.path().join(&name);
        truncate_file(&segment, cut);
        let store = open(copy.path());
        let expected_cut = (cut > start).then(|| (segment.clone(), start, cut - start));
        assert_eq!(cut_of(&store), expected_cut, "cut at {cut}");
        assert_eq!(store.recovery().events, before as u64, "cut at {cut}");
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            start,
            "cut at {cut}: the file is cut back"
        );
        assert_usable_after_repair(copy.path(), store, &events[..before]);
    }
}

#[test]
fn zeros_in_place_of_the_last_record_are_cut_off() {
    // What a crash can leave when the file's size reached the disk before
    // its data.
    let (pristine, events, before) = store_with_tail();
    let (last, start, end) = last_record(pristine.path());
    let copy = copy_store(pristine.path());
    let segment = copy.path().join(last.file_name().unwrap());
    let mut bytes = fs::read(&segment).unwrap();
    bytes[usize::try_from(start).unwrap()..].fill(0);
    bytes.extend([0; 100]);
    fs::write(&segment, &bytes).unwrap();
    let store = open(copy.path());
    // Zeros after the last whole record hold nothing: they look the same
    // as those a writer writes ahead of its records, and are cut without a
    // report (decision 0025).
    assert_eq!(cut_of(&store), None, "the record was {} bytes", end - start);
    assert_eq!(fs::metadata(&segment).unwrap().len(), start);
    assert_usable_after_repair(copy.path(), store, &events[..before]);
}

#[test]
fn a_flipped_bit_in_the_last_record_cuts_it_off() {
    let (pristine, events, before) = store_with_tail();
    let (last, start, end) = last_record(pristine.path());
    let name = last.file_name().unwrap().to_owned();
    let mut cases = 0;
    for offset in start..end {
        // Every bit of the header (length and checksum); one bit, varying,
        // of each payload byte.
        let bits: Vec<u32> = if offset < start + HEADER_LEN {
            (0..8).collect()
        } else {
            vec![u32::try_from(offset % 8).unwrap()]
        };
        for bit in bits {
            let copy = copy_store(pristine.path());
            let segment = copy.path().join(&name);
            flip_bit(&segment, offset, bit);
            let store = open(copy.path());
            assert_eq!(
                cut_of(&store),
                Some((segment.clone(), start, end - start)),
                "bit {bit} of byte {offset} flipped"
            );
            assert_eq!(store.recovery().events, before as u64);
            assert_usable_after_repair(copy.path(), store, &events[..before]);
            cases += 1;
        }
    }
    assert!(cases > 100);
}

/// A torn tail made mostly of zeros (a big append of zero-filled data cut
/// short, or zeros where a file system had not written the data yet) is
/// cut off in time linear in its size. Looking for an intact record after
/// the damage used to cost, from every offset in a run of zeros, a scan to
/// the run's end: for this 1 MB, about two minutes instead of milliseconds.
/// (No time limit is asserted: a regression shows as a test that crawls.)
#[test]
fn a_torn_tail_of_zeros_is_cut_off_in_linear_time() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kept = vec![single(1), single(2)];
    let blobs: Vec<EventRecord> = (0..1)
        .map(|i| {
            EventRecord::new(event_type("Blob"), vec![0u8; 1_000_000])
                .with_tags([tag(&format!("blob:{i}"))])
        })
        .collect();
    block_on(async {
        let store = open(dir.path());
        store.append(kept.clone(), None).await.expect("append");
        store.append(blobs, None).await.expect("append the blobs");
        store.close();
    });
    let (segment, start, end) = last_record(dir.path());
    assert!(end - start > 1_000_000);
    truncate_file(&segment, end - 1);
    let store = open(dir.path());
    assert_eq!(cut_of(&store), Some((segment, start, end - 1 - start)));
    assert_usable_after_repair(dir.path(), store, &kept);
}

// ---------------------------------------------------------------------------
// Damage before the tail: refused, nothing changed.

/// Opens the damaged store in `dir` and expects `Corrupt` at `file` and
/// `offset`, twice, with the files left exactly as they were.
fn assert_corrupt_at(dir: &Path, file: &Path, offset: u64, what: &str) {
    let before = snapshot(dir);
    for attempt in 0..2 {
        match open_err(dir) {
            OpenError::Corrupt {
                file: f,
                offset: o,
                reason,
            } => {
                assert_eq!(
                    (f.as_path(), o),
                    (file, offset),
                    "{what} (attempt {attempt}): {reason}"
                );
                assert!(!reason.is_empty());
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
        assert!(snapshot(dir) == before, "{what}: opening changed the files");
    }
    let message = open_err(dir).to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains(&format!("byte {offset}")), "{message}");
    assert!(message.contains("backup"), "{message}");
}

#[test]
fn a_flipped_bit_before_the_last_record_is_corruption() {
    let (pristine, _, _) = store_with_tail();
    let segs = segments(pristine.path());
    let mut cases = 0;
    for (index, seg) in segs.iter().enumerate() {
        let name = seg.file_name().unwrap();
        let recs = records(seg);
        let is_last_segment = index + 1 == segs.len();
        for (r, &(start, end)) in recs.iter().enumerate() {
            if is_last_segment && r + 1 == recs.len() {
                continue; // the tail: see the tests above
            }
            // A payload bit, a checksum bit, and the lowest and highest bit
            // of the length (shorter and far longer than the record).
            let spots = [
                (start + (end - start) / 2, 3),
                (start + 5, 0),
                (start, 0),
                (start + 3, 7),
            ];
            for (offset, bit) in spots {
                let copy = copy_store(pristine.path());
                let file = copy.path().join(name);
                flip_bit(&file, offset, bit);
                let what = format!(
                    "bit {bit} of byte {offset} of record {r} of {}",
                    seg.display()
                );
                assert_corrupt_at(copy.path(), &file, start, &what);
                cases += 1;
            }
        }
    }
    assert!(cases >= 40, "{cases} cases");
}

#[test]
fn a_torn_segment_before_the_last_is_corruption() {
    let (pristine, _, _) = store_with_tail();
    let segs = segments(pristine.path());
    for seg in &segs[..segs.len() - 1] {
        let (start, end) = *records(seg).last().unwrap();
        for cut in [start + 1, start + HEADER_LEN, end - 1] {
            let copy = copy_store(pristine.path());
            let file = copy.path().join(seg.file_name().unwrap());
            truncate_file(&file, cut);
            assert_corrupt_at(
                copy.path(),
                &file,
                start,
                &format!("{} cut at {cut}", seg.display()),
            );
        }
    }
}

#[test]
fn a_missing_segment_is_corruption() {
    let (pristine, _, _) = store_with_tail();
    let segs = segments(pristine.path());
    let copy = copy_store(pristine.path());
    fs::remove_file(copy.path().join(segs[1].file_name().unwrap())).unwrap();
    let after = copy.path().join(segs[2].file_name().unwrap());
    assert_corrupt_at(copy.path(), &after, 0, "the second segment removed");
}

#[test]
fn a_wrong_magic_is_not_a_store() {
    let (pristine, _, _) = store_with_tail();
    let segs = segments(pristine.path());
    for seg in [&segs[0], &segs[1], segs.last().unwrap()] {
        for offset in [0, 7] {
            let copy = copy_store(pristine.path());
            let file = copy.path().join(seg.file_name().unwrap());
            flip_bit(&file, offset, 1);
            let before = snapshot(copy.path());
            match open_err(copy.path()) {
                OpenError::NotAStore { file: f } => assert_eq!(f, file),
                other => panic!("expected NotAStore, got {other:?}"),
            }
            assert!(snapshot(copy.path()) == before, "opening changed the files");
            let message = open_err(copy.path()).to_string();
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
    }

    // A foreign file that happens to have a segment's name.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{:020}.log", 1));
    fs::write(&file, "2024-01-01 12:00:00 INFO started\n").unwrap();
    match open_err(dir.path()) {
        OpenError::NotAStore { file: f } => assert_eq!(f, file),
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert_eq!(
        fs::read(&file).unwrap(),
        b"2024-01-01 12:00:00 INFO started\n"
    );
}

#[test]
fn a_segment_cut_short_while_being_created_is_removed() {
    let (pristine, events, _) = store_with_tail();
    let next = format!("{:020}.log", events.len() + 1);
    for magic_bytes in [&b""[..], b"D", b"DCBLOG1"] {
        let copy = copy_store(pristine.path());
        let file = copy.path().join(&next);
        fs::write(&file, magic_bytes).unwrap();
        let store = open(copy.path());
        assert_eq!(
            cut_of(&store),
            Some((file.clone(), 0, magic_bytes.len() as u64)),
            "a new segment holding {magic_bytes:?}"
        );
        assert_eq!(store.recovery().segments, segments(pristine.path()).len());
        assert!(!file.exists(), "the cut-short segment is removed");
        assert_usable_after_repair(copy.path(), store, &events);
    }

    // ... and the first segment of a new store.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{:020}.log", 1));
    fs::write(&file, b"DCB").unwrap();
    let store = open(dir.path());
    assert_eq!(cut_of(&store), Some((file, 0, 3)));
    assert_usable_after_repair(dir.path(), store, &[]);

    // A partial segment that is not the start of the magic is not ours.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{:020}.log", 1));
    fs::write(&file, b"XY").unwrap();
    assert!(matches!(open_err(dir.path()), OpenError::NotAStore { .. }));
    assert_eq!(fs::read(&file).unwrap(), b"XY");
}

// ---------------------------------------------------------------------------
// A segment that cannot be created.

/// Creating the next segment fails (here: its name is taken by a
/// directory; on a full disk: no space for it). Appends that were made
/// durable must be acknowledged, appends that fail must leave nothing
/// behind, and the store must work again once the obstacle is gone.
#[test]
fn a_segment_that_cannot_be_created_loses_and_invents_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    // Block every name the next segment could take.
    let obstacles: Vec<PathBuf> = (2..=200)
        .map(|p| dir.path().join(format!("{p:020}.log")))
        .collect();
    for obstacle in &obstacles {
        fs::create_dir(obstacle).unwrap();
    }
    let mut acknowledged = Vec::new();
    let mut failures = Vec::new();
    block_on(async {
        for i in 0..150 {
            let event = EventRecord::new(
                event_type("Filled"),
                format!("event {i} {}", "x".repeat(100)),
            )
            .with_tags([tag("fill")]);
            match store.append(vec![event.clone()], None).await {
                Ok(position) => {
                    assert_eq!(position.get(), acknowledged.len() as u64 + 1);
                    acknowledged.push(event);
                }
                Err(AppendError::Backend(err)) => failures.push(err.to_string()),
                Err(other) => panic!("unexpected error: {other}"),
            }
            // Whatever happened, the store shows exactly what it acknowledged.
            assert_holds(&store, &acknowledged).await;
        }
        assert!(
            !failures.is_empty(),
            "the first segment is full, so appends must fail"
        );
        for failure in &failures {
            assert!(
                failure.contains("cannot create the segment")
                    && failure.contains("nothing was written"),
                "{failure}"
            );
        }
        println!(
            "an append that cannot start a segment fails with: {}",
            failures[0]
        );
        assert!(
            acknowledged.len() >= 10,
            "appends fill the first segment before failing"
        );

        // The obstacle is gone: the store works again, in the same process.
        for obstacle in &obstacles {
            fs::remove_dir(obstacle).unwrap();
        }
        for i in 0..60 {
            let event = EventRecord::new(
                event_type("Filled"),
                format!("later {i} {}", "y".repeat(100)),
            )
            .with_tags([tag("fill")]);
            let position = store
                .append(vec![event.clone()], None)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "appending once a segment can be created: {e}; the first failure: {}",
                        failures[0]
                    )
                });
            acknowledged.push(event);
            assert_eq!(position.get(), acknowledged.len() as u64);
        }
        store.close();
        assert!(segments(dir.path()).len() >= 2, "a new segment was created");

        let store = open(dir.path());
        assert_eq!(store.recovery().truncated, None);
        assert_holds(&store, &acknowledged).await;
    });
}

// ---------------------------------------------------------------------------
// The lock, within one process (between processes: `embedded_crash.rs`).

#[test]
fn a_second_open_waits_for_the_lock_and_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    block_on(store.append(vec![single(1)], None)).unwrap();

    let timeout = Duration::from_millis(200);
    let second = EmbeddedStore::open_with(dir.path(), &small_segments().lock_timeout(timeout));
    let err = second.expect_err("the store is open");
    let message = err.to_string();
    match err {
        OpenError::Locked { dir: d, waited } => {
            assert_eq!(d, dir.path());
            assert!(
                waited >= timeout,
                "gave up after {waited:?}, before its timeout"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("in use"), "{message}");
    assert!(message.contains("lock timeout"), "{message}");

    // A waiting open gets the store as soon as it is closed.
    let waiting = {
        let dir = dir.path().to_owned();
        std::thread::spawn(move || {
            EmbeddedStore::open_with(&dir, &small_segments().lock_timeout(Duration::from_mins(1)))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let clone = store.clone();
    store.close();
    // Appends on a clone of a closed store fail; they do not reopen it.
    let closed = block_on(clone.append(vec![single(2)], None));
    assert!(matches!(closed, Err(AppendError::Backend(_))), "{closed:?}");
    drop(clone);
    let reopened = waiting.join().unwrap().expect("the waiting open succeeds");
    assert_eq!(reopened.len(), 1);
    drop(reopened);

    // Dropping the store releases the lock too.
    let store = open(dir.path());
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), &small_segments().lock_timeout(timeout))
        .expect("the lock was released by drop");
    assert_eq!(store.len(), 1);
}

// ---------------------------------------------------------------------------
// What the limits admit, the log holds.

/// Limits set as high as they go — a field set past the ceiling included —
/// still refuse an event with 65 536 tags, which a record cannot count,
/// and an event with 65 535 tags survives reopening whole. (Once, such an
/// event was acknowledged, readable while open, and cut off as a torn
/// write on the next open.)
#[test]
fn the_limits_never_admit_what_the_log_cannot_hold() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut limits = dcb_core::Limits::default()
        .max_event_size(usize::MAX)
        .max_append_size(usize::MAX);
    limits.max_tags_per_event = usize::MAX;
    let options = EmbeddedOptions::default().limits(limits);
    let tagged = |count: u32| {
        EventRecord::new(event_type("Tagged"), "").with_tags(
            (0..count)
                .map(|i| tag(&format!("t:{i}")))
                .collect::<Vec<_>>(),
        )
    };
    let most = u32::from(u16::MAX);
    block_on(async {
        let store = EmbeddedStore::open_with(dir.path(), &options).expect("open");
        let err = store
            .append(vec![tagged(most + 1)], None)
            .await
            .expect_err("an event with 65 536 tags is refused");
        assert!(
            matches!(
                err,
                AppendError::InvalidInput(dcb_core::InvalidInput::TooManyTags {
                    count: 65_536,
                    ..
                })
            ),
            "{err}"
        );
        store
            .append(vec![tagged(most)], None)
            .await
            .expect("an event with 65 535 tags is accepted");
        store.close();
        let store = open(dir.path());
        assert_eq!(store.recovery().truncated, None, "nothing was cut");
        assert_holds(&store, &[tagged(most)]).await;
    });
}

// ---------------------------------------------------------------------------
// One writer, even when the lock file goes away.

/// Deleting `LOCK` while a store is open lets a second writer in; the first
/// then stops appending, with an error that says why, instead of writing
/// records over the second one's positions. (Once, both wrote: joins over
/// a course's places were acknowledged and the store no longer opened.)
#[test]
fn a_writer_whose_lock_file_is_removed_stops_appending() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    block_on(async {
        let first = open(dir.path());
        first.append(vec![single(1)], None).await.expect("append");
        fs::remove_file(dir.path().join("LOCK")).expect("remove LOCK");
        let second = open(dir.path());
        second
            .append(vec![single(2)], None)
            .await
            .expect("the second writer appends");
        let err = first
            .append(vec![single(3)], None)
            .await
            .expect_err("the first writer must stop");
        assert!(
            err.to_string().contains("another process may be writing"),
            "{err}"
        );
        first.close();
        second.close();
        let store = open(dir.path());
        assert_holds(&store, &[single(1), single(2)]).await;
    });
}

/// A writer that finds its segment longer than it wrote it — another
/// process appended to it — stops appending and writes nothing more.
#[test]
fn a_writer_stops_when_the_log_grows_under_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    block_on(async {
        let store = open(dir.path());
        store.append(vec![single(1)], None).await.expect("append");
        let segment = segments(dir.path()).pop().expect("a segment");
        let len = fs::metadata(&segment).expect("stat").len();
        let foreign = {
            let mut file = fs::OpenOptions::new()
                .append(true)
                .open(&segment)
                .expect("open");
            std::io::Write::write_all(&mut file, &[0xAB; 16]).expect("write");
            fs::metadata(&segment).expect("stat").len()
        };
        let err = store
            .append(vec![single(2)], None)
            .await
            .expect_err("the writer must stop");
        assert!(
            err.to_string().contains("another process changed it"),
            "{err}"
        );
        assert_eq!(
            fs::metadata(&segment).expect("stat").len(),
            foreign,
            "nothing more written"
        );
        assert!(foreign > len);
        let again = store.append(vec![single(3)], None).await;
        assert!(again.is_err(), "the writer stays stopped");
    });
}

// ---------------------------------------------------------------------------
// Recovery keeps what it cuts, says so, and notices what is missing.

/// A bit flipped in the last record looks like a torn write, and the record
/// is cut off — but its bytes are kept in `damaged/`, and the report says
/// where. (Once, they were destroyed without a word.)
#[test]
fn a_cut_tail_is_kept_and_reported() {
    let (pristine, events, before) = store_with_tail();
    let (last, start, end) = last_record(pristine.path());
    let copy = copy_store(pristine.path());
    let segment = copy.path().join(last.file_name().unwrap());
    flip_bit(&segment, start + HEADER_LEN + 3, 2);
    let damaged = fs::read(&segment).unwrap()[usize::try_from(start).unwrap()..].to_vec();
    assert_eq!(damaged.len() as u64, end - start);
    let store = open(copy.path());
    let cut = store
        .recovery()
        .truncated
        .clone()
        .expect("the tail was cut");
    let kept = cut.kept.clone().expect("the cut bytes are kept");
    assert_eq!(kept.parent(), Some(copy.path().join("damaged").as_path()));
    assert_eq!(
        fs::read(&kept).unwrap(),
        damaged,
        "the kept file holds the cut bytes"
    );
    assert_eq!(cut.reason, "the record's checksum does not match");
    let report = cut.to_string();
    for part in [
        segment.display().to_string(),
        kept.display().to_string(),
        format!("at byte {start}"),
        format!("cut {} bytes", end - start),
    ] {
        assert!(report.contains(&part), "{report:?} names {part:?}");
    }
    // The kept file does not disturb later opens.
    assert_usable_after_repair(copy.path(), store, &events[..before]);
}

/// Zeros after the last record hold no data — a writer writes them ahead
/// of its records, and a crash leaves them: they are cut without a copy
/// and without a report.
#[test]
fn a_tail_of_zeros_is_cut_without_a_report() {
    let (pristine, events, _) = store_with_tail();
    let copy = copy_store(pristine.path());
    let segment = segments(copy.path()).pop().unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    let mut file = fs::OpenOptions::new().append(true).open(&segment).unwrap();
    std::io::Write::write_all(&mut file, &[0; 4]).unwrap();
    std::io::Write::write_all(&mut file, &[0; 100]).unwrap();
    drop(file);
    let store = open(copy.path());
    assert_eq!(store.recovery().truncated, None);
    assert_eq!(
        fs::metadata(&segment).unwrap().len(),
        len,
        "the zeros are cut"
    );
    assert!(!copy.path().join("damaged").exists());
    assert_usable_after_repair(copy.path(), store, &events);
}

/// A missing *last* segment leaves no gap in the positions; the manifest
/// notices it, and the store refuses to open — read-only too — instead of
/// opening shorter, changing nothing. (Once, a 10M-event store opened with
/// 8.87M events and no word.)
#[test]
fn a_missing_last_segment_is_refused() {
    let (pristine, _, _) = store_with_tail();
    let copy = copy_store(pristine.path());
    let last = segments(copy.path()).pop().unwrap();
    fs::remove_file(&last).unwrap();
    let before = snapshot(copy.path());
    match open_err(copy.path()) {
        OpenError::MissingSegment { file } => assert_eq!(file, last),
        other => panic!("expected MissingSegment, got {other:?}"),
    }
    assert!(
        open_err(copy.path())
            .to_string()
            .contains("restore it from a backup")
    );
    assert!(snapshot(copy.path()) == before, "opening changed the files");
    match EmbeddedStore::open_read_only(copy.path()) {
        Err(OpenError::MissingSegment { file }) => assert_eq!(file, last),
        other => panic!("expected MissingSegment, got {other:?}"),
    }
}

/// A store made before manifests opens, and gains one that protects it
/// from then on.
#[test]
fn a_store_without_a_manifest_gains_one() {
    let (pristine, events, _) = store_with_tail();
    let copy = copy_store(pristine.path());
    fs::remove_file(copy.path().join("MANIFEST")).expect("a store has a manifest");
    let store = open(copy.path());
    block_on(assert_holds(&store, &events));
    store.close();
    assert!(copy.path().join("MANIFEST").exists());
    fs::remove_file(segments(copy.path()).pop().unwrap()).unwrap();
    assert!(matches!(
        open_err(copy.path()),
        OpenError::MissingSegment { .. }
    ));
}

/// Files that are not named like segments are not the store's: another
/// program's `2024.log` or notes are left alone, not reported as damage.
#[test]
fn files_that_are_not_segments_are_left_alone() {
    let (pristine, events, _) = store_with_tail();
    let copy = copy_store(pristine.path());
    let foreign = ["2024.log", "notes.txt", "1.log", "0000000000000000000a.log"];
    for name in foreign {
        fs::write(copy.path().join(name), "not a segment\n").unwrap();
    }
    let store = open(copy.path());
    block_on(assert_holds(&store, &events));
    assert_eq!(store.recovery().truncated, None);
    for name in foreign {
        assert_eq!(
            fs::read(copy.path().join(name)).unwrap(),
            b"not a segment\n",
            "{name} is untouched"
        );
    }
}

/// A path that is a file, not a directory, is refused as such. (Once:
/// "File exists".)
#[test]
fn a_file_is_not_a_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    fs::write(&file, "").unwrap();
    let err = open_err(&file);
    assert!(matches!(err, OpenError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("is not a directory"), "{err}");
    let err = open_err(Path::new("/dev/null"));
    assert!(
        err.to_string().contains("/dev/null is not a directory"),
        "{err}"
    );
}

/// A store whose log to replay into memory is over the configured memory
/// limit (here: all of it, its index deleted) is refused with
/// `OutOfMemory`, naming the sizes, before it is read into memory; under a
/// limit it fits, it opens.
#[test]
fn a_store_over_the_memory_limit_is_refused() {
    let (pristine, events, _) = store_with_tail();
    let pristine = copy_store(pristine.path());
    let tight = small_segments().memory_limit(16 * 1024);
    let err = EmbeddedStore::open_with(pristine.path(), &tight).expect_err("over the limit");
    let message = err.to_string();
    let OpenError::OutOfMemory {
        needed, available, ..
    } = err
    else {
        panic!("expected OutOfMemory, got {err:?}")
    };
    assert_eq!(available, 16 * 1024);
    assert!(needed > available, "{needed} > {available}");
    assert!(message.contains("the configured memory limit"), "{message}");
    let roomy = small_segments().memory_limit(1 << 30);
    let store = EmbeddedStore::open_with(pristine.path(), &roomy).expect("open");
    block_on(assert_holds(&store, &events));
}

// ---------------------------------------------------------------------------
// What the store does not own: its directory's other files.

#[test]
fn a_foreign_index_folder_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let index = dir.path().join("index");
    fs::create_dir_all(index.join("sub")).unwrap();
    fs::write(index.join("page.html"), b"mine").unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, OpenError::ForeignIndex { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not a file of a dcb index"),
        "{err}"
    );
    assert_eq!(fs::read(index.join("page.html")).unwrap(), b"mine");
    assert!(index.join("sub").is_dir());
    assert!(
        !index.join("version").exists(),
        "no index was made among them"
    );
}

#[test]
fn an_index_that_cannot_be_opened_is_set_aside_with_what_it_held() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    block_on(store.append(vec![single(1)], None)).unwrap();
    store.close();
    let index = dir.path().join("index");
    fs::write(index.join("notes.txt"), b"mine").unwrap();
    fs::write(index.join("version"), b"not fjall's").unwrap();

    let store = open(dir.path());
    let kept = store
        .recovery()
        .index_set_aside
        .clone()
        .expect("the index that cannot be opened is kept aside");
    assert!(kept.starts_with(dir.path().join("damaged")), "{kept:?}");
    assert_eq!(fs::read(kept.join("notes.txt")).unwrap(), b"mine");
    let read = block_on(store.read_to_end(&Query::all(), ReadOptions::new())).unwrap();
    assert_eq!(read.events.len(), 1, "rebuilt from the log");
}

#[test]
fn a_manifest_beside_no_segment_is_not_a_store_and_the_open_leaves_no_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("MANIFEST"), b"my own manifest").unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, OpenError::NotAStore { .. }), "{err:?}");
    assert!(!dir.path().join("index").exists(), "the open left an index");
}

#[test]
fn an_empty_path_is_refused_by_every_open() {
    assert!(matches!(EmbeddedStore::open(""), Err(OpenError::EmptyPath)));
    assert!(matches!(
        EmbeddedStore::open_read_only(""),
        Err(OpenError::EmptyPath)
    ));
    assert!(matches!(
        EmbeddedStore::open_read_only_scanning(""),
        Err(OpenError::EmptyPath)
    ));
}
