//! A read model saved against events the store no longer holds.
//!
//! The bug: after an older copy of the embedded store was restored, or its
//! tail cut, a read model's checkpoint could be beyond the store's head, or
//! the store could hold other events up to it. The runner resumed after the
//! checkpoint anyway: the model kept events that are not in the log, and
//! skipped the ones appended since up to its old checkpoint. The cause: the
//! saved model carried only a position, and start never compared it with
//! the store. The fix: a save also keeps the fingerprint of the event at
//! the checkpoint, and start checks the checkpoint against the head and
//! that event against the store's, then fails or rebuilds
//! ([`OnMismatch`]).

use std::path::Path;

use dcb_core::DecodeError;
use dcb_core::read_model::{
    FileStorage, MemoryStorage, Mismatch, OnMismatch, ReadModel, Runner, StartError,
};
use dcb_core::{
    EventRecord, EventStore, EventType, InMemoryStore, Position, Query, QueryItem, SequencedEvent,
};
use serde::{Deserialize, Serialize};

/// The data of every `Joined` event, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Joins(Vec<String>);

impl ReadModel for Joins {
    fn query(&self) -> Query {
        Query::from(QueryItem::new().types([joined_type()]))
    }

    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
        self.0
            .push(String::from_utf8_lossy(event.data()).into_owned());
        Ok(())
    }
}

fn joined_type() -> EventType {
    EventType::from_static("Joined")
}

fn joined(who: &str) -> EventRecord {
    EventRecord::new(joined_type(), who.to_owned())
}

fn renamed(to: &str) -> EventRecord {
    EventRecord::new(EventType::from_static("Renamed"), to.to_owned())
}

async fn store_of(events: Vec<EventRecord>) -> InMemoryStore {
    let store = InMemoryStore::new();
    store.append(events, None).await.expect("append");
    store
}

fn names(names: &[&str]) -> Joins {
    Joins(names.iter().map(|name| (*name).to_owned()).collect())
}

fn position(n: u64) -> Position {
    Position::new(n).expect("not zero")
}

fn storage(dir: &Path) -> FileStorage {
    FileStorage::new(dir.join("joins.json"))
}

/// Saves the model of `store` in `storage`, caught up.
async fn save_caught_up<S: EventStore + Clone>(store: &S, storage: FileStorage) {
    let mut runner = Runner::<_, Joins, _>::start(store.clone(), storage)
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");
}

async fn start_with(
    store: &InMemoryStore,
    storage: FileStorage,
    on_mismatch: OnMismatch,
) -> Result<Runner<InMemoryStore, Joins, FileStorage>, StartError> {
    Runner::<_, Joins, _>::start_with(store.clone(), storage, on_mismatch).await
}

fn mismatch_of(
    result: Result<Runner<InMemoryStore, Joins, FileStorage>, StartError>,
) -> (Mismatch, String) {
    match result {
        Err(e @ StartError::Mismatch { .. }) => {
            let message = e.to_string();
            let StartError::Mismatch { mismatch, .. } = e else {
                unreachable!()
            };
            (mismatch, message)
        }
        Err(e) => panic!("start failed otherwise: {e}"),
        Ok(runner) => panic!("start accepted a model that does not match the store: {runner:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_ahead_of_its_store_fails_to_start_by_default() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = store_of(["Sara", "Greg", "Ann", "Bo", "Cy"].map(joined).to_vec()).await;
    save_caught_up(&before, storage(dir.path())).await;
    let file = std::fs::read(storage(dir.path()).path()).expect("saved");

    // An older copy of the store, with 3 of the 5 events.
    let restored = store_of(["Sara", "Greg", "Ann"].map(joined).to_vec()).await;
    let (mismatch, message) =
        mismatch_of(Runner::<_, Joins, _>::start(restored.clone(), storage(dir.path())).await);
    assert_eq!(
        mismatch,
        Mismatch::AheadOfStore {
            checkpoint: position(5),
            head: Some(position(3))
        }
    );
    for part in [
        "its checkpoint 5 is beyond the store's head 3",
        &storage(dir.path()).path().display().to_string(),
        "OnMismatch::Rebuild",
    ] {
        assert!(message.contains(part), "{message:?} says {part:?}");
    }
    assert_eq!(
        std::fs::read(storage(dir.path()).path()).expect("saved"),
        file,
        "a start that fails leaves the saved model as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_ahead_of_its_store_is_rebuilt_when_the_application_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = store_of(["Sara", "Greg", "Ann", "Bo", "Cy"].map(joined).to_vec()).await;
    save_caught_up(&before, storage(dir.path())).await;

    // Restored with 3 events, then another join.
    let restored = store_of(["Sara", "Greg", "Ann"].map(joined).to_vec()).await;
    restored
        .append(vec![joined("Dee")], None)
        .await
        .expect("append");
    let mut runner = start_with(&restored, storage(dir.path()), OnMismatch::Rebuild)
        .await
        .expect("start, rebuilding");
    assert_eq!(
        runner.rebuilt(),
        Some(&Mismatch::AheadOfStore {
            checkpoint: position(5),
            head: Some(position(4))
        })
    );
    assert_eq!(*runner.handle().read().await, Joins::default(), "set aside");
    runner.catch_up().await.expect("catch up");
    assert_eq!(
        *runner.handle().read().await,
        names(&["Sara", "Greg", "Ann", "Dee"]),
        "the events of the store, and no other"
    );
    drop(runner);

    let again = start_with(&restored, storage(dir.path()), OnMismatch::Fail)
        .await
        .expect("the rebuilt model matches the store");
    assert_eq!(again.rebuilt(), None);
    assert_eq!(
        *again.handle().read().await,
        names(&["Sara", "Greg", "Ann", "Dee"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_event_at_the_checkpoint_is_a_mismatch() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = store_of(["Sara", "Greg", "Ann"].map(joined).to_vec()).await;
    save_caught_up(&before, storage(dir.path())).await;

    // Restored with 2 of the 3 events, then another one: the same head.
    let restored = store_of(["Sara", "Greg", "Dee"].map(joined).to_vec()).await;
    let (mismatch, message) =
        mismatch_of(start_with(&restored, storage(dir.path()), OnMismatch::Fail).await);
    let Mismatch::OtherEvent {
        checkpoint,
        saved,
        found: Some(found),
    } = &mismatch
    else {
        panic!("not another event: {mismatch:?}");
    };
    assert_eq!(*checkpoint, position(3));
    assert_ne!(saved, found);
    assert!(
        message.contains("the store holds another Joined event at its checkpoint 3"),
        "{message}"
    );

    let mut runner = start_with(&restored, storage(dir.path()), OnMismatch::Rebuild)
        .await
        .expect("start, rebuilding");
    assert_eq!(runner.rebuilt(), Some(&mismatch));
    runner.catch_up().await.expect("catch up");
    assert_eq!(
        *runner.handle().read().await,
        names(&["Sara", "Greg", "Dee"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_another_query_at_the_checkpoint_is_checked_too() {
    // Caught up, the checkpoint is the store's head: here an event the
    // model does not read, whose fingerprint the runner reads to save it.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = store_of(vec![joined("Sara"), joined("Greg"), renamed("Gregory")]).await;
    save_caught_up(&before, storage(dir.path())).await;

    let unchanged = store_of(vec![joined("Sara"), joined("Greg"), renamed("Gregory")]).await;
    let runner = start_with(&unchanged, storage(dir.path()), OnMismatch::Fail)
        .await
        .expect("the same events");
    assert_eq!(runner.saved(), Some(position(3)));

    let restored = store_of(vec![joined("Sara"), joined("Greg"), joined("Ann")]).await;
    let (mismatch, _) =
        mismatch_of(start_with(&restored, storage(dir.path()), OnMismatch::Fail).await);
    assert!(
        matches!(
            &mismatch,
            Mismatch::OtherEvent { checkpoint, saved, found: Some(found) }
                if *checkpoint == position(3)
                    && saved.event_type() == "Renamed"
                    && found.event_type() == "Joined"
        ),
        "{mismatch:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_only_grew_is_no_mismatch() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = store_of(vec![joined("Sara"), renamed("Sarah")]).await;
    save_caught_up(&store, storage(dir.path())).await;
    store
        .append(vec![joined("Greg"), renamed("Gregory")], None)
        .await
        .expect("append");
    let mut runner = start_with(&store, storage(dir.path()), OnMismatch::Fail)
        .await
        .expect("the model matches");
    runner.catch_up().await.expect("catch up");
    assert_eq!(*runner.handle().read().await, names(&["Sara", "Greg"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_saved_before_fingerprints_still_loads() {
    // The file format without `checkpoint_event`, as saved before it.
    const OLD_FILE: &str =
        r#"{"format":"dcb-read-model/1","checkpoint":3,"model":["Sara","Greg","Ann"]}"#;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(storage(dir.path()).path(), OLD_FILE).expect("write");

    let store = store_of(["Sara", "Greg", "Ann"].map(joined).to_vec()).await;
    let mut runner = start_with(&store, storage(dir.path()), OnMismatch::Fail)
        .await
        .expect("the old file loads");
    assert_eq!(runner.rebuilt(), None);
    assert_eq!(
        *runner.handle().read().await,
        names(&["Sara", "Greg", "Ann"])
    );
    store
        .append(vec![joined("Bo")], None)
        .await
        .expect("append");
    runner.catch_up().await.expect("catch up");
    assert_eq!(
        *runner.handle().read().await,
        names(&["Sara", "Greg", "Ann", "Bo"])
    );

    // Without a fingerprint, only a checkpoint beyond the head is noticed.
    std::fs::write(storage(dir.path()).path(), OLD_FILE).expect("write");
    let shorter = store_of(["Sara", "Greg"].map(joined).to_vec()).await;
    let (mismatch, _) =
        mismatch_of(start_with(&shorter, storage(dir.path()), OnMismatch::Fail).await);
    assert_eq!(
        mismatch,
        Mismatch::AheadOfStore {
            checkpoint: position(3),
            head: Some(position(2))
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_storage_keeps_the_fingerprint_too() {
    let storage = MemoryStorage::new();
    let before = store_of(["Sara", "Greg"].map(joined).to_vec()).await;
    let mut runner = Runner::<_, Joins, _>::start(before, storage.clone())
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");

    let restored = store_of(["Sara", "Ann"].map(joined).to_vec()).await;
    let result = Runner::<_, Joins, _>::start(restored, storage).await;
    assert!(
        matches!(
            result,
            Err(StartError::Mismatch {
                mismatch: Mismatch::OtherEvent { .. },
                location: None,
            })
        ),
        "{result:?}"
    );
}
