//! A decision's read locks its own boundary, not the whole schema: while it
//! reads its head it holds the key of each item's first tag exclusively
//! (and the global key shared), so it waits for the appends in flight whose
//! events it matches, and for no other. An append on another boundary
//! neither holds it back nor is held back by it. When the server is
//! unreachable (and not required) the tests warn loudly and return.

use std::time::{Duration, Instant};

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, ReadResult, Tag,
};

use crate::postgres_support::{raw_client, runtime, temp_schema_with, url, waiting_in};

const JOINED: EventType = EventType::from_static("StudentJoinedCourse");

fn course(n: u32) -> Tag {
    Tag::new(format!("course:{n}")).expect("a valid tag")
}

fn joined(n: u32) -> EventRecord {
    EventRecord::new(JOINED, "{}").with_tags([course(n)])
}

/// A decision's read of one course: one tagged item, no limit.
fn on_course(n: u32) -> Query {
    Query::from(QueryItem::new().tags([course(n)]))
}

/// The server function of a decision's read.
const DECISION_READ: &str = "dcb_decision_read_by_first_tags";

fn read(store: &PostgresStore, n: u32) -> tokio::task::JoinHandle<ReadResult> {
    let store = store.clone();
    tokio::spawn(async move {
        store
            .read_to_end(&on_course(n), ReadOptions::new())
            .await
            .expect("the read")
    })
}

/// Course 1's append is held open. Three reads of course 1 each wait for
/// it on the server, by themselves (no round of the read barrier), while a
/// read of course 2 and an append to course 2 go on; once the held append
/// commits, the three reads show it.
#[test]
fn a_decision_read_waits_only_for_the_appends_it_matches() {
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
        let first = store.append(vec![joined(1)], None).await.unwrap();
        holding.batch_execute("BEGIN").await.expect("BEGIN");
        let held = store
            .append_in_transaction(&holding, vec![joined(1)], None)
            .await
            .expect("the held append");
        let before = store.round_counts();

        let waiting = [read(store, 1), read(store, 1), read(store, 1)];
        let deadline = Instant::now() + Duration::from_secs(30);
        while waiting_in(&observer, &schema, DECISION_READ).await < 3 {
            assert!(
                Instant::now() < deadline,
                "the reads of the held append's course never all waited on the server"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Course 2 goes on meanwhile: an append, then a read that shows it,
        // with a head past the position still in flight on course 1.
        let other = tokio::time::timeout(Duration::from_mins(1), async {
            let appended = store.append(vec![joined(2)], None).await.unwrap();
            (appended, read(store, 2).await.unwrap())
        })
        .await
        .expect("an append and a read of another course do not wait for the held append");
        let (appended, on_other) = other;
        assert!(appended > held);
        assert_eq!(
            on_other
                .events
                .iter()
                .map(|e| e.position)
                .collect::<Vec<_>>(),
            vec![appended]
        );
        assert_eq!(on_other.head, Some(appended));
        assert!(
            waiting.iter().all(|read| !read.is_finished()),
            "the reads of course 1 still wait"
        );

        holding.batch_execute("COMMIT").await.expect("COMMIT");
        for read in waiting {
            let result = read.await.expect("a read");
            assert_eq!(
                result.events.iter().map(|e| e.position).collect::<Vec<_>>(),
                vec![first, held],
                "every read sees the append it waited for"
            );
            assert!(result.head >= Some(held));
        }
        let after = store.round_counts();
        assert_eq!(
            (after.alone, after.rounds, after.waited),
            (before.alone, before.rounds, before.waited),
            "decision reads take no part in the read barrier's rounds"
        );
    });
}
