//! An application that connects as a role of its own, with migrations off,
//! can use a store an operator migrated once the role has the grants of
//! `grant_script`: conditional and idempotent appends, decision reads,
//! reads with a limit, the head, waits woken by notifications, and read
//! models saved in the schema; with migrations on, too, while the schema
//! is up to date. Without the grants it is refused, and so is a migration
//! it may not make, each error saying what to do. When the
//! server is unreachable (and not required) the test warns loudly and
//! returns.

use std::time::Duration;

use dcb_core::postgres::{ConnectError, PostgresOptions, PostgresStorage, PostgresStore};
use dcb_core::read_model::Storage;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Query, QueryItem,
    ReadOptions, Tag, Uuid,
};

use crate::postgres_support::{Server, execute_now, raw_client, runtime, temp_schema};

/// A login role for the test, dropped (with its privileges) afterwards.
struct TempRole {
    name: String,
    password: String,
}

impl TempRole {
    async fn create(admin: &tokio_postgres::Client) -> TempRole {
        TempRole::named(admin, format!("dcb_role_{:032x}", Uuid::new_v4().as_u128())).await
    }

    /// A role called `name`, whatever it holds.
    async fn named(admin: &tokio_postgres::Client, name: String) -> TempRole {
        let role = TempRole {
            name,
            password: format!("{:032x}", Uuid::new_v4().as_u128()),
        };
        admin
            .batch_execute(&format!(
                "CREATE ROLE {} LOGIN PASSWORD '{}'",
                role.quoted(),
                role.password
            ))
            .await
            .expect("CREATE ROLE");
        role
    }

    /// The name as an SQL identifier.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.name.replace('"', "\"\""))
    }

    /// The test server's URL, connecting as this role.
    fn url(&self) -> String {
        let server = Server {
            user: format!("{}:{}", self.name, self.password),
            ..Server::of_test_url()
        };
        server.url(&server.host, "")
    }
}

impl Drop for TempRole {
    fn drop(&mut self) {
        execute_now(format!("DROP OWNED BY {0}; DROP ROLE {0}", self.quoted()));
    }
}

fn enrolled(student: u32) -> EventRecord {
    EventRecord::new(EventType::from_static("StudentEnrolled"), "{}").with_tags([
        Tag::new("course:1").expect("a valid tag"),
        Tag::new(format!("student:{student}")).expect("a valid tag"),
    ])
}

fn course() -> Query {
    Query::from(QueryItem::new().tags([Tag::new("course:1").expect("a valid tag")]))
}

async fn connect_as(
    role: &TempRole,
    schema: &str,
    migrate: bool,
) -> Result<PostgresStore, ConnectError> {
    PostgresStore::connect_with(
        PostgresOptions::new(role.url())
            .schema(schema)
            .migrate(migrate)
            .pool_size(2)
            .poll_interval(Duration::from_hours(1)),
    )
    .await
}

#[test]
fn a_role_with_the_grants_of_grant_script_uses_a_store_it_did_not_create() {
    runtime(2).block_on(async {
        let (Some(temp), Some(admin)) = (temp_schema(2).await, raw_client().await) else {
            return;
        };
        let role = TempRole::create(&admin).await;
        let schema = temp.store.schema().to_owned();

        for migrate in [false, true] {
            let refused = connect_as(&role, &schema, migrate)
                .await
                .expect_err("without the grants, the role cannot see the store");
            assert!(matches!(refused, ConnectError::NoAccess { .. }), "{refused:?}");
            let message = refused.to_string();
            assert!(
                message.contains("permission denied") && message.contains("dcb grants --role"),
                "the error says why and what to do: {message}"
            );
        }

        let grants = dcb_core::postgres::grant_script(&schema, &role.name).expect("the grants");
        admin.batch_execute(&grants).await.expect("apply the grants");
        let app = connect_as(&role, &schema, false)
            .await
            .expect("with the grants, the role connects");

        // Conditional appends, as a decision makes them.
        let first = app
            .append(
                vec![enrolled(1)],
                Some(AppendCondition::new(course())),
            )
            .await
            .expect("a conditional append");
        let stale = app
            .append(
                vec![enrolled(2)],
                Some(AppendCondition::new(course())),
            )
            .await;
        assert!(
            matches!(stale, Err(AppendError::ConditionFailed { conflicting }) if conflicting == first),
            "{stale:?}"
        );
        // An idempotent retry.
        let id = Uuid::new_v4();
        let once = app
            .append(vec![enrolled(3).with_id(id)], None)
            .await
            .expect("an append with an id");
        let again = app
            .append(vec![enrolled(3).with_id(id)], None)
            .await
            .expect("its retry");
        assert_eq!(once, again);

        // Reads: a decision's, a batch with a limit, the head.
        let decision = app
            .read_to_end(&course(), ReadOptions::new())
            .await
            .expect("a decision's read");
        assert_eq!(decision.events.len(), 2);
        assert_eq!(decision.head, Some(once));
        let batch = app
            .read_to_end(&Query::all(), ReadOptions::new().limit(1).backwards())
            .await
            .expect("a read with a limit");
        assert_eq!(
            batch.events.iter().map(|e| e.position).collect::<Vec<_>>(),
            [once]
        );
        assert_eq!(app.head().await.expect("the head"), Some(once));

        // A wait, woken by another process's append through a notification
        // (the role's store polls only hourly).
        let waiting = tokio::spawn({
            let app = app.clone();
            async move { app.wait_for_append(Some(once)).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let later = temp
            .store
            .append(vec![enrolled(4)], None)
            .await
            .expect("an append by the operator's store");
        tokio::time::timeout(Duration::from_mins(1), waiting)
            .await
            .expect("the wait ends")
            .expect("the wait's task")
            .expect("the wait");
        assert!(later > once);

        // A read model saved in the schema.
        let storage = PostgresStorage::new(&app, "enrolments").expect("a valid name");
        Storage::<u64>::save(&storage, &4, later)
            .await
            .expect("save a read model");
        let saved = Storage::<u64>::load(&storage)
            .await
            .expect("load it")
            .expect("it was saved");
        assert_eq!((saved.model, saved.checkpoint), (4, Some(later)));

    });
}

#[test]
fn a_role_that_may_not_migrate_connects_to_an_up_to_date_schema_only() {
    runtime(2).block_on(async {
        let (Some(temp), Some(admin)) = (temp_schema(1).await, raw_client().await) else {
            return;
        };
        let role = TempRole::create(&admin).await;
        let schema = temp.store.schema().to_owned();
        let grants = dcb_core::postgres::grant_script(&schema, &role.name).expect("the grants");
        admin
            .batch_execute(&grants)
            .await
            .expect("apply the grants");

        // Migrations on (the default): the schema is up to date, so the
        // store creates nothing.
        connect_as(&role, &schema, true)
            .await
            .expect("with migrations on, the role connects to an up-to-date schema");

        // A schema one migration behind: the role may not migrate it, and
        // the error says who can.
        admin
            .batch_execute(&format!(
                "DELETE FROM \"{schema}\".dcb_migrations \
                 WHERE version = (SELECT max(version) FROM \"{schema}\".dcb_migrations)"
            ))
            .await
            .expect("forget the last migration");
        let err = connect_as(&role, &schema, true)
            .await
            .expect_err("the role may not migrate");
        assert!(matches!(err, ConnectError::Migration { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("permission denied") && message.contains("dcb migrations"),
            "the error says why and what to do: {message}"
        );
    });
}

/// Regression (issue 21): `grant_script` (and `dcb grants --role`) named
/// the role in the script's first comment, so a newline in the name ended
/// the comment and the rest of the name ran as a statement: an operator
/// who applied the grants for a role called "app\nCREATE TABLE …; --"
/// created that table. A name with a control character is now refused,
/// and any other is one quoted identifier of the grants, so running the
/// script runs nothing a name holds.
#[test]
fn a_role_name_runs_no_statement_through_the_grants() {
    runtime(1).block_on(async {
        let (Some(temp), Some(admin)) = (temp_schema(1).await, raw_client().await) else {
            return;
        };
        let schema = temp.store.schema().to_owned();
        let run = format!("{:08x}", Uuid::new_v4().as_u128() >> 96);
        for (i, escape) in ["\n", "\r", "\"; ", "'; ", " -- \n"]
            .into_iter()
            .enumerate()
        {
            let table = format!("dcb_injected_{run}_{i}");
            let role = TempRole::named(
                &admin,
                format!("dcb_{run}_{i}{escape}CREATE TABLE {table} (); --"),
            )
            .await;
            match dcb_core::postgres::grant_script(&schema, &role.name) {
                Ok(grants) => {
                    admin
                        .batch_execute(&grants)
                        .await
                        .expect("apply the grants");
                    let granted: bool = admin
                        .query_one(
                            "SELECT has_schema_privilege($1, $2, 'USAGE')",
                            &[&role.name, &schema],
                        )
                        .await
                        .expect("the role's privileges")
                        .get(0);
                    assert!(granted, "the grants are for the role {:?}", role.name);
                }
                Err(err) => {
                    assert!(matches!(err, ConnectError::InvalidRole { .. }), "{err:?}");
                    let message = err.to_string();
                    assert!(
                        message.contains("control character"),
                        "the error says what is wrong: {message}"
                    );
                }
            }
            let injected: bool = admin
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await
                .expect("look for the table")
                .get(0);
            admin
                .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
                .await
                .expect("drop the table, if any");
            assert!(
                !injected,
                "the grants for the role {:?} ran a statement of its name: table {table} exists",
                role.name
            );
        }
    });
}
