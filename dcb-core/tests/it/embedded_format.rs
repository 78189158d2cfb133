//! The embedded store's on-disk format, pinned by committed stores: every
//! format the store ever wrote must still open, so that no change to the
//! format silently orphans the stores users have on disk.
//!
//! `dcb-core/tests/fixtures/embedded/<version>/<fixture>/` holds a store
//! directory as the store wrote it (`store/`) and what it holds
//! (`events.jsonl`: every event with its position, type, tags, id and
//! data; `recovery.json` where opening must cut a torn tail). Each test
//! copies a fixture to a temporary directory (opening may write: it cuts a
//! torn tail, writes a missing manifest), opens it, and checks every event,
//! the head, reads by tag and type, the recovery report, and that appends
//! continue after the last position and survive a reopen.
//!
//! Two kinds of failure, two remedies:
//!
//! - *A fixture no longer opens, or reads differently*: the store can no
//!   longer read a format that stores on disk are written in. Keep reading
//!   it (a reader for each committed version), or add a migration that
//!   converts such a store when it is opened. Never regenerate or delete
//!   the old fixtures to make the test pass.
//! - *The store no longer writes what the newest fixtures hold*
//!   ([`the_store_still_writes_the_current_fixtures`]): the format changed.
//!   If on purpose, keep the old fixtures (they must still open), make
//!   [`CURRENT`] the new version, and write fixtures of it with
//!
//!   ```sh
//!   DCB_FIXTURES=overwrite cargo test -p dcb-core --test it embedded_format
//!   ```
//!
//!   which writes `fixtures/embedded/<CURRENT>/` (and only that). The diff
//!   is the review.
//!
//! The fixtures were made by [`write_fixtures`] from [`workload`]: `v1` on
//! the format of `DCBLOG1` segments (no recorded times, no metadata), `v2`
//! on `DCBLOG2` segments (a recorded time per append, metadata per event,
//! made by a clock that ticks a second per append from
//! [`FIXTURE_CLOCK_START`]); both with `dcb manifest 1` manifests
//! (docs/design.md, "The embedded store").

use std::fs;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicI64, Ordering};

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::{
    Clock, EventRecord, EventStore, Metadata, Position, Query, QueryItem, ReadOptions, Timestamp,
    Uuid,
};
use serde::{Deserialize, Serialize};

use crate::support::{block_on, event_type, tag};

/// The format the store writes now: the fixtures the generator makes, and
/// the directory `DCB_FIXTURES=overwrite` writes them to.
const CURRENT: &str = "v2";

/// Every committed format; each one's fixtures must open.
const VERSIONS: &[&str] = &["v1", "v2"];

/// When the generator's clock starts: each append is recorded a second
/// after the one before.
const FIXTURE_CLOCK_START: &str = "2026-12-05T12:00:00Z";

/// When an append after opening a fixture is recorded: later than any
/// fixture's time, so the store records it at this clock's time.
const AFTER_OPENING: &str = "2030-01-01T00:00:00.000001Z";

/// What to do when a committed fixture no longer opens or reads as it did.
const KEEP_READING: &str = "Stores of this format exist on disk: a change to the embedded store's \
     format must keep reading every committed format (dcb-core/tests/fixtures/embedded/), or add \
     a migration that converts such a store when it is opened. Never regenerate or delete old \
     fixtures to make this test pass.";

/// The segment size of every fixture: the smallest the store allows, so
/// that a few kilobytes of events span several segments.
const SEGMENT_SIZE: u64 = 4096;

/// A fixture's name, and the function that makes it in a directory.
type Fixture = (&'static str, fn(&Path));

/// The fixtures of one version.
const FIXTURES: &[Fixture] = &[
    ("segments", make_segments),
    ("torn-tail", make_torn_tail),
    ("no-manifest", make_no_manifest),
];

/// The number of appends of [`workload`] in `segments`.
const SEGMENTS_APPENDS: usize = 40;
/// The number of intact appends in `torn-tail`, whose next one is torn.
const TORN_TAIL_APPENDS: usize = 6;
/// The number of appends in `no-manifest`.
const NO_MANIFEST_APPENDS: usize = 20;

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn every_committed_format_opens_with_its_events() {
    for version in VERSIONS {
        for (name, _) in FIXTURES {
            check_fixture(
                &fixtures_dir().join(version).join(name),
                &format!("{version}/{name}"),
            );
        }
    }
}

#[test]
fn the_store_still_writes_the_current_fixtures() {
    let overwrite = std::env::var("DCB_FIXTURES").as_deref() == Ok("overwrite");
    let made = tempfile::tempdir().expect("a temporary directory");
    write_fixtures(made.path());
    let committed = fixtures_dir().join(CURRENT);
    if overwrite {
        // The fixtures, not the README beside them.
        for (name, _) in FIXTURES {
            let _ = fs::remove_dir_all(committed.join(name));
        }
        copy_dir(made.path(), &committed);
        eprintln!("wrote the fixtures of {CURRENT} to {}", committed.display());
        return;
    }
    // The index is derived from the log, in the format of the crate that
    // keeps it; the fixtures are the log.
    let made_files: Vec<PathBuf> = files_under(made.path())
        .into_iter()
        .filter(|path| !path.components().any(|part| part.as_os_str() == "index"))
        .collect();
    let committed_files: Vec<PathBuf> = files_under(&committed)
        .into_iter()
        .filter(|path| path.file_name().is_none_or(|name| name != "README.md"))
        .collect();
    let changed = |what: &str| -> ! {
        panic!(
            "the embedded store no longer writes the fixtures of format {CURRENT}: {what}.\n\
             If the format changed on purpose: keep reading {CURRENT} (its fixtures must still \
             open), make CURRENT in dcb-core/tests/it/embedded_format.rs the new version, add \
             it to VERSIONS, and write its fixtures with\n  \
             DCB_FIXTURES=overwrite cargo test -p dcb-core --test it embedded_format\n\
             If it did not: the writer changed what it writes; find out why before anything \
             else. (Editing `workload` changes them too: the fixtures of a released format are \
             never made again.)"
        )
    };
    if made_files != committed_files {
        changed(&format!(
            "the generator makes the files {made_files:?}, the committed fixtures are \
             {committed_files:?}"
        ));
    }
    for file in &made_files {
        let want = fs::read(committed.join(file)).expect("read a committed fixture file");
        let got = fs::read(made.path().join(file)).expect("read a made fixture file");
        if want != got {
            let at = want
                .iter()
                .zip(&got)
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(got.len()));
            changed(&format!(
                "{} differs from byte {at} on ({} bytes committed, {} written now)",
                file.display(),
                want.len(),
                got.len()
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Opening a fixture.

/// What a fixture's opening must cut off, as `recovery.json` says.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ExpectedCut {
    /// The segment cut, by its file name.
    segment: String,
    /// Where its valid data ends.
    offset: u64,
    /// How many bytes are cut.
    bytes: u64,
    /// Where the bytes cut are kept, relative to the store's directory.
    kept: String,
}

/// Copies the fixture in `fixture` to a temporary directory, opens it and
/// checks everything it holds against `events.jsonl` (and `recovery.json`).
fn check_fixture(fixture: &Path, name: &str) {
    let expected = read_events(&fixture.join("events.jsonl"));
    let cut: Option<ExpectedCut> = fs::read_to_string(fixture.join("recovery.json"))
        .ok()
        .map(|text| serde_json::from_str(&text).expect("a valid recovery.json"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&fixture.join("store"), dir.path());
    let had_manifest = dir.path().join("MANIFEST").exists();
    let fail = |what: String| -> ! {
        panic!(
            "the fixture {name} ({}): {what}\n{KEEP_READING}",
            fixture.display()
        )
    };

    let store = EmbeddedStore::open_with(dir.path(), &options())
        .unwrap_or_else(|err| fail(format!("it no longer opens: {err}")));
    if let Err(what) = check_recovery(&store, cut.as_ref(), fixture) {
        fail(what);
    }
    if let Err(what) = block_on(check_events(&store, &expected)) {
        fail(what);
    }
    let head = expected.len() as u64;
    let segments = store.recovery().segments;
    store.close();
    if !had_manifest {
        // A store made before manifests gains the one the store writes.
        let last = segment_names(dir.path()).pop().expect("a segment");
        let manifest = fs::read_to_string(dir.path().join("MANIFEST"))
            .unwrap_or_else(|err| fail(format!("opening wrote no MANIFEST: {err}")));
        assert_eq!(
            manifest,
            format!("dcb manifest 1\nlast segment {last}\n"),
            "the manifest a store made before manifests gains"
        );
    }

    // The store stays writable: an append takes the next position and
    // survives a reopen, with everything before it.
    let after_opening: Timestamp = AFTER_OPENING.parse().expect("a time");
    let store = EmbeddedStore::open_with(dir.path(), &options().clock(Clock::fixed(after_opening)))
        .unwrap_or_else(|err| fail(format!("it no longer opens a second time: {err}")));
    assert_eq!(
        store.recovery().truncated,
        None,
        "{name}: the second open cuts nothing"
    );
    assert_eq!(
        store.recovery().segments,
        segments,
        "{name}: segments on the second open"
    );
    let appended = EventRecord::new(event_type("Appended.AfterOpening"), "{}")
        .with_tags([tag("fixture:appended")])
        .with_id(Uuid::from_u128(0xA99E_4DED))
        .with_metadata([(Metadata::CORRELATION, "after-opening")]);
    let at = block_on(store.append(vec![appended.clone()], None))
        .unwrap_or_else(|err| fail(format!("an append after opening it fails: {err}")));
    assert_eq!(
        at.get(),
        head + 1,
        "{name}: the append after opening continues the positions"
    );
    store.close();
    let store = EmbeddedStore::open_with(dir.path(), &options())
        .unwrap_or_else(|err| fail(format!("it does not open after an append: {err}")));
    let mut with_appended = expected;
    with_appended.push(Expected::of(head + 1, Some(after_opening), &appended));
    if let Err(what) = block_on(check_events(&store, &with_appended)) {
        fail(format!("after an append and a reopen, {what}"));
    }
    store.close();
}

fn options() -> EmbeddedOptions {
    EmbeddedOptions::default().segment_size(SEGMENT_SIZE)
}

/// Checks what opening cut against `cut`: the segment, the offset, the
/// number of bytes, and that the bytes kept in `damaged/` are the ones the
/// fixture's segment held past the offset.
fn check_recovery(
    store: &EmbeddedStore,
    cut: Option<&ExpectedCut>,
    fixture: &Path,
) -> Result<(), String> {
    let found = store.recovery().truncated.as_ref();
    match (cut, found) {
        (None, None) => Ok(()),
        (None, Some(found)) => Err(format!("opening cut what it should not: {found}")),
        (Some(cut), None) => Err(format!("opening did not cut the torn tail {cut:?}")),
        (Some(cut), Some(found)) => {
            let dir = store.dir();
            let got = ExpectedCut {
                segment: file_name(&found.file),
                offset: found.offset,
                bytes: found.bytes,
                kept: found.kept.as_ref().map_or_else(String::new, |kept| {
                    kept.strip_prefix(dir)
                        .unwrap_or(kept)
                        .to_string_lossy()
                        .into_owned()
                }),
            };
            if &got != cut {
                return Err(format!("opening cut {got:?}, not {cut:?} ({found})"));
            }
            let segment = fs::read(fixture.join("store").join(&cut.segment))
                .expect("read the fixture's segment");
            let kept = fs::read(dir.join(&cut.kept))
                .map_err(|err| format!("the bytes cut are not kept in {}: {err}", cut.kept))?;
            let tail = &segment[usize::try_from(cut.offset).expect("an offset")..];
            if kept != tail {
                return Err(format!("{} does not hold the bytes cut", cut.kept));
            }
            let left = fs::metadata(dir.join(&cut.segment)).map_or(0, |m| m.len());
            if left != cut.offset {
                return Err(format!(
                    "the segment is {left} bytes after the cut, not {}",
                    cut.offset
                ));
            }
            Ok(())
        }
    }
}

/// Checks that `store` holds exactly `expected`, at positions 1..=head,
/// that its head says so, and that reads by each tag and type find the
/// events holding it.
async fn check_events(store: &EmbeddedStore, expected: &[Expected]) -> Result<(), String> {
    let all = store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .map_err(|err| format!("reading it fails: {err}"))?;
    let stored: Vec<Expected> = all
        .events
        .iter()
        .map(|event| Expected::of(event.position.get(), event.recorded_at, &event.event))
        .collect();
    if let Some(i) =
        (0..expected.len().max(stored.len())).find(|&i| expected.get(i) != stored.get(i))
    {
        return Err(format!(
            "it reads differently from event {}: expected {:?}, read {:?} ({} events expected, \
             {} read)",
            i + 1,
            expected.get(i),
            stored.get(i),
            expected.len(),
            stored.len()
        ));
    }
    let head = Position::new(expected.len() as u64);
    let found = store.head().await.map_err(|err| err.to_string())?;
    if all.head != head || found != head {
        return Err(format!(
            "its head is {found:?} (a full read's {:?}), not {head:?}",
            all.head
        ));
    }
    for query_tag in expected.iter().flat_map(|e| &e.tags) {
        let query = Query::from_items([QueryItem::new().tags([tag(query_tag)])]);
        let want = expected.iter().filter(|e| e.tags.contains(query_tag));
        check_read(store, &query, want, &format!("tag {query_tag}")).await?;
    }
    for ty in expected.iter().map(|e| &e.event_type) {
        let query = Query::from_items([QueryItem::new().types([event_type(ty)])]);
        let want = expected.iter().filter(|e| &e.event_type == ty);
        check_read(store, &query, want, &format!("type {ty}")).await?;
    }
    Ok(())
}

async fn check_read<'a>(
    store: &EmbeddedStore,
    query: &Query,
    want: impl Iterator<Item = &'a Expected>,
    what: &str,
) -> Result<(), String> {
    let want: Vec<u64> = want.map(|e| e.position).collect();
    let read = store
        .read_to_end(query, ReadOptions::new())
        .await
        .map_err(|err| format!("a read by {what} fails: {err}"))?;
    let got: Vec<u64> = read.events.iter().map(|e| e.position.get()).collect();
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "a read by {what} finds positions {got:?}, not {want:?}"
        ))
    }
}

// ---------------------------------------------------------------------------
// What a fixture holds: `events.jsonl`.

/// One stored event, as a line of `events.jsonl`: its data as text when
/// it is UTF-8, else in hexadecimal; its recorded time and metadata when
/// it has them (format 1 has neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Expected {
    position: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recorded_at: Option<Timestamp>,
    #[serde(rename = "type")]
    event_type: String,
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
}

impl Expected {
    fn of(position: u64, recorded_at: Option<Timestamp>, event: &EventRecord) -> Expected {
        let text = std::str::from_utf8(event.data()).ok();
        Expected {
            position,
            recorded_at,
            event_type: event.event_type().as_str().to_owned(),
            tags: event.tags().iter().map(|t| t.as_str().to_owned()).collect(),
            id: event.id(),
            data: text.map(str::to_owned),
            data_hex: text.is_none().then(|| hex(event.data())),
            metadata: event.metadata().clone(),
        }
    }
}

fn read_events(path: &Path) -> Vec<Expected> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{} line {}: {err}", path.display(), i + 1))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

// ---------------------------------------------------------------------------
// The generator.

/// Writes every fixture of the current format under `root`, as
/// `<root>/<fixture>/{store/, events.jsonl, recovery.json}`.
fn write_fixtures(root: &Path) {
    for (name, make) in FIXTURES {
        let fixture = root.join(name);
        let store = fixture.join("store");
        fs::create_dir_all(&store).expect("make a fixture's directory");
        make(&fixture);
        // `LOCK` is empty, and its presence is all a store needs of it.
        assert!(store.join("LOCK").exists(), "{name} has its LOCK");
    }
}

/// `segments`: [`SEGMENTS_APPENDS`] appends of [`workload`] over several
/// segments.
fn make_segments(fixture: &Path) {
    let events = append_all(&fixture.join("store"), &workload()[..SEGMENTS_APPENDS]);
    assert!(
        segment_names(&fixture.join("store")).len() >= 3,
        "the segments fixture spans at least three segments"
    );
    write_events(fixture, &events);
}

/// `torn-tail`: [`TORN_TAIL_APPENDS`] appends of [`workload`], then the
/// next one torn: its record cut in the middle, as by a crash during the
/// write (before its sync, so it was never acknowledged).
fn make_torn_tail(fixture: &Path) {
    let store = fixture.join("store");
    let appends = workload();
    let events = append_all(&store, &appends[..TORN_TAIL_APPENDS]);
    let segment = store.join(segment_names(&store).pop().expect("a segment"));
    let intact = fs::metadata(&segment).expect("the segment").len();
    append_all(&store, &appends[TORN_TAIL_APPENDS..=TORN_TAIL_APPENDS]);
    let whole = fs::metadata(&segment).expect("the segment").len();
    assert_eq!(
        segment_names(&store).len(),
        1,
        "the torn-tail fixture has one segment"
    );
    let torn = intact + (whole - intact) / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .and_then(|file| file.set_len(torn))
        .expect("tear the last record");
    write_events(fixture, &events);
    let name = file_name(&segment);
    let cut = ExpectedCut {
        kept: format!("damaged/{name}.from-byte-{intact}"),
        segment: name,
        offset: intact,
        bytes: torn - intact,
    };
    let text = serde_json::to_string_pretty(&cut).expect("encode recovery.json") + "\n";
    fs::write(fixture.join("recovery.json"), text).expect("write recovery.json");
}

/// `no-manifest`: [`NO_MANIFEST_APPENDS`] appends of [`workload`] over two
/// segments, without the `MANIFEST` — a store made before manifests
/// (before commit 02ff037), whose segments had the same format.
fn make_no_manifest(fixture: &Path) {
    let store = fixture.join("store");
    let events = append_all(&store, &workload()[..NO_MANIFEST_APPENDS]);
    assert!(
        segment_names(&store).len() >= 2,
        "the no-manifest fixture spans two segments"
    );
    fs::remove_file(store.join("MANIFEST")).expect("remove the manifest");
    write_events(fixture, &events);
}

/// Appends `appends` one by one (so each is its own record) to the store
/// in `dir` and returns every event the store then holds. The store's
/// clock ticks a second per append from [`FIXTURE_CLOCK_START`], so the
/// fixtures are the same on every run.
fn append_all(dir: &Path, appends: &[Vec<EventRecord>]) -> Vec<Expected> {
    let start: Timestamp = FIXTURE_CLOCK_START.parse().expect("a time");
    let ticks = AtomicI64::new(0);
    let clock = Clock::from_fn(move || {
        let tick = ticks.fetch_add(1, Ordering::Relaxed);
        Timestamp::from_micros(start.as_micros() + tick * 1_000_000)
    });
    let store =
        EmbeddedStore::open_with(dir, &options().clock(clock)).expect("open the fixture's store");
    block_on(async {
        for events in appends {
            store.append(events.clone(), None).await.expect("append");
        }
        let read = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("read");
        store.close();
        read.events
            .iter()
            .map(|e| Expected::of(e.position.get(), e.recorded_at, &e.event))
            .collect()
    })
}

fn write_events(fixture: &Path, events: &[Expected]) {
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("encode an event") + "\n")
        .collect();
    fs::write(fixture.join("events.jsonl"), text).expect("write events.jsonl");
}

/// The appends the fixtures are made of: every shape the record format
/// holds — one event and several, no tag, one, many and a 256-byte one,
/// type names and tags beyond ASCII and a 256-byte type name, ids and none,
/// empty, JSON and binary data (every byte value), no metadata, a little
/// and much (a 256-byte key, text beyond ASCII, an empty value) — then
/// appends of one to three events of ordinary size, enough to fill three
/// segments, every third with a correlation and a causation. Format 1
/// fixtures were made before events had metadata.
fn workload() -> Vec<Vec<EventRecord>> {
    let long_type = "T".repeat(256);
    let long_tag = format!("long:{}", "x".repeat(251));
    let mut appends = vec![
        vec![
            EventRecord::new(
                event_type("CourseRegistered"),
                r#"{"course_id":"c1","name":"Maths","places":3}"#,
            )
            .with_tags([tag("course:c1")]),
        ],
        vec![
            EventRecord::new(event_type("StudentJoinedCourse"), r#"{"n":1}"#)
                .with_tags([tag("course:c1"), tag("student:s1")])
                .with_id(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef))
                .with_metadata([(Metadata::CORRELATION, "req-1"), ("user", "alice")]),
            EventRecord::new(event_type("StudentJoinedCourse"), r#"{"n":2}"#)
                .with_tags([tag("course:c1"), tag("student:s2")])
                .with_id(Uuid::from_u128(u128::MAX)),
            EventRecord::new(event_type("Untagged"), Vec::<u8>::new()),
        ],
        vec![EventRecord::new(event_type("Untagged"), "no tags, no id")],
        vec![
            EventRecord::new(event_type("Café.Ouvert"), "données: ünïcödé ✓")
                .with_tags([tag("ville:Zürich"), tag("名前:東京")])
                .with_metadata([
                    ("k".repeat(256), "v".repeat(1000)),
                    ("utilisateur".to_owned(), "Zoë ✓".to_owned()),
                    ("vide".to_owned(), String::new()),
                ]),
        ],
        vec![
            EventRecord::new(event_type(&long_type), (0..=255u8).collect::<Vec<u8>>())
                .with_tags([tag(&long_tag)])
                .with_id(Uuid::from_u128(1)),
        ],
        vec![
            EventRecord::new(event_type("ManyTags"), vec![0u8; 16]).with_tags(
                (0..40)
                    .map(|i| tag(&format!("many:{i:02}")))
                    .collect::<Vec<_>>(),
            ),
        ],
    ];
    for i in 0..60u32 {
        let events = (0..=i % 3)
            .map(|j| {
                let kind = [
                    "CourseRegistered",
                    "StudentJoinedCourse",
                    "StudentLeftCourse",
                ][(i + j) as usize % 3];
                let data = format!(
                    r#"{{"append":{i},"event":{j},"note":"{}"}}"#,
                    "padding ".repeat(usize::try_from(i % 7).unwrap())
                );
                let event = EventRecord::new(event_type(kind), data).with_tags([
                    tag(&format!("course:c{}", i % 5)),
                    tag(&format!("student:s{}", (i + j) % 7)),
                ]);
                let event = if i % 4 == 0 {
                    event.with_id(Uuid::from_u128(u128::from(i) << 8 | u128::from(j)))
                } else {
                    event
                };
                if i % 3 == 0 {
                    event.with_metadata([
                        (Metadata::CORRELATION, format!("req-{i}")),
                        (Metadata::CAUSATION, format!("{}", i + 1)),
                    ])
                } else {
                    event
                }
            })
            .collect();
        appends.push(events);
    }
    appends
}

// ---------------------------------------------------------------------------
// Files.

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embedded")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The names of the segment files in `dir`, in order.
fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list the store")
        .map(|entry| file_name(&entry.expect("a directory entry").path()))
        .filter(|name| {
            name.strip_suffix(".log").is_some_and(|digits| {
                digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .collect();
    names.sort();
    names
}

/// Every file under `root`, as paths relative to it, in order.
fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under the root").to_owned());
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

/// Copies the files under `from` to `to`, making folders as needed.
fn copy_dir(from: &Path, to: &Path) {
    for file in files_under(from) {
        let target = to.join(&file);
        fs::create_dir_all(target.parent().expect("a parent")).expect("make a folder");
        fs::copy(from.join(&file), &target)
            .unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
    }
}
