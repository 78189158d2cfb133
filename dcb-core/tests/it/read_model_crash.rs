//! A read-model runner killed mid-way, again and again, ends with exactly
//! the model a single uninterrupted run builds: no event applied twice to
//! the saved model, none skipped.
//!
//! The runner runs in a child process: this test binary again, running only
//! the `#[ignore]`d test `child_process` with `DCB_READ_MODEL_CHILD` set to
//! the store's directory. The parent kills it with `SIGKILL` as soon as the
//! saved checkpoint has moved, starts it again, and repeats until a child
//! finishes by itself.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcb_core::DecodeError;
use dcb_core::embedded::EmbeddedStore;
use dcb_core::read_model::{FileStorage, ReadModel, Runner};
use dcb_core::{
    EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, SequencedEvent, Tag, Tags,
};
use serde::{Deserialize, Serialize};

use crate::support::test_name;

/// Names the store's directory for the child; unset in the parent.
const CHILD: &str = "DCB_READ_MODEL_CHILD";

/// How many events the store holds.
const EVENTS: u64 = 60_000;
/// How many of them one append writes.
const PER_APPEND: u64 = 1_000;
/// How many courses the events are spread over.
const COURSES: u64 = 40;
/// How often the child's runner saves.
const SAVE_EVERY: usize = 2_000;
/// How long the parent waits for anything before it calls the child hung;
/// only a guard against a test that never ends.
const HANG: Duration = Duration::from_mins(5);

/// Counts the `Joined` events per course, and notices an event that
/// arrives out of order (which a repeat would be).
#[derive(Default, Serialize, Deserialize, Debug, PartialEq)]
struct Joins {
    total: u64,
    per_course: BTreeMap<String, u64>,
    last: u64,
    out_of_order: u64,
}

impl ReadModel for Joins {
    fn query(&self) -> Query {
        Query::from(QueryItem::new().types([joined()]))
    }

    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
        if event.position.get() <= self.last {
            self.out_of_order += 1;
        }
        self.last = event.position.get();
        self.total += 1;
        for tag in event.tags() {
            *self.per_course.entry(tag.to_string()).or_default() += 1;
        }
        Ok(())
    }
}

fn joined() -> EventType {
    EventType::new("Joined").expect("a valid type")
}

fn model_file(dir: &Path) -> PathBuf {
    dir.join("joins.json")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Fills the store: every third event is of another type, which the
/// model's query leaves out.
fn fill(dir: &Path) {
    runtime().block_on(async {
        let store = EmbeddedStore::open(dir).expect("open the store");
        let other = EventType::new("Renamed").expect("a valid type");
        for start in (0..EVENTS).step_by(usize::try_from(PER_APPEND).expect("fits")) {
            let events = (start..start + PER_APPEND)
                .map(|i| {
                    let course = Tag::new(format!("course:{}", i % COURSES)).expect("a valid tag");
                    let ty = if i % 3 == 2 { other.clone() } else { joined() };
                    EventRecord::new(ty, i.to_string()).with_tags(Tags::from_iter([course]))
                })
                .collect();
            store.append(events, None).await.expect("fill the store");
        }
        store.close();
    });
}

/// The checkpoint in the saved file, if there is one.
fn saved_checkpoint(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(model_file(dir)).ok()?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).expect("the saved file is whole JSON");
    value["checkpoint"].as_u64()
}

fn start_child(dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", &test_name(module_path!(), "child_process")])
        .args(["--include-ignored", "--quiet"])
        .env(CHILD, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child")
}

#[test]
fn runner_killed_mid_way_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fill(dir.path());

    let mut kills = 0;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < HANG,
            "the runner never finished; {kills} kills so far"
        );
        let before = saved_checkpoint(dir.path());
        let mut child = start_child(dir.path());
        // Kill the child as soon as it has saved once more, unless it
        // finishes first.
        let finished = loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                assert!(status.success(), "the runner failed: {status}");
                break true;
            }
            if saved_checkpoint(dir.path()) > before {
                child.kill().expect("kill the child");
                child.wait().expect("reap the child");
                kills += 1;
                break false;
            }
            assert!(started.elapsed() < HANG, "the child hangs");
            std::thread::sleep(Duration::from_millis(1));
        };
        if finished {
            break;
        }
    }
    eprintln!("the runner was killed {kills} times before a run finished");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list the directory")
        .map(|entry| entry.expect("an entry").file_name())
        .filter(|name| name.to_string_lossy().ends_with(".saving"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "each start removes what killed saves left: {leftovers:?}"
    );
    assert!(
        kills >= 2,
        "the runner must have been killed mid-way at least twice, not {kills} times"
    );

    runtime().block_on(async {
        let store = EmbeddedStore::open(dir.path()).expect("open the store");
        let mut expected = Joins::default();
        let events = store
            .read_to_end(&expected.query(), ReadOptions::new())
            .await
            .expect("read the store");
        for event in &events.events {
            expected.apply(event).expect("apply");
        }
        let saved = std::fs::read(model_file(dir.path())).expect("the saved model");
        let saved: serde_json::Value = serde_json::from_slice(&saved).expect("JSON");
        let model: Joins = serde_json::from_value(saved["model"].clone()).expect("the model");
        assert_eq!(
            model.out_of_order, 0,
            "no event was applied twice or out of order"
        );
        assert_eq!(
            model, expected,
            "after {kills} kills the model is the uninterrupted one"
        );
        assert_eq!(
            model.total,
            EVENTS - EVENTS / 3,
            "every Joined event counted once"
        );
        assert_eq!(
            saved["checkpoint"].as_u64(),
            Some(EVENTS),
            "the checkpoint is the head"
        );
        store.close();
    });
}

/// The child: runs the read model over the store until it has caught up.
#[test]
#[ignore = "run by runner_killed_mid_way_resumes_exactly_where_it_stopped as its child process"]
fn child_process() {
    let Ok(dir) = std::env::var(CHILD) else {
        println!("child_process: only the other test in this file runs it, as its child process");
        return;
    };
    let dir = PathBuf::from(dir);
    runtime().block_on(async {
        let store = EmbeddedStore::open(&dir).expect("open the store");
        let storage = FileStorage::new(model_file(&dir));
        let mut runner = Runner::<_, Joins, _>::start(store, storage)
            .await
            .expect("load the saved model")
            .save_every(SAVE_EVERY);
        runner.catch_up().await.expect("catch up");
    });
}
