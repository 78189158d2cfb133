//! `FileStorage` tidies up after killed saves, and its errors say why.

use std::fs::File;
use std::path::{Path, PathBuf};

use dcb_core::read_model::{FileStorage, Runner, Saved, Storage};
use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Position};

use crate::support::Count;

fn opened() -> EventRecord {
    EventRecord::new(EventType::from_static("Opened"), "{}")
}

/// A store of three events and a model of it saved in `dir/count.json`.
async fn saved_model(dir: &Path) -> (InMemoryStore, FileStorage) {
    let store = InMemoryStore::new();
    store
        .append(vec![opened(), opened(), opened()], None)
        .await
        .expect("append");
    let storage = FileStorage::new(dir.join("count.json"));
    let mut runner = Runner::<_, Count, _>::start(store.clone(), storage.clone())
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");
    (store, storage)
}

/// The temporary file a save of `storage` by process `pid` would write.
fn temporary(storage: &FileStorage, pid: u32, save: u64) -> PathBuf {
    let mut name = storage.path().as_os_str().to_owned();
    name.push(format!(".{pid}-{save}.saving"));
    PathBuf::from(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_save_s_temporary_file_is_removed_on_start() {
    // The bug: a save writes a temporary file and renames it over the
    // model's; a process killed in between left the temporary file, as big
    // as the model, there for good. The fix: loading removes such files
    // that no live save holds locked.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, storage) = saved_model(dir.path()).await;
    let model = std::fs::read(storage.path()).expect("saved");
    let leftover = temporary(&storage, 4_194_301, 7);
    std::fs::write(&leftover, &model).expect("a leftover");
    // Files that only look alike are not the storage's.
    let others = [
        dir.path().join("count.json.backup"),
        dir.path().join("count.json.42-7.saving.keep"),
        dir.path().join("count.json.42-x.saving"),
        dir.path().join("count.json.-7.saving"),
        dir.path().join("other.json.42-7.saving"),
        dir.path().join("xcount.json.42-7.saving"),
    ];
    for other in &others {
        std::fs::write(other, &model).expect("another file");
    }

    let runner = Runner::<_, Count, _>::start(store, storage)
        .await
        .expect("start");
    assert!(!leftover.exists(), "{} is removed", leftover.display());
    for other in &others {
        assert!(other.exists(), "{} is left alone", other.display());
    }
    assert_eq!(*runner.handle().read().await, Count(3), "the model loads");
    assert_eq!(runner.saved().map(Position::get), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_still_running_keeps_its_temporary_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_, storage) = saved_model(dir.path()).await;

    // Written and locked by a save of another process, still running.
    let running = temporary(&storage, 4_194_302, 0);
    std::fs::write(&running, b"half a model").expect("write");
    let held = File::open(&running).expect("open");
    held.lock().expect("lock");
    // Created by a save that has not locked it yet: removed like any
    // unlocked leftover; that save finds its file gone once it has locked
    // it, and starts over under a new name.
    let created = temporary(&storage, 4_194_303, 0);
    File::create(&created).expect("create");

    let loaded: Option<Saved<Count>> = storage.load().await.expect("load");
    assert_eq!(loaded.map(|saved| saved.model), Some(Count(3)));
    assert!(running.exists(), "a locked temporary file is left alone");
    assert!(!created.exists(), "an unlocked temporary file is removed");

    // Once the save is gone, its file is a leftover too.
    drop(held);
    let _: Option<Saved<Count>> = storage.load().await.expect("load");
    assert!(!running.exists(), "removed once its save is gone");

    // A save whose temporary file is removed before it locks it still saves.
    storage
        .save(&Count(4), Position::new(4).unwrap())
        .await
        .expect("save");
    let loaded: Option<Saved<Count>> = storage.load().await.expect("load");
    assert_eq!(loaded.map(|saved| saved.model), Some(Count(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_error_says_what_the_system_said() {
    // The bug: "cannot read the read model X" and nothing else; the reason
    // was only in `source()`, which most callers never print.
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A directory where the file should be: reading it fails everywhere.
    let path = dir.path().join("count.json");
    std::fs::create_dir(&path).expect("a directory");
    let reason = std::fs::read(&path)
        .expect_err("a directory does not read as a file")
        .to_string();

    let error = Storage::<Count>::load(&FileStorage::new(&path))
        .await
        .expect_err("cannot load");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}: {reason}", path.display())),
        "{message:?} gives the system's reason {reason:?}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the io error is the source"
    );

    let started = Runner::<_, Count, _>::start(InMemoryStore::new(), FileStorage::new(&path)).await;
    let message = started.expect_err("cannot start").to_string();
    assert!(message.contains(&reason), "{message:?} has {reason:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_read_permission_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_, storage) = saved_model(dir.path()).await;
    std::fs::set_permissions(storage.path(), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    let Err(denied) = std::fs::read(storage.path()) else {
        eprintln!("skipped: this user reads files without permission (root)");
        return;
    };
    let error = Storage::<Count>::load(&storage)
        .await
        .expect_err("cannot load");
    assert!(
        error.to_string().contains(&denied.to_string()),
        "{error} says {denied}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_error_says_what_the_system_said() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A file where the model's directory should be.
    let not_a_dir = dir.path().join("read-models");
    std::fs::write(&not_a_dir, b"").expect("write");
    let reason = std::fs::create_dir_all(&not_a_dir)
        .and_then(|()| File::create(not_a_dir.join("x")).map(drop))
        .expect_err("a file is no directory")
        .to_string();
    let storage = FileStorage::new(not_a_dir.join("count.json"));
    let error = Storage::<Count>::save(&storage, &Count(1), Position::FIRST)
        .await
        .expect_err("cannot save");
    let message = error.to_string();
    assert!(message.contains(&reason), "{message:?} has {reason:?}");
    assert!(message.contains("the previous save is intact"), "{message}");
}
