//! Decision reads share rounds of the read barrier: a read asked while
//! another holds or waits for the barrier does not queue at it; it waits
//! for the next round, whose head one call reads under the barrier for all
//! the reads that waited, and then reads its events up to that head. When
//! the server is unreachable (and not required) the tests warn loudly and
//! return.

use std::time::{Duration, Instant};

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    EventRecord, EventStore, EventType, Query, QueryItem, ReadError, ReadOptions, ReadResult, Tag,
};

use crate::postgres_support::{raw_client, runtime, temp_schema_with, url};

const JOINED: EventType = EventType::from_static("StudentJoinedCourse");

fn course() -> Tag {
    Tag::new("course:1").expect("a valid tag")
}

fn joined() -> EventRecord {
    EventRecord::new(JOINED, "{}").with_tags([course()])
}

/// A decision's read: every item tagged, no limit.
fn on_course() -> Query {
    Query::from(QueryItem::new().tags([course()]))
}

fn spawn_read(store: &PostgresStore) -> tokio::task::JoinHandle<Result<ReadResult, ReadError>> {
    let store = store.clone();
    tokio::spawn(async move { store.read_to_end(&on_course(), ReadOptions::new()).await })
}

/// How many backends of the schema's calls of `function` wait for a lock
/// on the server.
async fn waiting_in(observer: &tokio_postgres::Client, schema: &str, function: &str) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0 \
               AND strpos(query, $2) > 0",
            &[&schema, &function],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// How many backends of the schema's decision reads wait for a lock.
async fn waiting_for_locks(observer: &tokio_postgres::Client, schema: &str) -> i64 {
    waiting_in(observer, schema, "dcb_decision_read_by_first_tags").await
}

/// Three reads at once while an append is in flight: the first waits at the
/// barrier on the server, the other two wait for the next round in the
/// store, not at the barrier; once the append commits, all three see its
/// event, and one round served the two.
#[test]
fn reads_asked_while_one_waits_at_the_barrier_share_the_next_round() {
    runtime(2).block_on(async {
        let options = PostgresOptions::new(url()).pool_size(8);
        let (Some(temp), Some(holding), Some(observer)) = (
            temp_schema_with(options).await,
            raw_client().await,
            raw_client().await,
        ) else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        let first = store.append(vec![joined()], None).await.unwrap();
        // An append in flight: it holds the global key until it commits.
        holding.batch_execute("BEGIN").await.expect("BEGIN");
        let held = store
            .append_in_transaction(&holding, vec![joined()], None)
            .await
            .expect("the held append");
        let before = store.round_counts();

        let alone = spawn_read(store);
        let deadline = Instant::now() + Duration::from_secs(30);
        while waiting_for_locks(&observer, &schema).await < 1 {
            assert!(
                Instant::now() < deadline,
                "the first read never waited at the barrier"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waiting = [spawn_read(store), spawn_read(store)];
        while store.round_counts().waited - before.waited < 2 {
            assert!(
                Instant::now() < deadline,
                "the two later reads never waited for a round"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            waiting_for_locks(&observer, &schema).await,
            1,
            "only the first read waits at the barrier"
        );
        holding.batch_execute("COMMIT").await.expect("COMMIT");

        for read in std::iter::once(alone).chain(waiting) {
            let result = read.await.expect("a read").expect("the read succeeds");
            assert_eq!(
                result.events.iter().map(|e| e.position).collect::<Vec<_>>(),
                vec![first, held],
                "every read sees the append it waited for"
            );
            assert_eq!(result.head, Some(held));
        }
        let after = store.round_counts();
        assert_eq!(
            (
                after.alone - before.alone,
                after.rounds - before.rounds,
                after.waited - before.waited
            ),
            (1, 1, 2),
            "one read alone, then one round for the two that waited"
        );
    });
}

/// Given a round's head, the read function takes no barrier and reads up to
/// that head, whatever was committed after it; 0 stands for an empty
/// store's head.
#[test]
fn a_read_given_a_head_reads_up_to_it() {
    runtime(2).block_on(async {
        let options = PostgresOptions::new(url()).pool_size(2);
        let (Some(temp), Some(client)) = (temp_schema_with(options).await, raw_client().await)
        else {
            return;
        };
        let store = &temp.store;
        let first = store.append(vec![joined()], None).await.unwrap();
        store.append(vec![joined()], None).await.unwrap();
        let sql = format!(
            "SELECT pos FROM \"{}\".dcb_decision_read_by_first_tags(\
             0, ARRAY['course:1'], '{{}}', ARRAY['course:1'], 0, false, $1)",
            store.schema()
        );
        let positions = |rows: Vec<tokio_postgres::Row>| {
            rows.iter()
                .map(|row| row.get::<_, Option<i64>>(0))
                .collect::<Vec<_>>()
        };
        let given = i64::try_from(first.get()).unwrap();
        let up_to_first = positions(client.query(&sql, &[&given]).await.unwrap());
        assert_eq!(
            up_to_first,
            vec![Some(given), Some(given)],
            "the head row is the given head, and only the events up to it follow"
        );
        let empty = positions(client.query(&sql, &[&0_i64]).await.unwrap());
        assert_eq!(
            empty,
            vec![None],
            "head 0: an empty store's head, no events"
        );
        // The same for reads with a limit.
        let limited = format!(
            "SELECT pos FROM \"{}\".dcb_read(\
             0, ARRAY['course:1'], ARRAY[1], '{{}}', ARRAY[0], 0, 10, false, $1)",
            store.schema()
        );
        let up_to_first = positions(client.query(&limited, &[&given]).await.unwrap());
        assert_eq!(
            up_to_first,
            vec![Some(given), Some(given)],
            "a read with a limit given a head reads up to it"
        );
    });
}

/// Heads share the rounds too: asked while another head waits at the
/// barrier, they are the next round's, with no call of their own, and they
/// include the append that was in flight.
#[test]
fn heads_asked_while_one_waits_at_the_barrier_are_the_next_rounds() {
    runtime(2).block_on(async {
        let options = PostgresOptions::new(url()).pool_size(8);
        let (Some(temp), Some(holding), Some(observer)) = (
            temp_schema_with(options).await,
            raw_client().await,
            raw_client().await,
        ) else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        store.append(vec![joined()], None).await.unwrap();
        holding.batch_execute("BEGIN").await.expect("BEGIN");
        let held = store
            .append_in_transaction(&holding, vec![joined()], None)
            .await
            .expect("the held append");
        let before = store.round_counts();
        let spawn_head = || {
            let store = store.clone();
            tokio::spawn(async move { store.head().await })
        };

        let alone = spawn_head();
        let deadline = Instant::now() + Duration::from_secs(30);
        while waiting_in(&observer, &schema, "dcb_head").await < 1 {
            assert!(
                Instant::now() < deadline,
                "the first head never waited at the barrier"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waiting = [spawn_head(), spawn_head()];
        while store.round_counts().waited - before.waited < 2 {
            assert!(
                Instant::now() < deadline,
                "the two later heads never waited for a round"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            waiting_in(&observer, &schema, "dcb_head").await,
            1,
            "only the first head waits at the barrier"
        );
        holding.batch_execute("COMMIT").await.expect("COMMIT");

        for task in std::iter::once(alone).chain(waiting) {
            assert_eq!(task.await.expect("a head").expect("the head"), Some(held));
        }
        let after = store.round_counts();
        assert_eq!(
            (
                after.alone - before.alone,
                after.rounds - before.rounds,
                after.waited - before.waited
            ),
            (1, 1, 2),
            "one head alone, then one round for the two that waited"
        );
    });
}

/// Reads with a limit (a subscription's batches) share the rounds too:
/// asked while another waits at the barrier, they wait for the next
/// round's head, then read up to it without the barrier.
#[test]
fn reads_with_a_limit_share_the_rounds() {
    runtime(2).block_on(async {
        let options = PostgresOptions::new(url()).pool_size(8);
        let (Some(temp), Some(holding), Some(observer)) = (
            temp_schema_with(options).await,
            raw_client().await,
            raw_client().await,
        ) else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        let first = store.append(vec![joined()], None).await.unwrap();
        holding.batch_execute("BEGIN").await.expect("BEGIN");
        let held = store
            .append_in_transaction(&holding, vec![joined()], None)
            .await
            .expect("the held append");
        let before = store.round_counts();
        let spawn_batch = || {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .read_to_end(&on_course(), ReadOptions::new().limit(10))
                    .await
            })
        };

        let alone = spawn_batch();
        let deadline = Instant::now() + Duration::from_secs(30);
        while waiting_in(&observer, &schema, "dcb_read(").await < 1 {
            assert!(
                Instant::now() < deadline,
                "the first read never waited at the barrier"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waiting = [spawn_batch(), spawn_batch()];
        while store.round_counts().waited - before.waited < 2 {
            assert!(
                Instant::now() < deadline,
                "the two later reads never waited for a round"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            waiting_in(&observer, &schema, "dcb_read(").await,
            1,
            "only the first read waits at the barrier"
        );
        holding.batch_execute("COMMIT").await.expect("COMMIT");

        for task in std::iter::once(alone).chain(waiting) {
            let result = task.await.expect("a read").expect("the read succeeds");
            assert_eq!(
                result.events.iter().map(|e| e.position).collect::<Vec<_>>(),
                vec![first, held],
                "every read sees the append it waited for"
            );
        }
        let after = store.round_counts();
        assert_eq!(
            (
                after.alone - before.alone,
                after.rounds - before.rounds,
                after.waited - before.waited
            ),
            (1, 1, 2),
            "one read alone, then one round for the two that waited"
        );
    });
}
