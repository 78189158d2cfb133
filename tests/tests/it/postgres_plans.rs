//! The plans the server keeps for the PostgreSQL store's statements stay
//! index lookups as the tables grow. A decision's read runs its query
//! inside `dcb_decision_read_by_first_tags`, whose plan PL/pgSQL prepares
//! once per connection; the server keeps one generic plan for it, made with the
//! table sizes of that moment: a plan that joined the matches to `events`
//! with a sequential scan, cheap on a small table, would scan the whole
//! table on every read once it has grown. A read with a limit (a
//! subscription's batch) is planned on every call, and must fetch its
//! events by position, not join them to a scan of the whole table. When the
//! server is unreachable (and not required) the tests warn loudly and
//! return.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use dcb_core::{EventRecord, EventStore, EventType, Tag};

use crate::postgres_support::{raw_client, runtime, temp_schema, url};

fn joined(course: u32, student: u32) -> EventRecord {
    EventRecord::new(EventType::from_static("StudentJoinedCourse"), "{}").with_tags([
        Tag::new(format!("course:{course}")).expect("a valid tag"),
        Tag::new(format!("student:{student}")).expect("a valid tag"),
    ])
}

/// `EXPLAIN` of the prepared statement `decision_read` for three items — a
/// course's events of two types, a student's, and the student's in another
/// course — as one text.
async fn plan(client: &tokio_postgres::Client) -> String {
    client
        .query(
            "EXPLAIN EXECUTE decision_read(\
             ARRAY['course:1', 'student:7', 'course:2'], \
             ARRAY['course:1' || chr(31) || 'CourseRegistered', \
                   'course:1' || chr(31) || 'StudentJoinedCourse'], \
             ARRAY['student:7', 'course:2'], 0, 1000000)",
            &[],
        )
        .await
        .expect("EXPLAIN EXECUTE")
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The events' query of `dcb_decision_read_by_first_tags` (its forward
/// one, the last `RETURN QUERY`), with the function's parameters and its
/// head variable as `$1` … `$5`, and the settings the function runs with
/// (`name=value`).
async fn decision_read_query(
    client: &tokio_postgres::Client,
    schema: &str,
) -> (String, Vec<String>) {
    const RETURN_QUERY: &str = "RETURN QUERY";
    let row = client
        .query_one(
            "SELECT p.prosrc, coalesce(p.proconfig, '{}') FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = 'dcb_decision_read_by_first_tags'",
            &[&schema],
        )
        .await
        .expect("the function dcb_decision_read_by_first_tags");
    let body: String = row.get(0);
    let settings: Vec<String> = row.get(1);
    let start = body
        .rfind(RETURN_QUERY)
        .expect("the function returns a query")
        + RETURN_QUERY.len();
    let end = start + body[start..].find(';').expect("the query ends with ;");
    let query = [
        ("p_tags", "$1"),
        ("p_pairs", "$2"),
        ("p_any", "$3"),
        ("p_after", "$4"),
        ("v_head", "$5"),
    ]
    .iter()
    .fold(body[start..end].to_owned(), |query, (name, parameter)| {
        query.replace(name, parameter)
    });
    (query, settings)
}

#[test]
fn a_decision_read_planned_on_a_small_store_still_looks_events_up_by_position() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(2).await else {
            return;
        };
        let store = &temp.store;
        store
            .append((0..500).map(|i| joined(i % 50, i)).collect(), None)
            .await
            .expect("append a few events");
        let Some(client) = raw_client().await else {
            return;
        };
        // The query the function runs, with the query's items as arrays
        // (see `plan`).
        let (sql, settings) = decision_read_query(&client, store.schema()).await;
        assert!(
            settings.contains(&"plan_cache_mode=force_generic_plan".to_owned()),
            "{settings:?}"
        );
        // The generic plan, made now, while `events` holds 500 rows, under
        // the function's settings.
        let mut set = String::new();
        for setting in &settings {
            let (name, value) = setting.split_once('=').expect("name=value");
            let _ = writeln!(set, "SET {name} = '{value}';");
        }
        client
            .batch_execute(&format!(
                "{set}PREPARE decision_read(text[], text[], text[], bigint, bigint) AS {sql}"
            ))
            .await
            .expect("PREPARE the decision's read");
        let small = plan(&client).await;
        for batch in 0..20 {
            store
                .append(
                    (0..1_000).map(|i| joined(batch * 1_000 + i, i)).collect(),
                    None,
                )
                .await
                .expect("grow the store");
        }
        let grown = plan(&client).await;
        for (plan, when) in [(small, "on 500 events"), (grown, "after 20,000 more")] {
            assert!(
                !plan.contains("Seq Scan"),
                "the decision read's plan {when} scans a table:\n{plan}"
            );
            assert!(
                plan.contains("Index Scan using events_pkey"),
                "the decision read's plan {when} does not look events up by position:\n{plan}"
            );
            assert!(
                !plan.contains("Sort"),
                "the decision read's plan {when} sorts instead of reading in position order:\n{plan}"
            );
        }
    });
}

/// A connection whose `auto_explain` plans (of every statement, nested
/// ones included) arrive as notices, collected in the returned list.
async fn explaining_client() -> Option<(tokio_postgres::Client, Arc<Mutex<Vec<String>>>)> {
    let (client, mut connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                sink.lock()
                    .expect("the notices")
                    .push(notice.message().to_owned());
            }
        }
    });
    client
        .batch_execute(
            "LOAD 'auto_explain';
             SET auto_explain.log_min_duration = 0;
             SET auto_explain.log_nested_statements = on;
             SET auto_explain.log_level = notice;",
        )
        .await
        .expect("auto_explain (a module of PostgreSQL's own) loads");
    Some((client, notices))
}

#[test]
fn a_read_with_a_limit_fetches_its_events_by_position() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(2).await else {
            return;
        };
        let store = &temp.store;
        for batch in 0..20 {
            store
                .append(
                    (0..1_000)
                        .map(|i| joined(batch * 1_000 + i, i % 50))
                        .collect(),
                    None,
                )
                .await
                .expect("fill the store");
        }
        let schema = store.schema();
        let Some((client, notices)) = explaining_client().await else {
            return;
        };
        client
            .batch_execute(&format!(
                "ANALYZE \"{schema}\".events; ANALYZE \"{schema}\".event_tags;"
            ))
            .await
            .expect("ANALYZE");
        // A batch of every event, as a subscription to everything reads
        // it, forwards and backwards; and a student's, by tag.
        for read in [
            "'{}'::text[], '{0}'::int[], '{}'::text[], '{0}'::int[], 5000, 1000, false",
            "'{}'::text[], '{0}'::int[], '{}'::text[], '{0}'::int[], 15000, 1000, true",
            "'{student:7}'::text[], '{1}'::int[], '{}'::text[], '{0}'::int[], 0, 100, false",
        ] {
            notices.lock().expect("the notices").clear();
            let rows = client
                .query(
                    &format!("SELECT pos FROM \"{schema}\".dcb_read(0, {read})"),
                    &[],
                )
                .await
                .expect("dcb_read");
            assert!(rows.len() > 1, "the read returns its head and events");
            let plans = notices.lock().expect("the notices").join("\n");
            // The node that fetches the events (`events e`): an index scan
            // of the primary key, either way.
            let fetches: Vec<&str> = plans
                .lines()
                .filter(|line| line.contains(" on events e "))
                .collect();
            assert!(
                !fetches.is_empty()
                    && fetches
                        .iter()
                        .all(|line| line.contains("Index Scan") && line.contains("events_pkey")),
                "the read ({read}) does not look its events up by position:\n{plans}"
            );
            assert!(
                !plans.contains("Seq Scan on events"),
                "the read ({read}) scans the events table:\n{plans}"
            );
        }
    });
}
