//! The embedded store's index on disk: what an open reads from the log,
//! and what it does with an index that is missing or does not match.

use std::fs;
use std::path::Path;

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::{
    AppendCondition, EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, Tag, Uuid,
};

use crate::support::{block_on, segments};

fn event(i: u64) -> EventRecord {
    EventRecord::new(EventType::from_static("Joined"), format!("{{\"n\":{i}}}"))
        .with_tags([
            Tag::new(format!("course:{}", i % 7)).unwrap(),
            Tag::new(format!("student:{i}")).unwrap(),
        ])
        .with_id(Uuid::from_u128(u128::from(i) + 1))
}

/// Appends events `from..to`, ten per append.
fn append(store: &EmbeddedStore, from: u64, to: u64) {
    block_on(async {
        let mut i = from;
        while i < to {
            let batch: Vec<EventRecord> = (i..(i + 10).min(to)).map(event).collect();
            store.append(batch, None).await.expect("append");
            i += 10;
        }
    });
}

/// Every event of the store, as `(position, data)`.
fn contents(store: &EmbeddedStore) -> Vec<(u64, Vec<u8>)> {
    block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
        .expect("read")
        .events
        .into_iter()
        .map(|e| (e.position.get(), e.event.data().to_vec()))
        .collect()
}

/// The positions of the events of course `c`.
fn course(store: &EmbeddedStore, c: u64) -> Vec<u64> {
    let query = Query::from(QueryItem::new().tags([Tag::new(format!("course:{c}")).unwrap()]));
    block_on(store.read_to_end(&query, ReadOptions::new()))
        .expect("read")
        .events
        .iter()
        .map(|e| e.position.get())
        .collect()
}

fn small_interval() -> EmbeddedOptions {
    EmbeddedOptions::default()
        .index_interval(2048)
        .tail_kept_on_close(0)
}

#[test]
fn an_open_after_a_clean_close_reads_nothing_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    append(&store, 0, 500);
    let before = contents(&store);
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    assert_eq!(store.recovery().events, 500);
    assert_eq!(
        store.recovery().replayed,
        0,
        "the close handed the tail down"
    );
    assert_eq!(contents(&store), before);
    let expected: Vec<u64> = (0..500).filter(|i| i % 7 == 3).map(|i| i + 1).collect();
    assert_eq!(course(&store, 3), expected);
    // Conditions and repeats see the indexed events.
    let condition = AppendCondition::new(Query::from(
        QueryItem::new().tags([Tag::new("course:3").unwrap()]),
    ))
    .after(dcb_core::Position::new(400));
    let refused = block_on(store.append(
        vec![EventRecord::new(EventType::from_static("X"), "{}")],
        Some(condition),
    ));
    assert_eq!(
        refused.unwrap_err().to_string(),
        dcb_core::AppendError::ConditionFailed {
            conflicting: dcb_core::Position::new(
                expected.iter().copied().find(|&p| p > 400).unwrap()
            )
            .unwrap()
        }
        .to_string()
    );
    let repeat = block_on(store.append((0..10).map(event).collect(), None)).expect("a repeat");
    assert_eq!(
        repeat.get(),
        10,
        "the first append repeated, found through the index"
    );
}

/// Reads of every event served by the index — which keeps `events` by
/// blocks of 64 positions — start and stop anywhere: after a position
/// inside a block, at a block's edges, forward and backward, with limits
/// that end inside a block; each finds exactly the positions asked for.
#[test]
fn reads_of_every_event_start_and_stop_anywhere_in_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    append(&store, 0, 300);
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    assert_eq!(store.recovery().replayed, 0, "every event is in the index");
    for after in [0, 1, 63, 64, 65, 70, 128, 129, 200, 299, 300] {
        for limit in [None, Some(1), Some(5), Some(64), Some(100)] {
            for backwards in [false, true] {
                let mut options = ReadOptions::new().after(dcb_core::Position::new(after));
                if let Some(limit) = limit {
                    options = options.limit(limit);
                }
                if backwards {
                    options = options.backwards();
                }
                let mut expected: Vec<u64> = (after + 1..=300).collect();
                if backwards {
                    expected.reverse();
                }
                expected.truncate(limit.unwrap_or(usize::MAX));
                let read: Vec<u64> = block_on(store.read_to_end(&Query::all(), options))
                    .expect("read")
                    .events
                    .iter()
                    .map(|e| e.position.get())
                    .collect();
                assert_eq!(
                    read, expected,
                    "after {after}, limit {limit:?}, backwards {backwards}"
                );
            }
        }
    }
}

/// A read by type alone, served by the index, takes each event's location
/// from `events`' blocks (a type's keys hold none): every event of the
/// type, with its own data, across blocks and runs, forward and backward.
#[test]
fn reads_by_type_find_each_event_in_its_block() {
    let of_type = |i: u64| {
        let name = if i.is_multiple_of(3) {
            "Opened"
        } else {
            "Joined"
        };
        EventRecord::new(EventType::from_static(name), format!("{{\"n\":{i}}}"))
    };
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    block_on(async {
        for from in (0..300).step_by(10) {
            let batch: Vec<EventRecord> = (from..from + 10).map(of_type).collect();
            store.append(batch, None).await.expect("append");
        }
    });
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    assert_eq!(store.recovery().replayed, 0, "every event is in the index");
    let query = Query::from(QueryItem::new().types([EventType::from_static("Opened")]));
    let expected: Vec<(u64, Vec<u8>)> = (0..300)
        .filter(|i| i % 3 == 0)
        .map(|i| (i + 1, format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    for backwards in [false, true] {
        let options = if backwards {
            ReadOptions::new().backwards()
        } else {
            ReadOptions::new()
        };
        let read: Vec<(u64, Vec<u8>)> = block_on(store.read_to_end(&query, options))
            .expect("read")
            .events
            .into_iter()
            .map(|e| (e.position.get(), e.event.data().to_vec()))
            .collect();
        let mut expected = expected.clone();
        if backwards {
            expected.reverse();
        }
        assert_eq!(read, expected, "backwards {backwards}");
    }
}

#[test]
fn a_small_tail_stays_in_the_log_on_close_and_counts_toward_the_interval() {
    // The bug: every close wrote its tail into the index as a run of its
    // own, so a command-line tool appending one event per process added a
    // run each time, and every fourth close waited about a second for
    // fjall to merge them (10M events).
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions::default()
        .index_interval(1 << 20)
        .tail_kept_on_close(2048);
    let tables =
        || fs::read_dir(dir.path().join("index/keyspaces/1/tables")).map_or(0, Iterator::count);
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    append(&store, 0, 5);
    drop(store);
    assert_eq!(tables(), 0, "five events stayed in the log");
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    assert_eq!(store.recovery().replayed, 5);
    assert_eq!(course(&store, 3), [4]);
    drop(store);
    // Tails carried over from process to process add up: once they pass
    // the limit, a close writes them into the index.
    let mut next = 5;
    let mut opens = 0;
    while tables() == 0 {
        append(&store_at(dir.path(), &options, &mut opens), next, next + 5);
        next += 5;
        assert!(opens < 100, "the carried tail never went into the index");
    }
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    assert!(
        store.recovery().replayed < next,
        "replayed {} of {next}",
        store.recovery().replayed
    );
    let expected: Vec<u64> = (0..next).filter(|i| i % 7 == 3).map(|i| i + 1).collect();
    assert_eq!(course(&store, 3), expected);
}

/// Opens the store in `dir`, counting the opens.
fn store_at(dir: &Path, options: &EmbeddedOptions, opens: &mut u32) -> EmbeddedStore {
    *opens += 1;
    EmbeddedStore::open_with(dir, options).unwrap()
}

#[test]
fn a_deleted_index_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    append(&store, 0, 300);
    let before = contents(&store);
    drop(store);
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    assert_eq!(store.recovery().replayed, 300);
    assert_eq!(contents(&store), before);
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    assert_eq!(
        store.recovery().replayed,
        0,
        "rebuilt, then handed down on close"
    );
    assert_eq!(contents(&store), before);
}

/// A log restored from a backup older than the index: the index reaches
/// past the log, so it is rebuilt from the log, which is the truth.
#[test]
fn an_index_ahead_of_the_log_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_interval().segment_size(4096);
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    append(&store, 0, 200);
    let older = contents(&store);
    drop(store);
    let backup = tempfile::tempdir().unwrap();
    copy_files(dir.path(), backup.path());
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    append(&store, 200, 400);
    drop(store);
    // Restore the log (not the index) from the backup.
    for segment in segments(dir.path()) {
        fs::remove_file(segment).unwrap();
    }
    copy_files(backup.path(), dir.path());
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    assert_eq!(store.recovery().events, 200);
    assert_eq!(
        store.recovery().replayed,
        200,
        "the whole log, into a new index"
    );
    assert_eq!(contents(&store), older);
    assert_eq!(
        course(&store, 2).last().copied(),
        older
            .iter()
            .rev()
            .find(|(p, _)| (p - 1) % 7 == 2)
            .map(|(p, _)| *p)
    );
}

/// Runs written while the store is open reach its index: an open after a
/// crash (no close) replays only what they did not reach.
#[test]
fn an_open_without_a_close_replays_less_than_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // Hand down every 2 KiB: the 300 events are several runs, and the
    // writer waits for one run before it starts the one after next.
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    append(&store, 0, 300);
    let before = contents(&store);
    // Copy the directory while the store is open, as a crash leaves it
    // (the index's writes reached the operating system, not a sync).
    let crashed = tempfile::tempdir().unwrap();
    copy_open_store(dir.path(), crashed.path());
    drop(store);
    let store = EmbeddedStore::open_with(crashed.path(), &small_interval()).unwrap();
    let replayed = store.recovery().replayed;
    assert!(replayed < 300, "replayed {replayed} of 300");
    assert_eq!(contents(&store), before);
}

/// A tail that was not handed down (no close: the process died) is read
/// from the log after the index's reach, and only that.
#[test]
fn an_open_without_a_close_replays_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), &small_interval()).unwrap();
    append(&store, 0, 300);
    // A clean close hands the whole tail down.
    drop(store);
    // The default interval (8 MiB): fifty events stay in the tail, whatever
    // the timing of the index's thread.
    let options = EmbeddedOptions::default().tail_kept_on_close(0);
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    append(&store, 300, 350);
    let before = contents(&store);
    let crashed = tempfile::tempdir().unwrap();
    copy_open_store(dir.path(), crashed.path());
    drop(store);
    let store = EmbeddedStore::open_with(crashed.path(), &options).unwrap();
    assert_eq!(store.recovery().events, 350);
    assert_eq!(store.recovery().replayed, 50, "the tail, and only that");
    assert_eq!(contents(&store), before);
}

fn copy_files(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// Copies the directory of a store that is open into `to`. The index's
/// thread and fjall's compaction may add or remove files meanwhile; then
/// the copy starts over, so that it holds no version of the index that
/// names a file the copy lacks.
fn copy_open_store(from: &Path, to: &Path) {
    for _ in 0..100 {
        let listed = listing(from);
        match copy_tree(from, to) {
            Ok(()) if listing(from) == listed => return,
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("copying the store: {err}"),
        }
        fs::remove_dir_all(to).unwrap();
        fs::create_dir_all(to).unwrap();
    }
    panic!("the store's files kept changing while they were copied");
}

/// Every file under `dir` with its length, in order.
fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => dirs.push(path),
                Ok(meta) => files.push((path, meta.len())),
                Err(_) => {}
            }
        }
    }
    files.sort();
    files
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            fs::create_dir_all(&target)?;
            copy_tree(&path, &target)?;
        } else {
            fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// A long stretch of log to index (a store whose index was deleted, as
/// one written before the index existed) is reported as it goes, in
/// chunks, up to the whole log.
#[test]
fn indexing_a_long_log_reports_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    // About 6 MB of log: more than one chunk of 4 MiB.
    block_on(async {
        let data = "x".repeat(2000);
        for i in 0..300 {
            let batch: Vec<EventRecord> = (0..10)
                .map(|j| EventRecord::new(EventType::from_static("Big"), format!("{i}-{j}-{data}")))
                .collect();
            store.append(batch, None).await.expect("append");
        }
    });
    drop(store);
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&reports);
    // Chunks of 4 MiB, and the rest into the index too, as it is over
    // the interval.
    let options = EmbeddedOptions::default()
        .index_interval(1 << 20)
        .on_index_progress(move |progress| {
            seen.lock().unwrap().push(progress);
        });
    let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports[0].bytes < reports[1].bytes && reports[0].events < reports[1].events);
    let last = reports[1];
    assert!(last.total_bytes > 5 << 20, "{last:?}");
    assert_eq!(
        (last.bytes, last.events),
        (last.total_bytes, 3000),
        "{last:?}"
    );
    assert_eq!(store.recovery().replayed, 3000);
    assert_eq!(contents(&store).len(), 3000);
}
