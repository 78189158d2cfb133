//! A read with a limit (a subscription's batch), and a decision's read,
//! hold their locks (their boundary's keys, or the read barrier) only while
//! they read their head: the appends they match wait for a read that holds
//! them. The events are read after the locks are released, with a new
//! snapshot, and only up to the head: an event committed in between is
//! neither returned nor allowed to push the head's events out of a batch.
//!
//! The tests stop a read between its head and its events: another session
//! holds an ACCESS EXCLUSIVE lock on `event_tags`, which the read's events
//! query, and not its head, needs. When the server is unreachable (and not
//! required) the tests warn loudly and return.

use std::time::{Duration, Instant};

use dcb_core::postgres::PostgresStore;
use dcb_core::{
    EventRecord, EventStore, EventType, Position, Query, QueryItem, ReadError, ReadOptions,
    ReadResult, Tag,
};

use crate::postgres_support::{TempSchema, raw_client, runtime, temp_schema};

const NOTED: EventType = EventType::from_static("Noted");

fn course() -> Tag {
    Tag::new("course:1").expect("a valid tag")
}

/// A course's events, or any `Noted` event: the first item needs the tag
/// index, the second only the events.
fn course_or_noted() -> Query {
    Query::from(QueryItem::new().tags([course()])).or(QueryItem::new().types([NOTED]))
}

/// Position 1: a course's event; position 2: a `Noted` event without tags.
async fn two_events(store: &PostgresStore) {
    store
        .append(
            vec![
                EventRecord::new(EventType::from_static("CourseRegistered"), "{}")
                    .with_tags([course()]),
            ],
            None,
        )
        .await
        .expect("append the course's event");
    store
        .append(vec![EventRecord::new(NOTED, "{}")], None)
        .await
        .expect("append a note");
}

/// A read of `query` with `options`, stopped between its head and its
/// events: another session holds `event_tags` locked until
/// [`Stopped::resume`].
///
/// The fields drop in order: the locker's session ends, and its lock with
/// it, before the schema is dropped.
struct Stopped {
    /// Holds the lock, in a transaction.
    locker: tokio_postgres::Client,
    /// A session of its own, for the test.
    observer: tokio_postgres::Client,
    /// The backend of the read.
    reader: i32,
    read: tokio::task::JoinHandle<Result<ReadResult, ReadError>>,
    /// The store, in a fresh schema holding [`two_events`].
    temp: TempSchema,
}

impl Stopped {
    /// `None` when the server is unreachable and not required.
    async fn read(query: Query, options: ReadOptions) -> Option<Stopped> {
        let (Some(temp), Some(locker), Some(observer)) =
            (temp_schema(2).await, raw_client().await, raw_client().await)
        else {
            return None;
        };
        let store = temp.store.clone();
        let schema = store.schema().to_owned();
        two_events(&store).await;
        locker
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE \"{schema}\".event_tags IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .expect("lock event_tags");
        let read = tokio::spawn(async move { store.read_to_end(&query, options).await });
        let reader = waiting_reader(&observer, &schema).await;
        Some(Stopped {
            locker,
            observer,
            reader,
            read,
            temp,
        })
    }

    fn schema(&self) -> &str {
        self.temp.store.schema()
    }

    /// Releases the lock and returns what the read read: its events'
    /// positions and its head.
    async fn resume(self) -> (Vec<u64>, Option<Position>) {
        self.locker.batch_execute("COMMIT").await.expect("COMMIT");
        let result = self.read.await.expect("the read's task").expect("the read");
        let positions = result.events.iter().map(|e| e.position.get()).collect();
        (positions, result.head)
    }
}

/// The backend that waits for the lock on `event_tags`, once one does.
async fn waiting_reader(client: &tokio_postgres::Client, schema: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_locks \
                 WHERE relation = to_regclass(quote_ident($1) || '.event_tags') AND NOT granted",
                &[&schema],
            )
            .await
            .expect("pg_locks");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "no read came to wait for event_tags within a minute"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_read_releases_the_barrier_before_its_events_query_is_planned() {
    runtime(2).block_on(async {
        let Some(stopped) = Stopped::read(course_or_noted(), ReadOptions::new().limit(10)).await
        else {
            return;
        };
        assert_eq!(
            advisory_locks(&stopped.observer, stopped.reader).await,
            0,
            "the read holds an advisory lock while its events query waits to be planned"
        );
        assert_eq!(stopped.resume().await, (vec![1, 2], Position::new(2)));
    });
}

/// The advisory locks `reader`'s session holds.
async fn advisory_locks(observer: &tokio_postgres::Client, reader: i32) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_locks \
             WHERE pid = $1 AND locktype = 'advisory' AND granted",
            &[&reader],
        )
        .await
        .expect("pg_locks")
        .get(0)
}

// A decision's read (`dcb_decision_read_by_first_tags`) releases the read
// barrier once its head is read, before its events' statement, as the
// reads with a limit do (docs/decisions/0012); no test checked it, and a
// barrier held over the events would make every append wait for them.
#[test]
fn a_decision_read_releases_the_barrier_with_its_head() {
    runtime(2).block_on(async {
        let decision = Query::from(QueryItem::new().tags([course()]));
        let Some(stopped) = Stopped::read(decision, ReadOptions::new()).await else {
            return;
        };
        assert_eq!(
            advisory_locks(&stopped.observer, stopped.reader).await,
            0,
            "the decision's read holds an advisory lock while its events' statement waits"
        );
        assert_eq!(
            stopped.resume().await,
            (vec![1], Position::new(2)),
            "the course's event, and the head of the store"
        );
    });
}

#[test]
fn a_backward_read_with_a_limit_stops_at_its_head() {
    runtime(2).block_on(async {
        let Some(stopped) =
            Stopped::read(course_or_noted(), ReadOptions::new().backwards().limit(1)).await
        else {
            return;
        };
        // A note committed after the read's head, by a session that does
        // not touch `event_tags` (nor the barrier).
        let schema = stopped.schema();
        stopped
            .observer
            .batch_execute(&format!(
                "INSERT INTO \"{schema}\".events (position, event_type, data, tags) \
                 VALUES (nextval('\"{schema}\".dcb_positions'), 'Noted', '\\x7b7d', '{{}}')"
            ))
            .await
            .expect("insert a note past the head");
        assert_eq!(
            stopped.resume().await,
            (vec![2], Position::new(2)),
            "a backward batch of one, read while position 3 was being written, \
             is the last event up to its head"
        );
    });
}
