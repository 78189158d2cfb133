//! What the PostgreSQL store records beside an event (issue 25): the time,
//! taken by the server in the clock section of `dcb_append` and
//! `dcb_append_batch` together with the positions, and the metadata, kept
//! as `jsonb`. The conformance suite's `recording` area checks what every
//! store does; these check how this one does it: the latest time issued
//! is kept in the schema and wins over a clock that is behind it (set
//! back, or come back from a restart set back), an append takes its
//! position and its time only when no other append is between the two,
//! and metadata is what an operator reads in SQL. (Metadata holding a NUL
//! character, which PostgreSQL cannot store, every store refuses as
//! invalid input: the conformance suite checks it.) When the server is
//! unreachable (and not required) each test reports itself skipped and
//! returns.

use std::sync::Arc;
use std::time::Duration;

use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    AppendCondition, EventRecord, EventStore, EventType, Metadata, Position, Query, QueryItem,
    ReadOptions, SequencedEvent, Tag, Timestamp, Uuid,
};

use crate::postgres_support::{raw_client, runtime, temp_schema, temp_schema_with, url};

const TICKED: EventType = EventType::from_static("Ticked");

fn ticked(tag: &str) -> EventRecord {
    EventRecord::new(TICKED, "{}").with_tags([Tag::new(tag).expect("a valid tag")])
}

fn tagged(tag: &str) -> Query {
    Query::from(QueryItem::new().tags([Tag::new(tag).expect("a valid tag")]))
}

async fn everything(store: &PostgresStore) -> Vec<SequencedEvent> {
    store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read everything")
        .events
}

/// The latest time the store in `schema` has issued, in microseconds since
/// the Unix epoch, as the schema keeps it.
async fn latest_issued(client: &tokio_postgres::Client, schema: &str) -> Option<i64> {
    client
        .query_one(
            &format!("SELECT pg_sequence_last_value('\"{schema}\".dcb_last_recorded_at')"),
            &[],
        )
        .await
        .expect("the latest time issued")
        .get(0)
}

/// Sets the latest time the store in `schema` has issued: what a store
/// finds when the server's clock is behind the times it recorded.
async fn set_latest_issued(client: &tokio_postgres::Client, schema: &str, at: Timestamp) {
    client
        .execute(
            &format!("SELECT setval('\"{schema}\".dcb_last_recorded_at', $1)"),
            &[&at.as_micros()],
        )
        .await
        .expect("set the latest time issued");
}

/// Every append records the time it took, and keeps it in the schema as
/// the latest issued; while the clock is behind that time — a clock set
/// back, or a server restarted with one — appends of every shape are
/// recorded at that time, never before, by this store and by one that
/// connects afresh (new sessions, as after a restart); once the clock
/// passes it again, times follow the clock.
#[test]
fn a_clock_behind_the_latest_time_issued_never_makes_a_time_decrease() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(4).await else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema();
        let Some(client) = raw_client().await else {
            return;
        };
        assert_eq!(
            latest_issued(&client, schema).await,
            None,
            "a new store has issued no time"
        );
        store
            .append(vec![ticked("clock:now")], None)
            .await
            .expect("append");
        let first = everything(store).await[0].recorded_at.expect("a time");
        assert_eq!(
            latest_issued(&client, schema).await,
            Some(first.as_micros()),
            "the schema keeps the time issued"
        );

        // The clock is now a day behind the latest time issued.
        let ahead = Timestamp::now().saturating_add(Duration::from_hours(24));
        set_latest_issued(&client, schema, ahead).await;
        let id = Uuid::from_u128(0x0025_c10c);
        store
            .append(vec![ticked("clock:behind")], None)
            .await
            .expect("one event");
        store
            .append(vec![ticked("clock:behind"), ticked("clock:behind")], None)
            .await
            .expect("two events");
        store
            .append(vec![ticked("clock:behind").with_id(id)], None)
            .await
            .expect("an event with an id");
        store
            .append(
                vec![ticked("clock:behind")],
                Some(AppendCondition::new(tagged("clock:other"))),
            )
            .await
            .expect("a conditional append");
        let restarted = PostgresStore::connect_with(
            PostgresOptions::new(url())
                .schema(schema.to_owned())
                .pool_size(1),
        )
        .await
        .expect("connect again");
        restarted
            .append(vec![ticked("clock:behind")], None)
            .await
            .expect("an append of the store connected afresh");
        let all = everything(store).await;
        assert_eq!(all.len(), 7);
        for event in &all[1..] {
            assert_eq!(
                event.recorded_at,
                Some(ahead),
                "event {} is recorded at the latest time issued, not at the clock behind it",
                event.position
            );
        }
        assert_eq!(
            latest_issued(&client, schema).await,
            Some(ahead.as_micros())
        );

        // The clock ahead of the latest time issued again: times follow it.
        let behind = first.saturating_sub(Duration::from_hours(24));
        set_latest_issued(&client, schema, behind).await;
        let before = Timestamp::now();
        store
            .append(vec![ticked("clock:again")], None)
            .await
            .expect("append");
        let last = everything(store).await.pop().expect("the last event");
        let at = last.recorded_at.expect("a time");
        assert!(
            at >= before.saturating_sub(Duration::from_hours(1)) && at < ahead,
            "recorded at {at}: the clock's time, not the latest issued ({behind})"
        );
        assert_eq!(latest_issued(&client, schema).await, Some(at.as_micros()));
    });
}

/// Whether an append of the store in `schema` waits for an advisory lock
/// of the two-key space: the clock section's.
async fn waits_for_the_clock_section(client: &tokio_postgres::Client, schema: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE NOT l.granted AND l.locktype = 'advisory' AND l.objsubid = 2 \
             AND strpos(a.query, $1) > 0)",
            &[&schema],
        )
        .await
        .expect("pg_locks")
        .get(0)
}

/// An append takes its position and its time in the clock section, which
/// no other append is in at the same time: an append that finds it held —
/// here by the test, which meanwhile takes a position and issues a time
/// as an append would, a minute ahead of the clock — waits, then takes the
/// next position and a time not before the one issued before it.
#[test]
fn an_append_takes_its_position_and_time_alone_in_the_clock_section() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(2).await else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        let (Some(holder), Some(observer)) = (raw_client().await, raw_client().await) else {
            return;
        };
        let section = format!("hashtext('dcb-clock'), hashtext('{schema}')");
        holder
            .batch_execute(&format!("SELECT pg_advisory_lock({section})"))
            .await
            .expect("take the clock section");

        let appending = {
            let store = store.clone();
            tokio::spawn(async move { store.append(vec![ticked("section:a")], None).await })
        };
        while !waits_for_the_clock_section(&observer, &schema).await {
            assert!(
                !appending.is_finished(),
                "the append went through the clock section while it was held"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // As another append in the section: a position and a time.
        let ahead = Timestamp::now().saturating_add(Duration::from_mins(1));
        let taken: i64 = holder
            .query_one(
                &format!("SELECT nextval('\"{schema}\".dcb_positions')"),
                &[],
            )
            .await
            .expect("a position")
            .get(0);
        set_latest_issued(&holder, &schema, ahead).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!appending.is_finished(), "the append waits for the section");
        holder
            .batch_execute(&format!("SELECT pg_advisory_unlock({section})"))
            .await
            .expect("leave the clock section");

        let position = appending
            .await
            .expect("the appending task")
            .expect("the append");
        assert_eq!(
            i64::try_from(position.get()).expect("small"),
            taken + 1,
            "the position after the one taken in the section before it"
        );
        let all = everything(store).await;
        assert_eq!(
            all[0].recorded_at,
            Some(ahead),
            "not before the time issued in the section before it"
        );
    });
}

/// Many writers at once, on boundaries of their own, with every shape of
/// append (one event, three events, events with ids, conditional ones,
/// and single-event appends sent together in batches): along positions
/// the times never decrease, and the events of one append share one time.
#[test]
fn times_never_decrease_under_every_shape_of_append_at_once() {
    const WRITERS: u32 = 12;
    const APPENDS: u32 = 30;
    runtime(4).block_on(async {
        let Some(temp) =
            temp_schema_with(PostgresOptions::new(url()).pool_size(12).append_batches(2)).await
        else {
            return;
        };
        let store = Arc::new(temp.store.clone());
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let tag = format!("writer:{writer}");
                    // (the last position, the number of events) of each append.
                    let mut appended: Vec<(Position, u64)> = Vec::new();
                    for n in 0..APPENDS {
                        let id = Uuid::from_u128((u128::from(writer) << 32) | u128::from(n));
                        let events = match (writer + n) % 4 {
                            0 => vec![ticked(&tag)],
                            1 => vec![ticked(&tag), ticked(&tag), ticked(&tag)],
                            2 => vec![ticked(&tag).with_id(id)],
                            _ => vec![ticked(&tag).with_metadata([("n", n.to_string())])],
                        };
                        let count = events.len() as u64;
                        let condition = (n % 2 == 0).then(|| {
                            AppendCondition::new(tagged(&tag))
                                .after(appended.last().map(|(last, _)| *last))
                        });
                        let last = store
                            .append(events, condition)
                            .await
                            .unwrap_or_else(|e| panic!("writer {writer}, append {n}: {e}"));
                        appended.push((last, count));
                    }
                    appended
                })
            })
            .collect();
        let mut appends = Vec::new();
        for writer in writers {
            appends.extend(writer.await.expect("a writer"));
        }
        let all = everything(&store).await;
        assert_eq!(
            all.len() as u64,
            appends.iter().map(|(_, count)| count).sum::<u64>(),
            "every event is stored"
        );
        for pair in all.windows(2) {
            let (a, b) = (pair[0].recorded_at, pair[1].recorded_at);
            assert!(
                a.is_some() && a <= b,
                "event {} recorded at {b:?}, event {} before it at {a:?}",
                pair[1].position,
                pair[0].position
            );
        }
        let at = |position: u64| {
            all.iter()
                .find(|e| e.position.get() == position)
                .and_then(|e| e.recorded_at)
        };
        for (last, count) in appends.iter().filter(|(_, count)| *count > 1) {
            let first = last.get() + 1 - count;
            assert_eq!(
                at(first),
                at(last.get()),
                "the events {first} to {last} of one append"
            );
        }
        let batches = store.batch_counts();
        assert!(
            batches.batches < batches.appends,
            "some appends went together in batches: {batches:?}"
        );
    });
}

/// Metadata is stored as a `jsonb` object an operator can query, NULL for
/// an event without; each kind of read returns it, and the time, the same:
/// a decision's read, a read with a limit, a backward read.
#[test]
fn metadata_is_jsonb_in_the_table_and_every_read_returns_it() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(2).await else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema();
        let Some(client) = raw_client().await else {
            return;
        };
        let traced = Metadata::new()
            .with(Metadata::CORRELATION, "req-7f3a")
            .with("user", "Zoë \"quoted\" \\ ✓");
        store
            .append(
                vec![
                    ticked("course:1").with_metadata(traced.clone()),
                    ticked("course:1"),
                ],
                None,
            )
            .await
            .expect("append");
        let rows = client
            .query(
                &format!(
                    "SELECT metadata IS NULL, metadata->>'correlation', metadata->>'user', \
                     jsonb_typeof(metadata) FROM \"{schema}\".events ORDER BY position"
                ),
                &[],
            )
            .await
            .expect("the metadata as stored");
        let stored: Vec<[Option<String>; 3]> = rows
            .iter()
            .map(|r| [r.get(1), r.get(2), r.get(3)])
            .collect();
        let null: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(null, [false, true], "NULL for an event without metadata");
        assert_eq!(
            stored,
            [
                [
                    Some("req-7f3a".to_owned()),
                    Some("Zoë \"quoted\" \\ ✓".to_owned()),
                    Some("object".to_owned())
                ],
                [None, None, None],
            ]
        );

        let all = everything(store).await;
        assert_eq!(all[0].metadata(), &traced);
        assert!(all[1].metadata().is_empty());
        let course = tagged("course:1");
        for (what, options) in [
            ("a decision's read", ReadOptions::new()),
            ("a read with a limit", ReadOptions::new().limit(2)),
        ] {
            let read = store.read_to_end(&course, options).await.expect(what);
            assert_eq!(read.events, all, "{what}");
        }
        let mut backwards = store
            .read_to_end(&course, ReadOptions::new().backwards())
            .await
            .expect("a backward read")
            .events;
        backwards.reverse();
        assert_eq!(backwards, all, "a backward read");
    });
}
