//! The plans the server keeps for the PostgreSQL store's statements stay
//! index lookups as the tables grow. A decision's read runs its query
//! inside `dcb_decision_read_by_first_tags`, whose plan PL/pgSQL prepares
//! once per connection; the server keeps one generic plan for it, made with the
//! table sizes of that moment: a plan that joined the matches to `events`
//! with a sequential scan, cheap on a small table, would scan the whole
//! table on every read once it has grown. When the server is unreachable
//! (and not required) the test warns loudly and returns.

mod postgres_support;

use std::fmt::Write as _;

use dcb_core::{Event, EventStore, EventType, Tag};
use postgres_support::{raw_client, runtime, temp_schema};

fn joined(course: u32, student: u32) -> Event {
    Event::new(EventType::from_static("StudentJoinedCourse"), "{}").with_tags([
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
