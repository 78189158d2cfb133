//! Read models saved in PostgreSQL (`PostgresStorage`) that do not match
//! the store they are started with.
//!
//! The bug (issue 21, left over): a runner notices on start that the store
//! holds another event at the saved model's checkpoint than the one the
//! model was built up to — an older copy of the store was restored and
//! written to since — by the fingerprint of that event saved with the
//! model. `FileStorage` and `MemoryStorage` kept it; `PostgresStorage`
//! dropped it (the `Storage` trait's default), so on PostgreSQL only a
//! checkpoint beyond the head was noticed, and a model built from events
//! the store no longer holds was resumed as if it matched. The fix: the
//! fingerprint is a column of `dcb_read_models` (migration 9), written by
//! the same statement as the model and its checkpoint.
//! `dcb-core/tests/read_model_mismatch.rs` is the file storage's version.
//! Same server rules as the other PostgreSQL tests (see `postgres_support`).

use crate::postgres_support::{raw_client, runtime, temp_schema};
use dcb_core::DecodeError;
use dcb_core::postgres::{PostgresStorage, PostgresStore};
use dcb_core::read_model::{
    EventFingerprint, Mismatch, OnMismatch, ReadModel, Runner, StartError, Storage,
};
use dcb_core::{EventRecord, EventStore, EventType, Position, Query, QueryItem, SequencedEvent};
use serde::{Deserialize, Serialize};

/// The data of every `Joined` event, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Joins(Vec<String>);

impl ReadModel for Joins {
    fn query(&self) -> Query {
        Query::from(QueryItem::new().types([EventType::from_static("Joined")]))
    }

    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
        self.0
            .push(String::from_utf8_lossy(event.data()).into_owned());
        Ok(())
    }
}

fn joined(who: &str) -> EventRecord {
    EventRecord::new(EventType::from_static("Joined"), who.to_owned())
}

fn names(names: &[&str]) -> Joins {
    Joins(names.iter().map(|name| (*name).to_owned()).collect())
}

fn position(n: u64) -> Position {
    Position::new(n).expect("not zero")
}

fn storage(store: &PostgresStore) -> PostgresStorage {
    PostgresStorage::new(store, "joins").expect("a valid name")
}

async fn start_with(
    store: &PostgresStore,
    on_mismatch: OnMismatch,
) -> Result<Runner<PostgresStore, Joins, PostgresStorage>, StartError> {
    Runner::<_, Joins, _>::start_with(store.clone(), storage(store), on_mismatch).await
}

/// Replaces the event at `at` with a `Joined` event of `who`, as a restored
/// older copy of the store written to since would hold it.
async fn replace_event(client: &tokio_postgres::Client, schema: &str, at: i64, who: &str) {
    client
        .execute(
            &format!("DELETE FROM \"{schema}\".events WHERE position = $1"),
            &[&at],
        )
        .await
        .expect("delete the event");
    client
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".events (position, event_type, data, tags) \
                 VALUES ($1, 'Joined', $2, '{{}}')"
            ),
            &[&at, &who.as_bytes()],
        )
        .await
        .expect("insert another event there");
}

#[test]
fn another_event_at_the_checkpoint_is_a_mismatch() {
    runtime(2).block_on(async {
        let (Some(temp), Some(client)) = (temp_schema(2).await, raw_client().await) else {
            return;
        };
        let store = &temp.store;
        store
            .append(["Sara", "Greg", "Ann"].map(joined).to_vec(), None)
            .await
            .expect("append");
        let mut runner = Runner::<_, Joins, _>::start(store.clone(), storage(store))
            .await
            .expect("start");
        runner.catch_up().await.expect("catch up");
        drop(runner);

        // Restored with 2 of the 3 events, then another one: the same head.
        replace_event(&client, store.schema(), 3, "Dee").await;
        let refused = start_with(store, OnMismatch::Fail)
            .await
            .expect_err("a model built from an event the store no longer holds");
        let message = refused.to_string();
        let StartError::Mismatch { location, mismatch } = refused else {
            panic!("not a mismatch: {refused:?}");
        };
        let Mismatch::OtherEvent {
            checkpoint,
            saved,
            found: Some(found),
        } = &mismatch
        else {
            panic!("not another event: {mismatch:?}");
        };
        assert_eq!(*checkpoint, position(3));
        assert_eq!(*saved, EventFingerprint::of(&joined("Ann")));
        assert_eq!(*found, EventFingerprint::of(&joined("Dee")));
        let row = format!("\"joins\" (row of \"{}\".dcb_read_models)", store.schema());
        assert_eq!(location.as_deref(), Some(row.as_str()));
        for part in [
            "the store holds another Joined event at its checkpoint 3",
            &format!("delete {row} to rebuild"),
        ] {
            assert!(message.contains(part), "{message:?} says {part:?}");
        }

        let mut runner = start_with(store, OnMismatch::Rebuild)
            .await
            .expect("start, rebuilding");
        assert_eq!(runner.rebuilt(), Some(&mismatch));
        runner.catch_up().await.expect("catch up");
        assert_eq!(
            *runner.handle().read().await,
            names(&["Sara", "Greg", "Dee"])
        );
        drop(runner);
        let again = start_with(store, OnMismatch::Fail)
            .await
            .expect("the rebuilt model matches the store");
        assert_eq!(again.rebuilt(), None);
    });
}

#[test]
fn the_fingerprint_is_saved_with_the_model_and_only_with_it() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(1).await else {
            return;
        };
        let storage = storage(&temp.store);
        let ann = EventFingerprint::of(&joined("Ann"));
        storage
            .save_with_fingerprint(&names(&["Ann"]), position(3), &ann)
            .await
            .expect("save with a fingerprint");
        let loaded = Storage::<Joins>::load_with_fingerprint(&storage)
            .await
            .expect("load")
            .expect("saved");
        assert_eq!(loaded.saved.model, names(&["Ann"]));
        assert_eq!(loaded.saved.checkpoint, Some(position(3)));
        assert_eq!(loaded.fingerprint, Some(ann));

        // A save without one leaves none: the one before was of the event
        // at the old checkpoint.
        storage
            .save(&names(&["Ann", "Bo"]), position(4))
            .await
            .expect("save without a fingerprint");
        let loaded = Storage::<Joins>::load_with_fingerprint(&storage)
            .await
            .expect("load")
            .expect("saved");
        assert_eq!(loaded.saved.checkpoint, Some(position(4)));
        assert_eq!(loaded.fingerprint, None);
    });
}

#[test]
fn a_model_saved_without_a_fingerprint_is_checked_against_the_head() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(1).await else {
            return;
        };
        let store = &temp.store;
        store
            .append(["Sara", "Greg"].map(joined).to_vec(), None)
            .await
            .expect("append");
        // As saved before migration 9: no fingerprint.
        storage(store)
            .save(&names(&["Sara", "Greg", "Ann"]), position(3))
            .await
            .expect("save");
        let refused = start_with(store, OnMismatch::Fail)
            .await
            .expect_err("a checkpoint beyond the head");
        assert!(
            matches!(
                &refused,
                StartError::Mismatch {
                    mismatch: Mismatch::AheadOfStore { checkpoint, head: Some(head) },
                    location: Some(_),
                } if *checkpoint == position(3) && *head == position(2)
            ),
            "{refused:?}"
        );

        // With the head there, another event at the checkpoint goes
        // unnoticed: nothing says which event the model saw.
        store
            .append(vec![joined("Dee")], None)
            .await
            .expect("append");
        let runner = start_with(store, OnMismatch::Fail)
            .await
            .expect("no fingerprint to compare");
        assert_eq!(runner.saved(), Some(position(3)));
    });
}
