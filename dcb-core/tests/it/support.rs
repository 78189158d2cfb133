//! Helpers shared by the modules of this test binary.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use dcb_core::{EventType, Tag};

/// Runs `future` to completion on a new single-threaded runtime with time
/// and I/O.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

pub fn tag(s: &str) -> Tag {
    Tag::new(s).expect("a valid tag")
}

pub fn event_type(s: &str) -> EventType {
    EventType::new(s).expect("a valid event type")
}

/// The segment files of an embedded store, in order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list the store")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    out.sort();
    out
}

/// Every file of a directory with its bytes (not those in its folders,
/// such as the index's).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fs::read_dir(dir)
        .expect("list the store")
        .map(|e| e.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = fs::read(&path).expect("read a file");
            (path, bytes)
        })
        .collect()
}

/// The name the test harness gives the test `name` of the module `module`
/// (as `module_path!()` gives it): the path without this binary's crate.
/// A crash test starts this binary again with `--exact` and this name to
/// run only its child.
pub fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// A read model of how many events the store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Count(pub u64);

impl dcb_core::read_model::ReadModel for Count {
    fn query(&self) -> dcb_core::Query {
        dcb_core::Query::all()
    }

    fn apply(&mut self, _: &dcb_core::SequencedEvent) -> Result<(), dcb_core::DecodeError> {
        self.0 += 1;
        Ok(())
    }
}
