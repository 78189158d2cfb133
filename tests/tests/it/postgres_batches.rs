//! The PostgreSQL store's append batches: single-event appends made while
//! the store's batch transactions are all in flight wait, and go together
//! in the next one, each under its own condition and with its own outcome,
//! as if sent alone in the order of the batch. Each test holds one batch
//! transaction on a boundary that an open transaction has locked, queues
//! appends behind it, and then lets it go. When the server is unreachable
//! (and not required) each test warns loudly and returns.

use std::time::Duration;

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Metadata, Position, Query,
    QueryItem, ReadOptions, Tag, Timestamp,
};
use tokio::task::JoinHandle;

use crate::postgres_support::{raw_client, runtime, temp_schema_with, url};

const JOINED: EventType = EventType::from_static("StudentJoinedCourse");
const LEFT: EventType = EventType::from_static("StudentLeftCourse");

fn tag(text: &str) -> Tag {
    Tag::new(text).expect("a valid tag")
}

fn joined(course: &str) -> EventRecord {
    EventRecord::new(JOINED, "{}").with_tags([tag(course)])
}

fn on(course: &str) -> Query {
    Query::from(QueryItem::new().tags([tag(course)]))
}

/// A store in a fresh schema with one batch transaction in flight at a
/// time, and that transaction held on the boundary `course:held` (see
/// [`Held`]). `None` when the server is unreachable and not required.
async fn held_store() -> Option<(crate::postgres_support::TempSchema, Held)> {
    let temp = temp_schema_with(PostgresOptions::new(url()).pool_size(8).append_batches(1)).await?;
    let held = Held::new(&temp.store, "course:held").await?;
    Some((temp, held))
}

/// Appends in a task of its own.
fn spawn_append(
    store: &PostgresStore,
    event: EventRecord,
    condition: Option<AppendCondition>,
) -> JoinHandle<Result<Position, AppendError>> {
    let store = store.clone();
    tokio::spawn(async move { store.append(vec![event], condition).await })
}

/// Waits until a call on `schema` waits for a lock on the server.
async fn until_waiting_for_a_lock(observer: &tokio_postgres::Client, schema: &str) {
    loop {
        let row = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0",
                &[&schema],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `n` appends wait for a batch.
async fn until_queued(store: &PostgresStore, n: usize) {
    while store.batch_counts().queued < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A boundary locked by an open transaction on a connection of the test's
/// own, and an append of the store on it that waits on the server, holding
/// the store's only batch transaction.
struct Held {
    holding: tokio_postgres::Client,
    waiting: JoinHandle<Result<Position, AppendError>>,
    /// The position of the holding transaction's event.
    position: Position,
}

impl Held {
    /// Appends on `boundary` in a transaction left open, then sends one
    /// more append on it from `store`, and waits until that one waits for
    /// the boundary's lock. `None` when the server is unreachable and not
    /// required.
    async fn new(store: &PostgresStore, boundary: &str) -> Option<Held> {
        let holding = raw_client().await?;
        let observer = raw_client().await?;
        holding.batch_execute("BEGIN").await.expect("BEGIN");
        let position = store
            .append_in_transaction(
                &holding,
                vec![joined(boundary)],
                Some(AppendCondition::new(on(boundary))),
            )
            .await
            .expect("the holding append");
        let waiting = spawn_append(
            store,
            joined(boundary),
            Some(AppendCondition::new(on(boundary))),
        );
        until_waiting_for_a_lock(&observer, store.schema()).await;
        Some(Held {
            holding,
            waiting,
            position,
        })
    }

    /// Commits the holding transaction; the waiting append then fails on
    /// the holding append's event.
    async fn release(self) {
        self.holding.batch_execute("COMMIT").await.expect("COMMIT");
        assert!(
            matches!(
                self.waiting.await.expect("the waiting append"),
                Err(AppendError::ConditionFailed { .. })
            ),
            "the append behind the held boundary sees the holding event"
        );
    }
}

/// Sixteen appends racing for one boundary, all queued behind the held
/// batch, go as one batch: the first wins, the other fifteen fail on its
/// event, and only its event is stored.
#[test]
fn queued_appends_go_together_and_conflict_within_their_batch() {
    runtime(2).block_on(async {
        let Some((temp, held)) = held_store().await else {
            return;
        };
        let store = &temp.store;
        let before = store.batch_counts();
        let racers: Vec<_> = (0..16)
            .map(|_| {
                spawn_append(
                    store,
                    joined("course:race"),
                    Some(AppendCondition::new(on("course:race"))),
                )
            })
            .collect();
        until_queued(store, 16).await;
        held.release().await;

        let mut won = Vec::new();
        let mut lost = Vec::new();
        for racer in racers {
            match racer.await.expect("an append") {
                Ok(position) => won.push(position),
                Err(AppendError::ConditionFailed { conflicting }) => lost.push(conflicting),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one append wins the boundary");
        assert!(
            lost.iter().all(|&p| p == won[0]),
            "the others fail on the winner's event: {lost:?} against {won:?}"
        );
        let after = store.batch_counts();
        assert_eq!(
            (
                after.batches - before.batches,
                after.appends - before.appends
            ),
            (2, 17),
            "the held append's batch, then one batch of the sixteen"
        );
        let stored = store
            .read_to_end(&on("course:race"), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(
            stored.events.iter().map(|e| e.position).collect::<Vec<_>>(),
            won
        );
    });
}

/// Appends whose conditions, checked after `head`, take every shape the
/// batch function handles, in the order they are queued; what each should
/// see is asserted in the test below.
fn shapes(head: Option<Position>) -> Vec<(&'static str, EventRecord, Option<AppendCondition>)> {
    let after = |query: Query| Some(AppendCondition::new(query).after(head));
    vec![
        (
            "no condition",
            EventRecord::new(JOINED, "1").with_tags([tag("course:a"), tag("student:1")]),
            None,
        ),
        (
            "types only",
            joined("course:other"),
            after(Query::from(QueryItem::new().types([JOINED]))),
        ),
        (
            "the empty query",
            joined("course:other"),
            after(Query::all()),
        ),
        (
            "all items tagged, another type",
            joined("course:b"),
            after(Query::from_items([
                QueryItem::new().types([LEFT]).tags([tag("course:a")]),
                QueryItem::new().tags([tag("course:b")]),
            ])),
        ),
        (
            "one item, two tags, one missing",
            joined("course:c"),
            after(Query::from(
                QueryItem::new().tags([tag("course:a"), tag("student:2")]),
            )),
        ),
        (
            "one item, two tags, both present",
            joined("course:d"),
            after(Query::from(
                QueryItem::new().tags([tag("course:a"), tag("student:1")]),
            )),
        ),
        (
            "one tag, after a position in the batch",
            joined("course:b"),
            None,
        ),
        (
            "a tag appended earlier in the batch",
            joined("course:e"),
            after(on("course:b")),
        ),
        ("no tags", EventRecord::new(LEFT, "9"), None),
    ]
}

/// Queues the appends of `plan` behind the held batch, in order, lets it
/// go, and checks that they went as one batch: each append's outcome,
/// with what it is.
async fn in_one_batch(
    store: &PostgresStore,
    held: Held,
    plan: Vec<(&'static str, EventRecord, Option<AppendCondition>)>,
) -> Vec<(&'static str, Result<Position, AppendError>)> {
    let before = store.batch_counts();
    let appends = u64::try_from(plan.len()).unwrap();
    let mut tasks = Vec::new();
    for (n, (what, event, condition)) in plan.into_iter().enumerate() {
        tasks.push((what, spawn_append(store, event, condition)));
        until_queued(store, n + 1).await;
    }
    held.release().await;

    let mut outcomes = Vec::new();
    for (what, task) in tasks {
        outcomes.push((what, task.await.expect("an append")));
    }
    let after = store.batch_counts();
    assert_eq!(
        (
            after.batches - before.batches,
            after.appends - before.appends
        ),
        (2, appends + 1),
        "the held append's batch, then one batch of all the others"
    );
    outcomes
}

/// One batch holding a condition of each shape: each append's check sees
/// the appends before it in the batch, whatever its shape.
#[test]
fn every_condition_shape_sees_the_appends_before_it_in_its_batch() {
    runtime(2).block_on(async {
        let Some((temp, held)) = held_store().await else {
            return;
        };
        let store = &temp.store;
        // The conditions look after the holding append, which commits just
        // before the batch.
        let since = Some(held.position);
        let plan = shapes(since);
        let outcomes = in_one_batch(store, held, plan).await;
        let first = match outcomes[0].1 {
            Ok(position) => position,
            ref other => panic!("the unconditional append failed: {other:?}"),
        };
        let conflict = |what: &str, outcome: &Result<Position, AppendError>, at: Position| {
            assert!(
                matches!(outcome, Err(AppendError::ConditionFailed { conflicting }) if *conflicting == at),
                "{what}: expected a conflict at {at}, got {outcome:?}"
            );
        };
        conflict(outcomes[1].0, &outcomes[1].1, first);
        conflict(outcomes[2].0, &outcomes[2].1, first);
        let course_b = outcomes[3].1.as_ref().copied();
        assert!(course_b.is_ok(), "{}: {:?}", outcomes[3].0, outcomes[3].1);
        assert!(outcomes[4].1.is_ok(), "{}: {:?}", outcomes[4].0, outcomes[4].1);
        conflict(outcomes[5].0, &outcomes[5].1, first);
        assert!(outcomes[6].1.is_ok(), "{}: {:?}", outcomes[6].0, outcomes[6].1);
        conflict(outcomes[7].0, &outcomes[7].1, course_b.unwrap());
        assert!(outcomes[8].1.is_ok(), "{}: {:?}", outcomes[8].0, outcomes[8].1);

        let stored = store
            .read_to_end(&Query::all(), ReadOptions::new().after(since))
            .await
            .unwrap();
        let appended: Vec<Position> = outcomes
            .iter()
            .filter_map(|(_, outcome)| outcome.as_ref().ok().copied())
            .collect();
        assert_eq!(
            stored.events.iter().map(|e| e.position).collect::<Vec<_>>(),
            appended,
            "exactly the appends that succeeded are stored, in the order of the batch"
        );
    });
}

/// The appends of the test below, queued in this order: conditions of
/// parts over `course:p` (stored at `course`), `student:y` (at `student`)
/// and the type `StudentLeftCourse` (at `left`), beside others.
fn parts_plan(
    course: Position,
    student: Position,
    left: Position,
) -> Vec<(&'static str, EventRecord, Option<AppendCondition>)> {
    let probe = || joined("probe");
    let parts = |c: Option<Position>, s: Option<Position>| {
        Some(AppendCondition::of_parts([
            (on("course:p"), c),
            (on("student:y"), s),
        ]))
    };
    let untagged = |l: Option<Position>, c: Option<Position>| {
        Some(AppendCondition::of_parts([
            (Query::from(QueryItem::new().types([LEFT])), l),
            (on("course:p"), c),
        ]))
    };
    vec![
        (
            "each part after its own position",
            probe(),
            parts(Some(course), Some(student)),
        ),
        (
            "a part with an event after its own position",
            probe(),
            parts(Some(student), Some(course)),
        ),
        ("a part never seen", probe(), parts(Some(left), None)),
        (
            "an untagged item after its own position",
            probe(),
            untagged(Some(left), Some(course)),
        ),
        (
            "an untagged item with an event after its own position",
            probe(),
            untagged(Some(student), Some(left)),
        ),
        (
            "one position for every item, beside them",
            probe(),
            Some(AppendCondition::new(on("student:y")).after(Some(student))),
        ),
        ("the course joined in the batch", joined("course:p"), None),
        (
            "parts that see the batch's own append",
            probe(),
            parts(Some(left), Some(left)),
        ),
    ]
}

/// Conditions of parts (each item counted after a position of its own, as
/// decisions served from known state make them) go in a batch like any
/// other append: each item is checked after its own position, beside
/// appends whose conditions have one position for every item, and sees the
/// appends before it in the batch.
#[test]
fn conditions_of_parts_go_together_each_item_after_its_own_position() {
    runtime(2).block_on(async {
        let options = PostgresOptions::new(url()).pool_size(8).append_batches(1);
        let Some(temp) = temp_schema_with(options).await else {
            return;
        };
        let store = &temp.store;
        let course = store.append(vec![joined("course:p")], None).await.unwrap();
        let student = store.append(vec![joined("student:y")], None).await.unwrap();
        let left = store
            .append(vec![EventRecord::new(LEFT, "{}")], None)
            .await
            .unwrap();
        let Some(held) = Held::new(store, "course:held").await else {
            return;
        };
        let plan = parts_plan(course, student, left);
        let outcomes = in_one_batch(store, held, plan).await;
        let conflict = |(what, outcome): &(&str, Result<Position, AppendError>), at: Position| {
            assert!(
                matches!(outcome, Err(AppendError::ConditionFailed { conflicting }) if *conflicting == at),
                "{what}: expected a conflict at {at}, got {outcome:?}"
            );
        };
        let ok = |(what, outcome): &(&str, Result<Position, AppendError>)| {
            assert!(outcome.is_ok(), "{what}: {outcome:?}");
        };
        ok(&outcomes[0]);
        conflict(&outcomes[1], student);
        conflict(&outcomes[2], student);
        ok(&outcomes[3]);
        conflict(&outcomes[4], left);
        ok(&outcomes[5]);
        let joined_in_batch = outcomes[6].1.as_ref().copied().expect("the course joined");
        conflict(&outcomes[7], joined_in_batch);
    });
}

/// An append whose caller stops waiting before its batch is sent is left
/// out of the batch: it is never stored.
#[test]
fn an_append_abandoned_in_the_queue_is_not_sent() {
    runtime(2).block_on(async {
        let Some((temp, held)) = held_store().await else {
            return;
        };
        let store = &temp.store;
        let abandoned = spawn_append(store, joined("course:abandoned"), None);
        until_queued(store, 1).await;
        let kept = spawn_append(store, joined("course:kept"), None);
        until_queued(store, 2).await;
        abandoned.abort();
        assert!(abandoned.await.is_err_and(|e| e.is_cancelled()));
        held.release().await;
        kept.await
            .expect("an append")
            .expect("the kept append is stored");

        for (course, expected) in [("course:abandoned", 0), ("course:kept", 1)] {
            let stored = store
                .read_to_end(&on(course), ReadOptions::new())
                .await
                .unwrap();
            assert_eq!(stored.events.len(), expected, "{course}");
        }
    });
}

/// Appends sent together keep their own metadata (or none), and each is
/// recorded at a time taken with its position: here, with the server's
/// clock behind the latest time the store issued (set a day ahead while
/// the batch waits), every event of the batch is recorded at that time,
/// none before the event of the held append at the position before them.
#[test]
fn queued_appends_keep_their_metadata_and_take_times_in_order() {
    runtime(2).block_on(async {
        let Some((temp, held)) = held_store().await else {
            return;
        };
        let store = &temp.store;
        let Some(client) = raw_client().await else {
            return;
        };
        let before = store.batch_counts();
        let metadata = |i: usize| match i % 3 {
            0 => Metadata::new(),
            1 => Metadata::new().with(Metadata::CORRELATION, format!("c-{i}")),
            _ => Metadata::new().with("user", "Zoë").with("i", i.to_string()),
        };
        let queued: Vec<_> = (0..6)
            .map(|i| {
                let course = format!("course:q{i}");
                spawn_append(
                    store,
                    joined(&course).with_metadata(metadata(i)),
                    Some(AppendCondition::new(on(&course))),
                )
            })
            .collect();
        until_queued(store, 6).await;
        let ahead = Timestamp::now().saturating_add(Duration::from_hours(24));
        client
            .execute(
                &format!(
                    "SELECT setval('\"{}\".dcb_last_recorded_at', $1)",
                    store.schema()
                ),
                &[&ahead.as_micros()],
            )
            .await
            .expect("the latest time issued, a day ahead");
        let held_at = held.position;
        held.release().await;
        let mut positions = Vec::new();
        for append in queued {
            positions.push(append.await.expect("an append").expect("stored"));
        }
        let after = store.batch_counts();
        assert_eq!(
            (
                after.batches - before.batches,
                after.appends - before.appends
            ),
            (2, 7),
            "the held append's batch, then one batch of the six"
        );
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap()
            .events;
        let held_event = all.iter().find(|e| e.position == held_at).expect("held");
        assert!(
            held_event.recorded_at.is_some_and(|at| at < ahead),
            "the held append was recorded by the clock, before the time set ahead"
        );
        for (i, position) in positions.iter().enumerate() {
            let event = all
                .iter()
                .find(|e| e.position == *position)
                .expect("a queued event");
            assert_eq!(event.metadata(), &metadata(i), "the metadata of append {i}");
            assert_eq!(
                event.recorded_at,
                Some(ahead),
                "append {i} is recorded at the latest time issued, not at the clock"
            );
        }
    });
}

/// A batch the server fails rolls back whole, and its appends are sent
/// again one by one: the append that cannot be stored (here, one that
/// waits for a lock past the sessions' `lock_timeout`) fails alone, and the
/// other is stored.
#[test]
fn an_append_that_fails_its_batch_fails_alone() {
    runtime(2).block_on(async {
        let separator = if url().contains('?') { '&' } else { '?' };
        let with_timeout = format!("{}{separator}options=-c%20lock_timeout%3D1000", url());
        let Some(temp) = temp_schema_with(
            PostgresOptions::new(with_timeout)
                .pool_size(8)
                .append_batches(1),
        )
        .await
        else {
            return;
        };
        let store = &temp.store;
        let Some(mut stuck) = raw_client().await else {
            return;
        };
        // Held until the end: an append on it waits past the lock timeout.
        let held_longer = stuck.transaction().await.expect("BEGIN");
        store
            .append_in_transaction(&held_longer, vec![joined("course:stuck")], None)
            .await
            .expect("the holding append");
        let Some(held) = Held::new(store, "course:held").await else {
            return;
        };
        let blocked = spawn_append(
            store,
            joined("course:stuck"),
            Some(AppendCondition::new(on("course:stuck"))),
        );
        let free = spawn_append(store, joined("course:free"), None);
        until_queued(store, 2).await;
        held.release().await;

        let blocked = blocked.await.expect("an append");
        let free = free.await.expect("an append");
        held_longer.commit().await.expect("COMMIT");
        let error = blocked.expect_err("the append behind the stuck boundary fails");
        assert!(
            matches!(error, AppendError::Backend(_)),
            "a server error, not an outcome: {error}"
        );
        let free = free.expect("the other append of the batch is stored");
        let stored = store
            .read_to_end(&on("course:free"), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(
            stored.events.iter().map(|e| e.position).collect::<Vec<_>>(),
            vec![free]
        );
        let stuck = store
            .read_to_end(&on("course:stuck"), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(stuck.events.len(), 1, "only the holding append's event");
    });
}

/// A batch whose connection is terminated (`pg_terminate_backend`) while
/// it waits for a lock is rolled back whole; its appends are then sent
/// again one by one, and each is stored exactly once.
#[test]
fn a_batch_terminated_in_flight_is_sent_again_append_by_append() {
    runtime(2).block_on(async {
        let Some((temp, held)) = held_store().await else {
            return;
        };
        let store = &temp.store;
        let (Some(mut stuck), Some(observer)) = (raw_client().await, raw_client().await) else {
            return;
        };
        // Locks course:stuck exclusively until committed below.
        let stuck_tx = stuck.transaction().await.expect("BEGIN");
        store
            .append_in_transaction(
                &stuck_tx,
                vec![joined("course:stuck")],
                Some(AppendCondition::new(on("course:stuck"))),
            )
            .await
            .expect("the holding append");
        let before = store.batch_counts();
        let appends: Vec<_> = (0..8)
            .map(|i| {
                let own = format!("batch:{i}");
                let mut tags = vec![tag(&own)];
                if i == 0 {
                    tags.push(tag("course:stuck"));
                }
                spawn_append(
                    store,
                    EventRecord::new(JOINED, "{}").with_tags(tags),
                    Some(AppendCondition::new(on(&own))),
                )
            })
            .collect();
        until_queued(store, 8).await;
        held.release().await;

        // The batch now waits for course:stuck; end its connection.
        until_waiting_for_a_lock(&observer, store.schema()).await;
        let terminated: i64 = observer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0 \
                   AND strpos(query, 'dcb_append_batch') > 0",
                &[&store.schema()],
            )
            .await
            .expect("pg_terminate_backend")
            .get(0);
        assert_eq!(terminated, 1, "one batch was waiting");
        stuck_tx.commit().await.expect("COMMIT");

        for (i, append) in appends.into_iter().enumerate() {
            append
                .await
                .expect("an append")
                .unwrap_or_else(|e| panic!("append {i} is stored after its batch failed: {e}"));
            let stored = store
                .read_to_end(&on(&format!("batch:{i}")), ReadOptions::new())
                .await
                .unwrap();
            assert_eq!(stored.events.len(), 1, "append {i} is stored once");
        }
        let after = store.batch_counts();
        assert_eq!(
            (
                after.batches - before.batches,
                after.appends - before.appends
            ),
            (9, 9),
            "the held append, then the eight alone: the terminated batch counts for nothing"
        );
    });
}
