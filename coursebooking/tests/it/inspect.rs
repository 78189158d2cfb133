//! The inspector binary `dcb` as a user runs it, on a course-booking store
//! that the application keeps open (read beside it) or that nobody has open
//! (read through its index): `head`, `read` with every filter against the
//! store's own reads, decoded and undecodable data, `tail`, a closed pipe,
//! damaged and large stores, and the errors with their exit statuses.
//!
//! The PostgreSQL test follows `tests/tests/postgres_support`: the server
//! is `DCB_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! when it is unreachable the test warns loudly and passes, unless
//! `DCB_REQUIRE_POSTGRES=1`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use coursebooking::decisions::DcbEnrolment;
use coursebooking::{CourseId, Enrolment, StudentId};
use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    EventRecord, EventStore, EventType, Position, Query, QueryItem, ReadOptions, SequencedEvent,
    Tag, registry,
};
use serde_json::{Value, json};

use crate::support::{postgres_url, skip, stderr};

/// How long a test waits for a line from `dcb tail` before it calls it
/// hung; no result depends on it.
const HANG: Duration = Duration::from_mins(2);

fn dcb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcb"))
        .args(args)
        .env_remove("DCB_STORE")
        .env_remove("DCB_SCHEMA")
        .output()
        .expect("the binary runs")
}

fn dcb_on(dir: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--store", dir.to_str().unwrap()]);
    dcb(&all)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Data no registered type claims, and data a registered type cannot read.
const UNKNOWN: &str = "LegacyThing";

struct Booked {
    maths: CourseId,
    ada: StudentId,
}

/// Two courses, three students, some joins, one event of an unknown type
/// and one that its registered type cannot decode.
async fn book<S: EventStore + Clone>(store: &S) -> Booked {
    let app = DcbEnrolment::new(store.clone());
    let maths = app.register_course("Maths", 3).await.unwrap();
    let french = app.register_course("French", 3).await.unwrap();
    let ada = app.register_student("Ada", 2).await.unwrap();
    let bob = app.register_student("Bob", 2).await.unwrap();
    let eve = app.register_student("Eve", 2).await.unwrap();
    app.join_course(ada, maths).await.unwrap();
    app.join_course(bob, maths).await.unwrap();
    app.join_course(ada, french).await.unwrap();
    store
        .append(
            vec![
                EventRecord::new(EventType::from_static(UNKNOWN), "hello")
                    .with_tags([Tag::from_static("legacy:1")])
                    .with_id(dcb_core::Uuid::from_u128(42)),
                EventRecord::new(EventType::from_static("CourseRegistered"), "not json"),
            ],
            None,
        )
        .await
        .unwrap();
    app.join_course(eve, french).await.unwrap();
    Booked { maths, ada }
}

/// Checks that the printed lines are the events of the store's read, with
/// their data decoded as the registry decodes it.
fn assert_lines_are(printed: &[Value], events: &[SequencedEvent]) {
    let positions = |values: &[Value]| -> Vec<u64> {
        values
            .iter()
            .map(|v| v["position"].as_u64().unwrap())
            .collect()
    };
    let expected: Vec<u64> = events.iter().map(|e| e.position.get()).collect();
    assert_eq!(positions(printed), expected);
    for (line, event) in printed.iter().zip(events) {
        assert_eq!(line["type"], event.event_type().as_str());
        let tags: Vec<&str> = event.tags().iter().map(Tag::as_str).collect();
        assert_eq!(line["tags"], serde_json::json!(tags));
        match event.id() {
            Some(id) => assert_eq!(line["id"], id.to_string()),
            None => assert!(line["id"].is_null()),
        }
        let recorded_at = event.recorded_at.expect("the store records times");
        assert_eq!(line["recorded_at"], recorded_at.to_string());
        if event.metadata().is_empty() {
            assert!(line.get("metadata").is_none(), "{line}");
        } else {
            assert_eq!(
                line["metadata"],
                serde_json::to_value(event.metadata()).unwrap()
            );
        }
        match registry::to_json(event) {
            Ok(data) => assert_eq!(line["data"], data),
            Err(_) => assert!(line["data_base64"].is_string(), "{line}"),
        }
    }
}

#[test]
fn head_and_read_match_the_store_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    // The application keeps the store open while the inspector reads it.
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let booked = runtime.block_on(book(&store));
    let read = |query: Query, options: ReadOptions| {
        runtime
            .block_on(store.read_to_end(&query, options))
            .unwrap()
            .events
    };

    let head = runtime.block_on(store.head()).unwrap().unwrap();
    let output = dcb_on(dir.path(), &["head"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{head}\n"));

    let joined = EventType::from_static("StudentJoinedCourse");
    let registered = EventType::from_static("CourseRegistered");
    let maths = Tag::new(format!("course:{}", booked.maths)).unwrap();
    let ada = Tag::new(format!("student:{}", booked.ada)).unwrap();
    let cases: Vec<(Vec<String>, Query, ReadOptions)> = vec![
        (vec![], Query::all(), ReadOptions::new()),
        (
            vec!["--type".into(), joined.to_string()],
            QueryItem::new().types([joined.clone()]).into(),
            ReadOptions::new(),
        ),
        (
            vec![
                "--type".into(),
                joined.to_string(),
                "--type".into(),
                registered.to_string(),
            ],
            QueryItem::new()
                .types([joined.clone(), registered.clone()])
                .into(),
            ReadOptions::new(),
        ),
        (
            vec!["--tag".into(), maths.to_string()],
            QueryItem::new().tags([maths.clone()]).into(),
            ReadOptions::new(),
        ),
        (
            vec![
                "--tag".into(),
                maths.to_string(),
                "--tag".into(),
                ada.to_string(),
            ],
            QueryItem::new().tags([maths.clone(), ada.clone()]).into(),
            ReadOptions::new(),
        ),
        (
            vec![
                "--type".into(),
                joined.to_string(),
                "--tag".into(),
                ada.to_string(),
                "--after".into(),
                "6".into(),
            ],
            QueryItem::new()
                .types([joined.clone()])
                .tags([ada.clone()])
                .into(),
            ReadOptions::new().after(Position::new(6)),
        ),
        (
            vec!["--after".into(), "3".into(), "--limit".into(), "4".into()],
            Query::all(),
            ReadOptions::new().after(Position::new(3)).limit(4),
        ),
        (
            vec!["--backwards".into(), "--limit".into(), "3".into()],
            Query::all(),
            ReadOptions::new().backwards().limit(3),
        ),
        (
            vec!["--backwards".into(), "--tag".into(), maths.to_string()],
            QueryItem::new().tags([maths.clone()]).into(),
            ReadOptions::new().backwards(),
        ),
    ];
    for (args, query, options) in cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.insert(0, "read");
        let printed = lines(&dcb_on(dir.path(), &args));
        let events = read(query, options);
        assert!(!events.is_empty(), "{args:?} selects something");
        assert_lines_are(&printed, &events);
    }
}

/// Four events recorded at 10:00, 11:00, 12:00 and 13:00 on 2026-12-05,
/// each caused by the one before, except the fourth, caused by the second.
fn store_with_causes(dir: &Path) -> Vec<SequencedEvent> {
    use dcb_core::{Clock, Timestamp};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    let runtime = runtime();
    let now = Arc::new(AtomicI64::new(0));
    let clock = {
        let now = Arc::clone(&now);
        Clock::from_fn(move || Timestamp::from_micros(now.load(Ordering::Relaxed)))
    };
    let store = EmbeddedStore::open_with(dir, &EmbeddedOptions::default().clock(clock)).unwrap();
    let at = |hour: u32| -> Timestamp { format!("2026-12-05T{hour:02}:00:00Z").parse().unwrap() };
    let mut stored: Vec<SequencedEvent> = Vec::new();
    for (n, hour, cause) in [
        (1, 10, None),
        (2, 11, Some(0)),
        (3, 12, Some(1)),
        (4, 13, Some(1)),
    ] {
        now.store(at(hour).as_micros(), Ordering::Relaxed);
        let mut record = EventRecord::new(EventType::from_static(UNKNOWN), format!("{n}"))
            .with_metadata([("user", "ada")]);
        if let Some(cause) = cause {
            record = record.caused_by(&stored[cause]);
        }
        runtime.block_on(store.append(vec![record], None)).unwrap();
        stored = runtime
            .block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
            .unwrap()
            .events;
    }
    store.close();
    stored
}

/// `--since` and `--until` select by recorded time, forwards and
/// backwards and with a limit; `chain` follows causations back.
#[test]
fn times_select_events_and_chain_follows_causes() {
    use dcb_core::Metadata;

    let dir = tempfile::tempdir().unwrap();
    let stored = store_with_causes(dir.path());
    assert_eq!(stored[3].metadata().causation(), Position::new(2));
    let positions = |args: &[&str]| -> Vec<u64> {
        lines(&dcb_on(dir.path(), args))
            .iter()
            .map(|v| v["position"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        positions(&["read", "--since", "2026-12-05T11:00:00Z"]),
        [2, 3, 4]
    );
    assert_eq!(positions(&["read", "--until", "2026-12-05T11:00:00Z"]), [1]);
    assert_eq!(
        positions(&[
            "read",
            "--since",
            "2026-12-05T11:00:00Z",
            "--until",
            "2026-12-05T13:00:00Z"
        ]),
        [2, 3]
    );
    assert_eq!(
        positions(&["read", "--since", "2026-12-05T11:00:00Z", "--limit", "1"]),
        [2]
    );
    assert_eq!(
        positions(&[
            "read",
            "--backwards",
            "--until",
            "2026-12-05T13:00:00Z",
            "--limit",
            "1"
        ]),
        [3]
    );
    assert_eq!(
        positions(&[
            "read",
            "--backwards",
            "--since",
            "2026-12-05T12:00:00+01:00"
        ]),
        [4, 3, 2]
    );
    assert_eq!(
        positions(&["read", "--since", "2026-12-06"]),
        Vec::<u64>::new()
    );
    let types = lines(&dcb_on(
        dir.path(),
        &["types", "--since", "2026-12-05T12:00:00Z"],
    ));
    assert_eq!(types.len(), 1, "{types:?}");
    assert_eq!(
        types[0]["events"], 2,
        "types counts the events of the period"
    );
    let printed = lines(&dcb_on(
        dir.path(),
        &["read", "--since", "2026-12-05T13:00:00Z"],
    ));
    assert_eq!(printed[0]["recorded_at"], "2026-12-05T13:00:00.000000Z");
    assert_eq!(printed[0]["metadata"]["user"], "ada");
    assert_eq!(printed[0]["metadata"][Metadata::CAUSATION], "2");
    assert_eq!(printed[0]["metadata"][Metadata::CORRELATION], "1");

    assert_eq!(positions(&["chain", "4"]), [4, 2, 1]);
    assert_eq!(positions(&["chain", "3"]), [3, 2, 1]);
    assert_eq!(positions(&["chain", "1"]), [1]);
    let missing = dcb_on(dir.path(), &["chain", "9"]);
    assert_fails(&missing, 3, "the store holds no event at position 9");
    assert_usage(
        &dcb_on(dir.path(), &["read", "--since", "yesterday"]),
        "is not a time",
    );
}

#[test]
fn data_is_decoded_through_the_registry_or_shown_in_base64() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    runtime().block_on(book(&store));
    let printed = lines(&dcb_on(dir.path(), &["read"]));

    let maths = &printed[0];
    assert_eq!(maths["type"], "CourseRegistered");
    assert_eq!(maths["data"]["name"], "Maths");
    assert_eq!(maths["data"]["places"], 3);
    assert!(maths.get("data_base64").is_none());

    let unknown = printed.iter().find(|l| l["type"] == UNKNOWN).unwrap();
    assert_eq!(unknown["data_base64"], "aGVsbG8="); // "hello"
    assert_eq!(unknown["tags"], serde_json::json!(["legacy:1"]));
    assert_eq!(unknown["id"], "00000000-0000-0000-0000-00000000002a");
    assert!(unknown.get("data").is_none() && unknown.get("decode_error").is_none());

    // The next event, printed at the index of the unknown one's position.
    let next = usize::try_from(unknown["position"].as_u64().unwrap()).unwrap();
    let undecodable = &printed[next];
    assert_eq!(undecodable["type"], "CourseRegistered");
    assert_eq!(undecodable["data_base64"], "bm90IGpzb24="); // "not json"
    let why = undecodable["decode_error"].as_str().unwrap();
    assert!(why.contains("CourseRegistered"), "{why}");
    // The listing went on past both.
    assert_eq!(printed.last().unwrap()["type"], "StudentJoinedCourse");
}

#[test]
fn types_counts_each_stored_type_and_finds_the_unregistered() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    runtime.block_on(book(&store));
    let events = runtime
        .block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
        .unwrap()
        .events;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &events {
        *counts.entry(event.event_type().as_str()).or_default() += 1;
    }
    let expected: Vec<Value> = counts
        .iter()
        .map(|(event_type, events)| {
            let registered_as = registry::find(event_type).map(|r| r.rust_type.as_str());
            json!({"type": event_type, "events": events, "registered_as": registered_as})
        })
        .collect();
    assert_eq!(lines(&dcb_on(dir.path(), &["types"])), expected);
    let course = lines(&dcb_on(
        dir.path(),
        &["types", "--type", "CourseRegistered"],
    ));
    // Registered, though one of its events does not decode: that is `read`'s
    // decode_error, not an unregistered type.
    assert_eq!(course.len(), 1);
    assert_eq!(course[0]["events"], 3);
    assert!(
        course[0]["registered_as"]
            .as_str()
            .is_some_and(|t| t.ends_with("::CourseRegistered")),
        "{course:?}"
    );

    let unregistered = json!({"type": UNKNOWN, "events": 1, "registered_as": null});
    let args: [&[&str]; 2] = [
        &["types", "--unregistered"],
        &["types", "--tag", "legacy:1"],
    ];
    for args in args {
        let printed = lines(&dcb_on(dir.path(), args));
        assert_eq!(printed, std::slice::from_ref(&unregistered), "{args:?}");
    }
}

/// Reads lines of `reader` on a thread of its own, so a test can wait for
/// one with a timeout.
fn line_reader(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A running `dcb` whose output lines a test waits for, each for at most
/// [`HANG`]; killed when dropped.
struct Running {
    child: Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dcb"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = line_reader(child.stdout.take().unwrap());
        let err = line_reader(child.stderr.take().unwrap());
        Running { child, out, err }
    }

    /// The next line on stdout, as JSON.
    fn printed(&self) -> Value {
        serde_json::from_str(&self.out.recv_timeout(HANG).unwrap()).unwrap()
    }

    /// The next line on stderr.
    fn said(&self) -> String {
        self.err.recv_timeout(HANG).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tail_prints_events_as_they_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let booked = runtime.block_on(book(&store));
    let app = DcbEnrolment::new(store.clone());
    let head = runtime.block_on(store.head()).unwrap().unwrap();

    let dir_arg = dir.path().to_str().unwrap();
    let tail = Running::spawn(&["tail", "--type", "StudentJoinedCourse", "--store", dir_arg]);
    // It starts at the head, and says so before it waits.
    assert_eq!(
        tail.said(),
        format!("following the events after position {head}")
    );

    // A registration (not selected), then a join (selected).
    let zoe = runtime.block_on(app.register_student("Zoe", 1)).unwrap();
    runtime
        .block_on(app.join_course(zoe, booked.maths))
        .unwrap();
    let line = tail.printed();
    drop(tail);

    assert_eq!(line["position"], head.get() + 2);
    assert_eq!(line["type"], "StudentJoinedCourse");
    assert_eq!(line["data"]["student_id"], zoe.to_string());
    assert_eq!(line["data"]["course_id"], booked.maths.to_string());
}

/// `tail` on a store nobody has open leaves it free: the application opens
/// it while `tail` runs (it would fail at once if `tail` held the lock),
/// and `tail` prints what the application appends.
#[test]
fn tail_on_an_idle_store_leaves_its_lock_to_the_application() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let booked = runtime.block_on(book(&store));
    store.close();

    let dir_arg = dir.path().to_str().unwrap();
    let tail = Running::spawn(&["tail", "--type", "StudentJoinedCourse", "--store", dir_arg]);
    assert!(
        tail.said()
            .starts_with("following the events after position")
    );
    let options = EmbeddedOptions::default().lock_timeout(Duration::ZERO);
    let store = EmbeddedStore::open_with(dir.path(), &options)
        .expect("the application opens the store while tail runs");
    let app = DcbEnrolment::new(store.clone());
    let zoe = runtime.block_on(app.register_student("Zoe", 1)).unwrap();
    runtime
        .block_on(app.join_course(zoe, booked.maths))
        .unwrap();
    let line = tail.printed();
    assert_eq!(line["data"]["student_id"], zoe.to_string());
}

#[test]
fn tail_after_a_position_prints_the_stored_events_first() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    runtime.block_on(book(&store));
    let stored = runtime
        .block_on(store.read_to_end(&Query::all(), ReadOptions::new().after(Position::new(8))))
        .unwrap()
        .events;

    let tail = Running::spawn(&[
        "tail",
        "--after",
        "8",
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    let printed: Vec<Value> = stored.iter().map(|_| tail.printed()).collect();
    drop(tail);
    assert_lines_are(&printed, &stored);
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    // Far more output than the pipe and the output buffer hold, so the
    // inspector is still writing when the reader goes away.
    for batch in 0..40 {
        let events = (0..100)
            .map(|i| {
                EventRecord::new(
                    EventType::from_static(UNKNOWN),
                    format!("{batch}/{i}").repeat(20),
                )
            })
            .collect();
        runtime.block_on(store.append(events, None)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcb"))
        .args(["read", "--store"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"position\":1,"), "{first}");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

/// Checks an error: the exit status, and one line on stderr containing
/// `says`.
fn assert_fails(output: &Output, status: i32, says: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(status), "{message}");
    assert!(output.stdout.is_empty());
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("error: "), "{message}");
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

/// Checks a usage error that clap reports: status 2, the reason on the
/// first line.
fn assert_usage(output: &Output, says: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    let first = message.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{message}");
    assert!(first.contains(says), "{first:?} should say {says:?}");
}

#[test]
fn wrong_stores_and_arguments_are_clear_errors() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("missing");
    assert_fails(&dcb_on(&missing, &["head"]), 2, "does not exist");
    assert!(!missing.exists(), "the inspector does not create it");
    assert_fails(
        &dcb_on(parent.path(), &["read"]),
        2,
        "no segment files and no LOCK file",
    );
    assert_fails(&dcb(&["head"]), 2, "no store given");

    let dir = tempfile::tempdir().unwrap();
    drop(EmbeddedStore::open(dir.path()).unwrap());
    let empty = dcb_on(dir.path(), &["head"]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert_eq!(stdout(&empty), "none\n");

    assert_usage(
        &dcb_on(dir.path(), &["read", "--after", "0"]),
        "positions start at 1",
    );
    assert_usage(
        &dcb_on(dir.path(), &["read", "--after", "x"]),
        "whole number",
    );
    assert_usage(&dcb_on(dir.path(), &["read", "--limit", "0"]), "at least 1");
    assert_usage(&dcb_on(dir.path(), &["read", "--type", ""]), "--type");
    assert_usage(&dcb_on(dir.path(), &["read", "--tag", "a\tb"]), "--tag");
    assert_usage(&dcb_on(dir.path(), &["scan"]), "unrecognized subcommand");

    assert_fails(
        &dcb(&["head", "--store", "postgres://postgres@127.0.0.1:1/test"]),
        3,
        "cannot connect to PostgreSQL",
    );
    assert_fails(
        &dcb(&["head", "--store", "postgresql://x@127.0.0.1:notaport/test"]),
        2,
        "invalid PostgreSQL URL",
    );
    assert_fails(
        &dcb(&["head", "--store", "postgres://x@127.0.0.1/test?colour=blue"]),
        2,
        "unknown option `colour`",
    );
    assert_fails(
        &dcb(&[
            "head",
            "--store",
            "postgres://x@localhost/test?sslmode=verify-full&sslrootcert=%2Fnonexistent.pem",
        ]),
        2,
        "sslrootcert /nonexistent.pem: cannot read it",
    );
    assert_fails(
        &dcb(&[
            "head",
            "--store",
            "postgres://x@127.0.0.1/test",
            "--schema",
            "Bad-Name",
        ]),
        2,
        "invalid schema name",
    );
}

#[test]
fn migrations_prints_the_script_of_the_schema_without_a_store() {
    let all = dcb(&["migrations", "--schema", "shop"]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert_eq!(
        stdout(&all),
        dcb_core::postgres::migration_script("shop", 0).unwrap()
    );
    let rest = dcb(&["migrations", "--schema", "shop", "--after", "1"]);
    assert_eq!(
        stdout(&rest),
        dcb_core::postgres::migration_script("shop", 1).unwrap()
    );
    assert_fails(
        &dcb(&["migrations", "--schema", "Shop"]),
        2,
        "invalid schema name",
    );
    assert_fails(&dcb(&["migrations", "--after", "999"]), 2, "newer than");
    assert_usage(&dcb(&["migrations", "--after", "-1"]), "-1");
    // The schema may come from the environment, as the store does.
    let from_env = Command::new(env!("CARGO_BIN_EXE_dcb"))
        .args(["migrations"])
        .env("DCB_SCHEMA", "shop")
        .output()
        .unwrap();
    assert_eq!(stdout(&from_env), stdout(&all));
}

#[test]
fn grants_prints_what_a_role_needs_without_a_store() {
    let grants = dcb(&["grants", "--role", "booking app", "--schema", "shop"]);
    assert!(grants.status.success(), "{}", stderr(&grants));
    assert_eq!(
        stdout(&grants),
        dcb_core::postgres::grant_script("shop", "booking app").unwrap()
    );
    assert_fails(&dcb(&["grants", "--role", ""]), 2, "invalid role name");
    assert_fails(
        &dcb(&["grants", "--role", "app", "--schema", "Shop"]),
        2,
        "invalid schema name",
    );
    assert_usage(&dcb(&["grants"]), "required arguments");
}

#[test]
fn completions_are_scripts_of_every_command() {
    let script = dcb(&["completions", "bash"]);
    assert!(script.status.success(), "{}", stderr(&script));
    let text = stdout(&script);
    for command in ["head", "read", "tail", "chain", "types", "--since"] {
        assert!(text.contains(command), "{command} in {text}");
    }
    assert_usage(&dcb(&["completions", "cmd.exe"]), "invalid value");
}

#[test]
fn help_names_the_commands() {
    let help = dcb(&["--help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    for command in ["head", "read", "tail", "migrations", "--store", "DCB_STORE"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn it_reads_a_postgres_store_in_its_schema() {
    let runtime = runtime();
    let url = postgres_url();
    let schema = format!("dcb_test_{:032x}", dcb_core::Uuid::new_v4().as_u128());
    let options = PostgresOptions::new(url.clone()).schema(schema.clone());
    let store = match runtime.block_on(PostgresStore::connect_with(options)) {
        Ok(store) => store,
        Err(err) => {
            skip(&format!("no PostgreSQL at {url}: {err}"));
            return;
        }
    };
    let booked = runtime.block_on(book(&store));
    let all = runtime
        .block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
        .unwrap();
    let maths = Tag::new(format!("course:{}", booked.maths)).unwrap();
    let of_maths = runtime
        .block_on(store.read_to_end(
            &QueryItem::new().tags([maths.clone()]).into(),
            ReadOptions::new(),
        ))
        .unwrap();

    let on_schema = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--store", &url, "--schema", &schema]);
        dcb(&all)
    };
    let head = on_schema(&["head"]);
    assert!(head.status.success(), "{}", stderr(&head));
    assert_eq!(stdout(&head), format!("{}\n", all.head.unwrap()));
    assert_lines_are(&lines(&on_schema(&["read"])), &all.events);
    assert_lines_are(
        &lines(&on_schema(&["read", "--tag", maths.as_str()])),
        &of_maths.events,
    );
    let missing = dcb(&["head", "--store", &url, "--schema", "dcb_no_such_schema"]);
    assert_fails(&missing, 2, "schema dcb_no_such_schema holds no dcb store");

    // `tail` follows appends to PostgreSQL too.
    let tail = Running::spawn(&["tail", "--store", &url, "--schema", &schema]);
    let started = tail.said();
    assert!(
        started.starts_with("following the events after position"),
        "{started}"
    );
    let app = DcbEnrolment::new(store.clone());
    let zoe = runtime.block_on(app.register_student("Zoe", 1)).unwrap();
    let line = tail.printed();
    drop(tail);
    assert!(line["position"].as_u64().unwrap() > all.head.unwrap().get());
    assert_eq!(line["type"], "StudentRegistered");
    assert_eq!(line["data"]["student_id"], zoe.to_string());

    runtime.block_on(async {
        let client = store.pool().get().await.unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .unwrap();
    });
}

/// Holds the store's lock as an application that has it open does, until
/// dropped; the inspector must then read beside it.
fn hold_lock(dir: &Path) -> std::fs::File {
    let lock = std::fs::File::open(dir.join("LOCK")).unwrap();
    lock.try_lock()
        .expect("no other process holds the store's lock");
    lock
}

/// Three events, the last with a bit flipped: a damaged end of the log.
fn store_with_damaged_end(dir: &Path) -> std::path::PathBuf {
    runtime().block_on(async {
        let store = EmbeddedStore::open(dir).unwrap();
        let kind = EventType::new("Noted").unwrap();
        for i in 0..3 {
            store
                .append(
                    vec![EventRecord::new(kind.clone(), format!("{{\"n\":{i}}}"))],
                    None,
                )
                .await
                .unwrap();
        }
        store.close();
    });
    let segment = dir.join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    segment
}

/// Beside a writer, a damaged end of the log may be a write under way: it
/// is reported, left in place, and not read.
#[test]
fn a_damaged_end_of_the_log_in_use_is_reported_and_left() {
    let dir = tempfile::tempdir().unwrap();
    let segment = store_with_damaged_end(dir.path());
    let before = std::fs::read(&segment).unwrap();
    let lock = hold_lock(dir.path());
    let output = dcb_on(dir.path(), &["head"]);
    drop(lock);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "2");
    let warning = stderr(&output);
    assert!(
        warning.starts_with("warning: did not read the last")
            && warning.contains(&segment.display().to_string())
            && warning.contains("checksum"),
        "{warning}"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        before,
        "the log was changed"
    );
}

/// On a store nobody has open, the inspector opens it as the application
/// would: the damaged end is cut off, kept, and reported.
#[test]
fn a_damaged_end_of_an_idle_store_is_cut_off_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let segment = store_with_damaged_end(dir.path());
    let output = dcb_on(dir.path(), &["head"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "2");
    let warning = stderr(&output);
    assert!(
        warning.starts_with("warning: cut ")
            && warning.contains(&segment.display().to_string())
            && warning.contains("checksum")
            && warning.contains("kept in"),
        "{warning}"
    );
    let output = dcb_on(dir.path(), &["head"]);
    assert_eq!(stdout(&output).trim(), "2");
    assert_eq!(stderr(&output), "", "the damage was reported twice");
}

/// A store of 300,000 events, about 200 MiB of index in memory.
fn large_store(dir: &Path) {
    runtime().block_on(async {
        let store = EmbeddedStore::open(dir).unwrap();
        let kind = EventType::new("StudentJoinedCourse").unwrap();
        for batch in 0..30u64 {
            let events = (0..10_000u64)
                .map(|i| {
                    let n = batch * 10_000 + i;
                    EventRecord::new(kind.clone(), format!("{{\"student\":\"{n:032x}\"}}"))
                        .with_tags([
                            Tag::new(format!("student:{n:032x}")).unwrap(),
                            Tag::new(format!("course:{:032x}", n % 100)).unwrap(),
                        ])
                })
                .collect();
            store.append(events, None).await.unwrap();
        }
        store.close();
    });
}

/// `dcb <args> --store <dir>` under an address-space limit of 146 MiB.
fn dcb_in_little_memory(dir: &Path, args: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 150000 && exec {} {args} --store {}",
            env!("CARGO_BIN_EXE_dcb"),
            dir.display()
        ))
        .output()
        .unwrap()
}

/// A store too large to index in the memory the process may use (146 MiB
/// of address space) is read all the same: when nobody has it open,
/// through its index on disk; beside its writer, by scanning its log.
#[test]
fn a_large_store_is_read_in_little_memory_idle_and_beside_its_writer() {
    let dir = tempfile::tempdir().unwrap();
    large_store(dir.path());
    for beside_writer in [false, true] {
        let lock = beside_writer.then(|| hold_lock(dir.path()));
        let output = dcb_in_little_memory(dir.path(), "head");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output).trim(), "300000");
        let output = dcb_in_little_memory(
            dir.path(),
            "read --tag course:00000000000000000000000000000007",
        );
        let read = lines(&output);
        assert_eq!(read.len(), 3_000);
        assert!(read.iter().all(|event| {
            event["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("course:00000000000000000000000000000007"))
        }));
        drop(lock);
    }
}
