//! A read whose items each have a tag or a type locks its own boundary, not
//! the whole schema: while it reads its head it holds the key of each
//! item's first tag (of each of its types, without tags) exclusively, and
//! the global key shared, so it waits for the appends in flight whose
//! events it matches, and for no other. An append on another boundary
//! neither holds it back nor is held back by it. Reads of one boundary in
//! one process take its lock one at a time: the others wait for its next
//! round and share one head (`rounds.rs`). Reads of everything still
//! take the read barrier (`postgres_read_rounds`,
//! `conformance_postgres::a_read_never_skips_a_position_committed_late`).
//! When the server is unreachable (and not required) the tests warn loudly
//! and return.

use std::time::Duration;

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    EventRecord, EventStore, EventType, Position, Query, QueryItem, ReadOptions, ReadResult, Tag,
};

use crate::postgres_support::{
    TempSchema, raw_client, runtime, temp_schema_with, until_waiting, url, waiting_in,
};

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

/// The server function of the other reads.
const OTHER_READ: &str = "dcb_read(";

fn read(store: &PostgresStore, n: u32) -> tokio::task::JoinHandle<ReadResult> {
    read_of(store, on_course(n), ReadOptions::new())
}

fn read_of(
    store: &PostgresStore,
    query: Query,
    options: ReadOptions,
) -> tokio::task::JoinHandle<ReadResult> {
    let store = store.clone();
    tokio::spawn(async move { store.read_to_end(&query, options).await.expect("the read") })
}

/// A store in a fresh schema (8 connections), a session to hold an append
/// open in, and one to watch the server from.
struct Scene {
    temp: TempSchema,
    holding: tokio_postgres::Client,
    observer: tokio_postgres::Client,
}

impl Scene {
    /// `None` when the server is unreachable and not required.
    async fn start() -> Option<Scene> {
        let options = PostgresOptions::new(url()).pool_size(8);
        Some(Scene {
            temp: temp_schema_with(options).await?,
            holding: raw_client().await?,
            observer: raw_client().await?,
        })
    }
}

/// Appends `events` in a transaction of `holding` left open, and returns
/// the last position: the append holds its locks until that transaction
/// ends.
async fn hold(
    store: &PostgresStore,
    holding: &tokio_postgres::Client,
    events: Vec<EventRecord>,
) -> Position {
    holding.batch_execute("BEGIN").await.expect("BEGIN");
    store
        .append_in_transaction(holding, events, None)
        .await
        .expect("the held append")
}

/// Course 1's append is held open. Three reads of course 1 wait for it: the
/// first on the server, by itself (no round of the read barrier), the other
/// two for the next round of course 1's boundary. Meanwhile a read of
/// course 2 and an append to course 2 go on; once the held append
/// commits, the three reads show it.
#[test]
fn a_decision_read_waits_only_for_the_appends_it_matches() {
    runtime(2).block_on(async {
        let Some(Scene {
            temp,
            holding,
            observer,
        }) = Scene::start().await
        else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        let first = store.append(vec![joined(1)], None).await.unwrap();
        let held = hold(store, &holding, vec![joined(1)]).await;
        let before = store.round_counts();
        let boundary_before = store.boundary_round_counts();

        let waiting = [read(store, 1), read(store, 1), read(store, 1)];
        until_waiting(
            &observer,
            &schema,
            DECISION_READ,
            1,
            "the first read of the held append's course never waited on the server",
        )
        .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while store.boundary_round_counts().waited - boundary_before.waited < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the other two reads of the course never waited for its next round"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            waiting_in(&observer, &schema, DECISION_READ).await,
            1,
            "one read of the course waits on the server; the others wait for its round"
        );

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
        let boundary_after = store.boundary_round_counts();
        assert_eq!(
            (
                boundary_after.alone - boundary_before.alone,
                boundary_after.rounds - boundary_before.rounds,
                boundary_after.waited - boundary_before.waited,
                boundary_after.failed - boundary_before.failed,
            ),
            (2, 1, 2, 0),
            "the first reads of each course went alone, and one round served the two that waited"
        );
    });
}

/// The same for the reads of `dcb_read`: with a limit (a subscription's
/// batch), and of an item without tags (by type). An append of course 1
/// and one of type `Noted` are held open; a batch of course 1's events
/// and a read of every `Noted` event wait on the server, while a batch of
/// course 2 and a read of another type go on.
#[test]
fn a_read_with_a_limit_or_by_type_waits_only_for_the_appends_it_matches() {
    runtime(2).block_on(async {
        const NOTED: EventType = EventType::from_static("Noted");
        const OTHER: EventType = EventType::from_static("Other");
        let by_type = |ty: EventType| Query::from(QueryItem::new().types([ty]));
        let batch = ReadOptions::new().limit(10);
        let Some(Scene {
            temp,
            holding,
            observer,
        }) = Scene::start().await
        else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        let course_2 = store.append(vec![joined(2)], None).await.unwrap();
        let other = store
            .append(vec![EventRecord::new(OTHER, "{}")], None)
            .await
            .unwrap();
        let held = hold(
            store,
            &holding,
            vec![joined(1), EventRecord::new(NOTED, "{}")],
        )
        .await;
        let before = store.round_counts();

        let waiting = [
            read_of(store, on_course(1), batch),
            read_of(store, by_type(NOTED), ReadOptions::new()),
        ];
        until_waiting(
            &observer,
            &schema,
            OTHER_READ,
            2,
            "the reads of the held append's events never both waited on the server",
        )
        .await;

        let going_on = tokio::time::timeout(Duration::from_mins(1), async {
            (
                read_of(store, on_course(2), batch).await.unwrap(),
                read_of(store, by_type(OTHER), ReadOptions::new())
                    .await
                    .unwrap(),
            )
        })
        .await
        .expect("reads of another boundary do not wait for the held append");
        let positions =
            |result: &ReadResult| result.events.iter().map(|e| e.position).collect::<Vec<_>>();
        assert_eq!(positions(&going_on.0), vec![course_2]);
        assert_eq!(positions(&going_on.1), vec![other]);
        assert!(
            waiting.iter().all(|read| !read.is_finished()),
            "the reads of the held events still wait"
        );

        holding.batch_execute("COMMIT").await.expect("COMMIT");
        let [on_course_1, noted] = waiting;
        let (on_course_1, noted) = (on_course_1.await.unwrap(), noted.await.unwrap());
        let joined_1 = Position::new(held.get() - 1).unwrap();
        assert_eq!(positions(&on_course_1), vec![joined_1]);
        assert_eq!(positions(&noted), vec![held]);
        let after = store.round_counts();
        assert_eq!(
            (after.alone, after.rounds, after.waited),
            (before.alone, before.rounds, before.waited),
            "reads that lock their boundary take no part in the read barrier's rounds"
        );
    });
}
