//! The conformance suite against the PostgreSQL store, each case in a fresh
//! random schema that is dropped afterwards (through `Arc` and `&` a
//! representative case of each area), plus the out-of-order-commit rule
//! checked with raw SQL transactions.
//!
//! The server is taken from `DCB_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). **When it is unreachable**:
//! with `DCB_REQUIRE_POSTGRES=1` (as `.ci/run` sets) every test fails;
//! otherwise each test is reported as skipped (one `dcb: skipped` line on
//! stderr) and returns. None runs on a stand-in.

use std::time::Duration;

use dcb_core::ReadResult;
use dcb_core::conformance::{Harness, Unavailable};
use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    AppendCondition, EventRecord, EventStore, EventStream, EventType, Position, Query, QueryItem,
    ReadOptions, Tag,
};
use futures_util::StreamExt;

use crate::postgres_support::{
    TempSchema, random_schema, raw_client, required, temp_schema, try_raw_client, url,
};

/// PostgreSQL stores, each in a fresh schema that its guard drops.
struct FreshSchema;

impl Harness for FreshSchema {
    type Store = PostgresStore;
    type Guard = TempSchema;

    async fn store(&self) -> Result<(PostgresStore, TempSchema), Unavailable> {
        if let Err(unreachable) = try_raw_client().await {
            assert!(!required(), "{unreachable}, and DCB_REQUIRE_POSTGRES=1");
            return Err(Unavailable::new(unreachable));
        }
        let store = PostgresStore::connect_with(
            PostgresOptions::new(url())
                .pool_size(8)
                .schema(random_schema()),
        )
        .await
        .expect("connect and migrate a fresh schema");
        Ok((store.clone(), TempSchema { store }))
    }
}

dcb_core::conformance_tests!(
    FreshSchema,
    gap_free_positions = false,
    wakes_without_timers = false;
    arc_and_ref = representative
);

fn runtime() -> tokio::runtime::Runtime {
    crate::postgres_support::runtime(4)
}

/// Fails when the server is unreachable and `DCB_REQUIRE_POSTGRES=1`;
/// otherwise is reported as skipped.
#[test]
fn postgres_server_is_reachable_unless_not_required() {
    runtime().block_on(async {
        if let Some(client) = raw_client().await {
            let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
            assert_eq!(one, 1);
        }
    });
}

#[test]
fn invalid_schema_names_are_rejected_before_connecting() {
    runtime().block_on(async {
        for bad in ["", "Dcb", "a;drop table x", "a\"b", "9a"] {
            let result = PostgresStore::connect_with(
                PostgresOptions::new("postgres://nobody@127.0.0.1:1/none").schema(bad),
            )
            .await;
            assert!(
                matches!(
                    result,
                    Err(dcb_core::postgres::ConnectError::InvalidSchema { .. })
                ),
                "{bad:?} must be rejected as a schema name"
            );
        }
    });
}

/// A second connect to a migrated schema applies nothing and works; with
/// migration off it works too.
#[test]
fn connecting_again_keeps_the_schema() {
    runtime().block_on(async {
        let Some(first) = temp_schema(8).await else {
            return;
        };
        let event = EventRecord::new(EventType::from_static("Opened"), "{}");
        first.store.append(vec![event], None).await.unwrap();
        for migrate in [true, false] {
            let again = PostgresStore::connect_with(
                PostgresOptions::new(url())
                    .schema(first.store.schema())
                    .migrate(migrate),
            )
            .await
            .expect("connect again");
            let all = again.read_to_end(&Query::all(), ReadOptions::new()).await;
            assert_eq!(all.unwrap().events.len(), 1, "migrate = {migrate}");
        }
    });
}

/// A decision's read (items with tags: it locks the key of `tag`, which the
/// slow append holds) and a `head()`, started in the background.
fn decision_read_and_head(
    store: &PostgresStore,
    tag: &Tag,
    ty: &EventType,
) -> (
    tokio::task::JoinHandle<ReadResult>,
    tokio::task::JoinHandle<Option<Position>>,
) {
    let query = Query::from(QueryItem::new().tags([tag.clone()])).or(QueryItem::new()
        .types([ty.clone()])
        .tags([Tag::from_static("fast:1")]));
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { store.read_to_end(&query, ReadOptions::new()).await.unwrap() })
    };
    let store = store.clone();
    (
        reader,
        tokio::spawn(async move { store.head().await.unwrap() }),
    )
}

/// The out-of-order-commit rule: a transaction that allocated a lower
/// position and commits late must not be skipped. A read that runs while
/// it is pending either waits for it or reports a head below it; it never
/// reports a head beyond the pending position without showing it.
#[test]
fn a_read_never_skips_a_position_committed_late() {
    runtime().block_on(async {
        let Some(temp) = temp_schema(8).await else {
            return;
        };
        let store = temp.store.clone();
        let ty = EventType::from_static("Noted");
        let tag = Tag::from_static("slow:1");
        store
            .append(vec![EventRecord::new(ty.clone(), "first")], None)
            .await
            .unwrap();

        // The slow writer: one dcb_append call inside an explicit
        // transaction left open, as if its commit were delayed.
        let Some(mut slow) = raw_client().await else {
            return;
        };
        let tx = slow.transaction().await.unwrap();
        let pending = store
            .append_in_transaction(
                &tx,
                vec![EventRecord::new(ty.clone(), "slow").with_tags([tag.clone()])],
                None,
            )
            .await
            .unwrap();
        let pending = i64::try_from(pending.get()).unwrap();

        // A fast writer on another boundary commits a higher position.
        let fast = store
            .append(vec![EventRecord::new(ty.clone(), "fast")], None)
            .await;
        // The fast append did not have to wait for the slow one (disjoint
        // boundaries, no table lock).
        let fast = fast.expect("a disjoint append proceeds while another is in flight");
        assert!(i64::try_from(fast.get()).unwrap() > pending);

        // A read now must wait for the pending writer: run it and commit
        // the slow transaction a little later.
        let reader = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .read_to_end(&Query::all(), ReadOptions::new())
                    .await
                    .unwrap()
            })
        };
        // So must a decision's read that matches the pending event, and
        // head().
        let (tagged_reader, head_reader) = decision_read_and_head(&store, &tag, &ty);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !reader.is_finished(),
            "a read must wait while an append is in flight"
        );
        assert!(
            !tagged_reader.is_finished(),
            "a decision's read must wait while an append is in flight"
        );
        assert!(
            !head_reader.is_finished(),
            "head() must wait while an append is in flight"
        );
        tx.commit().await.unwrap();
        let tagged = tagged_reader.await.unwrap();
        assert_eq!(
            tagged
                .events
                .iter()
                .map(|e| e.position.get())
                .collect::<Vec<_>>(),
            vec![u64::try_from(pending).unwrap()],
            "the decision's read shows the late commit"
        );
        assert!(tagged.head >= Some(fast), "its head covers the fast append");
        assert!(head_reader.await.unwrap() >= Some(fast));
        let result = reader.await.unwrap();
        let positions: Vec<u64> = result.events.iter().map(|e| e.position.get()).collect();
        let head = result.head.expect("a head").get();
        let everything = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        for event in &everything.events {
            let p = event.position.get();
            assert!(
                p > head || positions.contains(&p),
                "position {p} ≤ head {head} was skipped by the read: {positions:?}"
            );
        }
        let slow_events = store
            .read_to_end(
                &Query::from(QueryItem::new().tags([tag])),
                ReadOptions::new(),
            )
            .await
            .unwrap();
        assert_eq!(slow_events.events.len(), 1, "the slow event is stored once");
        assert!(
            positions.contains(&u64::try_from(pending).unwrap()),
            "the late commit at {pending} is in the read ({positions:?})"
        );

        // The stream's own head, read while streaming, never runs ahead.
        let mut stream = store.read(&Query::all(), ReadOptions::new()).await.unwrap();
        let mut seen = 0;
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            assert_eq!(stream.head(), Some(event.position));
            seen += 1;
        }
        assert_eq!(seen, 3);
    });
}

/// One append with 20 000 distinct tags, and a condition with many
/// items, stay within the server's lock table (they fall back to the
/// global key) and still conflict correctly.
#[test]
fn large_appends_and_wide_conditions_fit_the_lock_table() {
    runtime().block_on(async {
        let Some(temp) = temp_schema(8).await else {
            return;
        };
        let store = &temp.store;
        let ty = EventType::from_static("Registered");
        let events: Vec<EventRecord> = (0..20_000)
            .map(|i| {
                EventRecord::new(ty.clone(), "{}")
                    .with_tags([Tag::new(format!("thing:{i}")).unwrap()])
            })
            .collect();
        let last = store.append(events, None).await.expect("a large append");
        let wide = Query::from_items(
            (0..200)
                .map(|i| QueryItem::new().tags([Tag::new(format!("thing:{}", i * 25)).unwrap()])),
        );
        let new_event =
            || EventRecord::new(ty.clone(), "{}").with_tags([Tag::new("thing:25").unwrap()]);
        let ok = store
            .append(
                vec![new_event()],
                Some(AppendCondition::new(wide.clone()).after(Some(last))),
            )
            .await
            .expect("nothing matching was appended after the last position");
        let err = store
            .append(
                vec![new_event()],
                Some(AppendCondition::new(wide).after(Some(last))),
            )
            .await
            .expect_err("the event just appended matches the wide condition");
        assert_eq!(err.conflicting_position(), Some(ok));
    });
}
