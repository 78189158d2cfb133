//! Heads and reads of everything share rounds of the read barrier: one asked
//! while another holds or waits for the barrier does not queue at it; it
//! waits for the next round, whose head one call reads under the barrier
//! for all that waited, and then reads its events up to that head. (A read
//! whose items each have a tag or a type locks its own boundary instead:
//! `postgres_read_locks`.) When the server is unreachable (and not
//! required) the tests warn loudly and return.

use std::time::{Duration, Instant};

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    EventRecord, EventStore, EventType, Position, Query, ReadError, ReadOptions, ReadResult, Tag,
};

use crate::postgres_support::{
    raw_client, runtime, temp_schema_with, until_waiting, url, waiting_in,
};

const JOINED: EventType = EventType::from_static("StudentJoinedCourse");

fn course() -> Tag {
    Tag::new("course:1").expect("a valid tag")
}

fn joined() -> EventRecord {
    EventRecord::new(JOINED, "{}").with_tags([course()])
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

/// What three calls at once saw while an append was in flight: the
/// position appended before it, the held append's, and each call's output.
struct ThreeCalls<T> {
    first: Position,
    held: Position,
    outputs: Vec<T>,
}

/// The reads of `seen`, each checked to have succeeded and to hold the
/// event appended before and the held append's.
fn each_read_sees_the_append(seen: ThreeCalls<Result<ReadResult, ReadError>>) -> Vec<ReadResult> {
    seen.outputs
        .into_iter()
        .map(|result| {
            let result = result.expect("the read succeeds");
            assert_eq!(
                result.events.iter().map(|e| e.position).collect::<Vec<_>>(),
                vec![seen.first, seen.held],
                "every read sees the append it waited for"
            );
            result
        })
        .collect()
}

/// Appends once, holds a second append open (it holds the global key until
/// it commits), then makes three calls of `call` at once: the first must
/// wait at the barrier on the server (in `function`), the other two for the
/// next round in the store, not at the barrier. Then the append commits,
/// and one round must have served the two. `None` when the server is
/// unreachable and not required.
async fn three_calls<T, F>(function: &str, call: F) -> Option<ThreeCalls<T>>
where
    T: Send + 'static,
    F: Fn(PostgresStore) -> tokio::task::JoinHandle<T>,
{
    let options = PostgresOptions::new(url()).pool_size(8);
    let (Some(temp), Some(holding), Some(observer)) = (
        temp_schema_with(options).await,
        raw_client().await,
        raw_client().await,
    ) else {
        return None;
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

    let alone = call(store.clone());
    until_waiting(
        &observer,
        &schema,
        function,
        1,
        "the first call never waited at the barrier",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = [call(store.clone()), call(store.clone())];
    while store.round_counts().waited - before.waited < 2 {
        assert!(
            Instant::now() < deadline,
            "the two later calls never waited for a round"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        waiting_in(&observer, &schema, function).await,
        1,
        "only the first call waits at the barrier"
    );
    holding.batch_execute("COMMIT").await.expect("COMMIT");

    let mut outputs = Vec::new();
    for task in std::iter::once(alone).chain(waiting) {
        outputs.push(task.await.expect("a call"));
    }
    let after = store.round_counts();
    assert_eq!(
        (
            after.alone - before.alone,
            after.rounds - before.rounds,
            after.waited - before.waited
        ),
        (1, 1, 2),
        "one call alone, then one round for the two that waited"
    );
    Some(ThreeCalls {
        first,
        held,
        outputs,
    })
}

/// Heads share the rounds too: asked while another head waits at the
/// barrier, they are the next round's, with no call of their own, and they
/// include the append that was in flight.
#[test]
fn heads_asked_while_one_waits_at_the_barrier_are_the_next_rounds() {
    runtime(2).block_on(async {
        let head = |store: PostgresStore| tokio::spawn(async move { store.head().await });
        let Some(seen) = three_calls("dcb_head", head).await else {
            return;
        };
        for head in seen.outputs {
            assert_eq!(head.expect("the head"), Some(seen.held));
        }
    });
}

/// Reads of everything with a limit (a subscription's batches) share the
/// rounds too: asked while another waits at the barrier, they wait for the
/// next round's head, then read up to it without the barrier.
#[test]
fn reads_of_everything_with_a_limit_share_the_rounds() {
    runtime(2).block_on(async {
        let batch = |store: PostgresStore| {
            tokio::spawn(async move {
                store
                    .read_to_end(&Query::all(), ReadOptions::new().limit(10))
                    .await
            })
        };
        let Some(seen) = three_calls("dcb_read(", batch).await else {
            return;
        };
        each_read_sees_the_append(seen);
    });
}
