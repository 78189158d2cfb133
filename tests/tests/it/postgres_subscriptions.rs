//! Subscriptions and saved read models on the PostgreSQL store, across
//! stores (as across processes): woken by `NOTIFY`, carried by polling
//! when the notification connection is gone, and read models saved in the
//! store's schema. Same server rules as the other PostgreSQL tests (see
//! `postgres_support`).

use std::time::Duration;

use crate::postgres_support::{raw_client, runtime, temp_schema, url};
use dcb_core::postgres::{PostgresOptions, PostgresStorage, PostgresStore};
use dcb_core::read_model::{ReadModel, Runner};
use dcb_core::{
    EventRecord, EventStore, EventType, Query, QueryItem, SequencedEvent, Subscription, Tag,
};
use serde::{Deserialize, Serialize};

/// Bounds a wait that must end; only a guard against a hang, no result
/// depends on it.
const HANG: Duration = Duration::from_mins(1);

fn opened(account: u32) -> EventRecord {
    EventRecord::new(
        EventType::new("AccountOpened").expect("valid"),
        account.to_string(),
    )
    .with_tags([Tag::new(format!("account:{account}")).expect("valid")])
}

/// A second store on the same schema, like another process's, which polls
/// only every `poll_interval`.
async fn second_store(first: &PostgresStore, poll_interval: Duration) -> PostgresStore {
    PostgresStore::connect_with(
        PostgresOptions::new(url())
            .schema(first.schema())
            .migrate(false)
            .poll_interval(poll_interval),
    )
    .await
    .expect("connect a second store")
}

async fn next<S: EventStore>(subscription: &mut Subscription<S>) -> SequencedEvent {
    tokio::time::timeout(HANG, subscription.next())
        .await
        .expect("the subscription wakes")
        .expect("the subscription reads")
}

#[test]
fn another_stores_appends_wake_a_subscription_by_notification() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        // It polls once an hour: only a notification wakes it in time.
        let follower = second_store(&schema.store, Duration::from_hours(1)).await;
        let mut subscription = follower.subscribe(Query::all(), None);
        for account in 1..=5 {
            let waiting = tokio::spawn(async move {
                let event = next(&mut subscription).await;
                (event, subscription)
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            let position = schema
                .store
                .append(vec![opened(account)], None)
                .await
                .expect("append");
            let (event, back) = waiting.await.expect("the waiting task");
            subscription = back;
            assert_eq!(
                event.position, position,
                "the event appended by the other store"
            );
        }
        // A notification connection that fails wakes every waiter when it
        // reconnects, which would also have woken the follower: each
        // store's connection must have lasted the whole test.
        assert_eq!(
            follower.notification_sessions(),
            1,
            "the follower's notification connection restarted"
        );
        assert_eq!(
            schema.store.notification_sessions(),
            1,
            "the appending store's notification connection restarted"
        );
    });
}

#[test]
fn a_subscription_outlives_its_notification_connection() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        let Some(admin) = raw_client().await else {
            return;
        };
        let follower = second_store(&schema.store, Duration::from_millis(100)).await;
        let mut subscription = follower.subscribe(Query::all(), None);
        schema
            .store
            .append(vec![opened(1)], None)
            .await
            .expect("append");
        assert_eq!(next(&mut subscription).await.position.get(), 1);

        // End every notification connection of this database; the
        // stores' connections reconnect, and polling covers the gap.
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&"dcb-notifier"],
            )
            .await
            .expect("terminate the notification connections");
        for account in 2..=4 {
            let position = schema
                .store
                .append(vec![opened(account)], None)
                .await
                .expect("append");
            assert_eq!(next(&mut subscription).await.position, position);
        }
    });
}

#[test]
fn a_late_commit_is_delivered_before_the_higher_positions_committed_earlier() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        let Some(mut slow) = raw_client().await else {
            return;
        };
        let store = schema.store.clone();
        store.append(vec![opened(1)], None).await.expect("append");
        let mut subscription = store.subscribe(Query::all(), None);
        assert_eq!(next(&mut subscription).await.position.get(), 1);

        // An append whose commit is delayed, then a faster one at a higher
        // position on another boundary.
        let transaction = slow.transaction().await.expect("begin");
        let pending = store
            .append_in_transaction(&transaction, vec![opened(2)], None)
            .await
            .expect("the slow append");
        let fast = store
            .append(vec![opened(3)], None)
            .await
            .expect("the fast append");
        assert!(fast > pending);

        let following = tokio::spawn(async move {
            let first = next(&mut subscription).await.position;
            let second = next(&mut subscription).await.position;
            [first, second]
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        transaction.commit().await.expect("commit the slow append");
        assert_eq!(
            following.await.expect("the subscriber"),
            [pending, fast],
            "the late commit comes first, and nothing is skipped"
        );
    });
}

/// How many accounts were opened.
#[derive(Default, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Accounts {
    opened: u64,
    tags: Vec<String>,
}

impl ReadModel for Accounts {
    fn query(&self) -> Query {
        Query::from(QueryItem::new().types([EventType::new("AccountOpened").expect("valid")]))
    }

    fn apply(&mut self, event: &SequencedEvent) -> Result<(), dcb_core::DecodeError> {
        self.opened += 1;
        self.tags
            .extend(event.tags().iter().map(ToString::to_string));
        Ok(())
    }
}

#[test]
fn a_read_model_saved_in_postgres_resumes_from_its_checkpoint() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        let store = schema.store.clone();
        for account in 1..=3 {
            store
                .append(vec![opened(account)], None)
                .await
                .expect("append");
        }
        let storage = PostgresStorage::new(&store, "accounts").expect("a valid name");
        let mut runner = Runner::<_, Accounts, _>::start(store.clone(), storage.clone())
            .await
            .expect("start");
        assert_eq!(
            runner
                .catch_up()
                .await
                .expect("catch up")
                .map(dcb_core::Position::get),
            Some(3)
        );
        drop(runner);

        store.append(vec![opened(4)], None).await.expect("append");
        let mut runner = Runner::<_, Accounts, _>::start(store.clone(), storage.clone())
            .await
            .expect("start again");
        let handle = runner.handle();
        assert_eq!(
            handle.read().await.opened,
            3,
            "loaded as saved, before catching up"
        );
        runner.catch_up().await.expect("catch up");
        assert_eq!(
            *handle.read().await,
            Accounts {
                opened: 4,
                tags: (1..=4).map(|a| format!("account:{a}")).collect(),
            },
            "each event applied once"
        );

        // A second model in the same table does not disturb the first.
        let other = PostgresStorage::new(&store, "accounts, again").expect("a valid name");
        let mut second = Runner::<_, Accounts, _>::start(store.clone(), other)
            .await
            .expect("start");
        second.catch_up().await.expect("catch up");
        let reloaded = Runner::<_, Accounts, _>::start(store.clone(), storage)
            .await
            .expect("start");
        assert_eq!(reloaded.handle().read().await.opened, 4);

        assert!(
            PostgresStorage::new(&store, "").is_err(),
            "an empty name is refused"
        );
    });
}
