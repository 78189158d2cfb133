//! The server's reason reaches the application (issue 21). tokio-postgres
//! shows every error the server sends as "db error" (and a lost connection
//! as "error communicating with the server"), keeping the reason in the
//! error's source; the store put that text in its own errors, so an
//! application was told "the append failed; …: db error" and never why.
//! Every error the store makes of a PostgreSQL failure now says what the
//! server said (message, detail, hint and SQLSTATE): appends (alone, in a
//! batch, or of several events), reads, the head, read models and
//! connecting (and what the network said when the server is not there). When the server is unreachable (and not required) the test
//! warns loudly and returns.

use std::fmt::Display;

use dcb_core::postgres::{PostgresStorage, PostgresStore};
use dcb_core::read_model::Storage;
use dcb_core::{EventRecord, EventStore, EventType, Position, Query, QueryItem, ReadOptions, Tag};

use crate::postgres_support::{Server, raw_client, runtime, temp_schema};

fn booked() -> EventRecord {
    EventRecord::new(EventType::from_static("Booked"), "{}")
        .with_tags([Tag::new("course:1").expect("a valid tag")])
}

/// Asserts that the error's message holds each of `texts`, and not the
/// bare "db error".
fn says(error: &impl Display, texts: &[&str]) {
    let message = error.to_string();
    for text in texts {
        assert!(message.contains(text), "the error says {text:?}: {message}");
    }
    assert!(!message.contains("db error"), "{message}");
}

#[test]
fn the_errors_of_the_store_say_what_the_server_said() {
    runtime(2).block_on(async {
        let (Some(temp), Some(admin)) = (temp_schema(4).await, raw_client().await) else {
            return;
        };
        let store = &temp.store;
        let schema = store.schema().to_owned();
        admin
            .batch_execute(&format!(
                "CREATE FUNCTION \"{schema}\".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     RAISE EXCEPTION 'refused by the test''s trigger'
                         USING DETAIL = 'the trigger refuses every event',
                               HINT = 'drop the trigger';
                 END $$;
                 CREATE TRIGGER refuse BEFORE INSERT ON \"{schema}\".events
                     FOR EACH ROW EXECUTE FUNCTION \"{schema}\".refuse();
                 ALTER TABLE \"{schema}\".dcb_read_models
                     ADD CONSTRAINT not_refused CHECK (name <> 'refused');"
            ))
            .await
            .expect("the trigger and the constraint");
        let refused = [
            "refused by the test's trigger",
            "the trigger refuses every event",
            "drop the trigger",
            "P0001",
        ];

        // An event alone (through the batching), several events, and
        // single events sent at once (batched together, then each alone).
        let err = store
            .append(vec![booked()], None)
            .await
            .expect_err("the trigger refuses the event");
        says(&err, &refused);
        let err = store
            .append(vec![booked(), booked()], None)
            .await
            .expect_err("the trigger refuses the events");
        says(&err, &refused);
        let at_once = (0..8).map(|_| store.append(vec![booked()], None));
        for outcome in futures_util::future::join_all(at_once).await {
            says(
                &outcome.expect_err("the trigger refuses each event"),
                &refused,
            );
        }

        // A read model the constraint refuses.
        let storage = PostgresStorage::new(store, "refused").expect("a valid name");
        let first = Position::new(1).expect("a position");
        let err = Storage::<u64>::save(&storage, &1, first)
            .await
            .expect_err("the constraint refuses the row");
        says(
            &err,
            &["violates check constraint \"not_refused\"", "23514"],
        );

        // Reads, the head and read models, with the tables gone.
        admin
            .batch_execute(&format!(
                "ALTER TABLE \"{schema}\".events RENAME TO events_moved;
                 ALTER TABLE \"{schema}\".dcb_read_models RENAME TO read_models_moved;"
            ))
            .await
            .expect("move the tables");
        let missing = ["events\" does not exist", "42P01"];
        let err = store.head().await.expect_err("no events table");
        says(&err, &missing);
        let course = Query::from(QueryItem::new().tags([Tag::new("course:1").expect("a tag")]));
        for (query, options) in [
            (course, ReadOptions::new()),
            (Query::all(), ReadOptions::new().limit(10)),
        ] {
            let err = store
                .read_to_end(&query, options)
                .await
                .expect_err("no events table");
            says(&err, &missing);
        }
        let err = Storage::<u64>::load(&storage)
            .await
            .expect_err("no read models table");
        says(&err, &["dcb_read_models\" does not exist", "42P01"]);

        // Connecting as a role the server does not know.
        let server = Server {
            user: "dcb_no_such_role".to_owned(),
            ..Server::of_test_url()
        };
        let err = PostgresStore::connect(&server.url(&server.host, ""))
            .await
            .expect_err("no such role");
        says(&err, &["role \"dcb_no_such_role\" does not exist", "28000"]);

        // Connecting to a port nobody listens on: what the network said.
        let port = std::net::TcpListener::bind((server.host.as_str(), 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let nobody = Server {
            port,
            ..Server::of_test_url()
        };
        let err = PostgresStore::connect(&nobody.url(&nobody.host, ""))
            .await
            .expect_err("nobody listens");
        says(&err, &["error connecting to server: ", "refused"]);
    });
}
