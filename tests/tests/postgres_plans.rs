//! The plans the server keeps for the PostgreSQL store's statements stay
//! index lookups as the tables grow. A decision's read runs its query
//! inside `dcb_decision_read`, whose plan PL/pgSQL prepares once per
//! connection; the server may keep one generic plan for it, made with the
//! table sizes of that moment: a plan that joined the matches to `events`
//! with a sequential scan, cheap on a small table, would scan the whole
//! table on every read once it has grown. When the server is unreachable
//! (and not required) the test warns loudly and returns.

mod postgres_support;

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
            "EXPLAIN EXECUTE decision_read(0, \
             ARRAY['course:1', 'student:7', 'course:2', 'student:7'], '{1, 1, 2}', '{0, 1, 2}', \
             ARRAY['CourseRegistered', 'StudentJoinedCourse'], '{2, 0, 0}', '{0, 2, 2}', \
             0, false)",
            &[],
        )
        .await
        .expect("EXPLAIN EXECUTE")
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The query `dcb_decision_read` runs: its body from `RETURN QUERY` to the
/// end of that statement.
async fn decision_read_query(client: &tokio_postgres::Client, schema: &str) -> String {
    const RETURN_QUERY: &str = "RETURN QUERY";
    let body: String = client
        .query_one(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = 'dcb_decision_read'",
            &[&schema],
        )
        .await
        .expect("the function dcb_decision_read")
        .get(0);
    let start = body
        .find(RETURN_QUERY)
        .expect("the function returns a query")
        + RETURN_QUERY.len();
    let end = start + body[start..].find(';').expect("the query ends with ;");
    body[start..end].to_owned()
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
        // The query the function runs, which names the function's
        // parameters $1 … $9: the query's items as arrays (see `plan`).
        let sql = decision_read_query(&client, store.schema()).await;
        // The generic plan, made now, while `events` holds 500 rows.
        client
            .batch_execute(&format!(
                "SET plan_cache_mode = force_generic_plan;\n\
                 PREPARE decision_read(bigint, text[], int[], int[], text[], int[], int[], \
                 bigint, boolean) AS {sql}"
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
        }
    });
}
