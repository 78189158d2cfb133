//! Connecting to a schema whose migrations do not match this version of the
//! crate: a store that migrates refuses a schema migrated by a newer
//! version, and a store told not to migrate refuses a schema that lacks
//! migrations its calls need, or holds no store at all, each with an error
//! that says what to do. The migration script, applied by an operator's
//! tool, makes a schema such a store accepts, from scratch or from an older
//! migration. When the server is unreachable (and not required) the tests
//! warn loudly and return.

use crate::postgres_support::{drop_schema, random_schema, raw_client, runtime, temp_schema, url};
use dcb_core::EventStore;
use dcb_core::postgres::{ConnectError, PostgresOptions, PostgresStore, migration_script};

async fn connect(schema: &str, migrate: bool) -> Result<PostgresStore, ConnectError> {
    PostgresStore::connect_with(
        PostgresOptions::new(url())
            .schema(schema)
            .migrate(migrate)
            .pool_size(1),
    )
    .await
}

#[test]
fn a_store_that_does_not_migrate_refuses_a_schema_missing_a_migration() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(1).await else {
            return;
        };
        let schema = temp.store.schema();
        // Fully migrated: accepted, and usable.
        let store = connect(schema, false).await.expect("a migrated schema");
        assert_eq!(store.head().await.expect("head"), None);
        let Some(client) = raw_client().await else {
            return;
        };
        let newest: i32 = client
            .query_one(
                &format!("DELETE FROM \"{schema}\".dcb_migrations WHERE version = (SELECT max(version) FROM \"{schema}\".dcb_migrations) RETURNING version"),
                &[],
            )
            .await
            .expect("forget the newest migration")
            .get(0);
        let err = connect(schema, false)
            .await
            .expect_err("a schema without the newest migration is refused");
        match &err {
            ConnectError::SchemaTooOld {
                schema: named,
                version,
                needed,
            } => {
                assert_eq!(named, schema);
                assert_eq!((*version, *needed), (newest - 1, newest));
            }
            other => panic!("expected SchemaTooOld, got {other:?}"),
        }
        assert!(
            err.to_string().contains("apply the migrations"),
            "the error says what to do: {err}"
        );
    });
}

#[test]
fn a_store_that_does_not_migrate_refuses_a_schema_without_a_store() {
    runtime(2).block_on(async {
        if raw_client().await.is_none() {
            return;
        }
        let schema = random_schema();
        let err = connect(&schema, false)
            .await
            .expect_err("a schema that does not exist holds no store");
        assert!(
            matches!(&err, ConnectError::NoStore { schema: named } if *named == schema),
            "expected NoStore, got {err:?}"
        );
        assert!(err.to_string().contains("check the schema name"), "{err}");
    });
}

#[test]
fn a_store_that_migrates_refuses_a_schema_from_a_newer_version() {
    runtime(2).block_on(async {
        let Some(temp) = temp_schema(1).await else {
            return;
        };
        let schema = temp.store.schema();
        let Some(client) = raw_client().await else {
            return;
        };
        client
            .execute(
                &format!(
                    "INSERT INTO \"{schema}\".dcb_migrations (version, name) \
                     SELECT max(version) + 1, 'from the future' FROM \"{schema}\".dcb_migrations"
                ),
                &[],
            )
            .await
            .expect("record a migration from a newer version");
        let err = connect(schema, true)
            .await
            .expect_err("a schema from a newer version is refused");
        assert!(
            matches!(&err, ConnectError::SchemaTooNew { version, known, .. } if *version == known + 1),
            "expected SchemaTooNew, got {err:?}"
        );
        assert!(err.to_string().contains("upgrade dcb"), "{err}");
    });
}

/// Runs `script` in one transaction, as an operator's tool would.
async fn apply(client: &tokio_postgres::Client, script: &str) {
    client
        .batch_execute(&format!("BEGIN;\n{script}\nCOMMIT;"))
        .await
        .expect("the script applies");
}

/// Drops the schema when the test ends, however it ends.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        drop_schema(&self.0);
    }
}

#[test]
fn the_migration_script_makes_a_store_that_connects_without_migrating() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let schema = random_schema();
        let _drop = DropSchema(schema.clone());
        let script = migration_script(&schema, 0).expect("a script for a valid schema");
        apply(&client, &script).await;

        let store = connect(&schema, false)
            .await
            .expect("a schema made by the script holds a complete store");
        let position = store
            .append(vec![opened()], None)
            .await
            .expect("append to the store the script made");
        assert_eq!(store.head().await.expect("head"), Some(position));
        // A store that migrates finds nothing left to do.
        let migrating = connect(&schema, true).await.expect("connect, migrating");
        assert_eq!(migrating.head().await.expect("head"), Some(position));
        let recorded: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{schema}\".dcb_migrations"),
                &[],
            )
            .await
            .expect("the recorded migrations")
            .get(0);
        assert_eq!(recorded, i64::from(newest(&script)));
    });
}

#[test]
fn the_migration_script_after_a_version_brings_the_schema_up_from_there() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let schema = random_schema();
        let _drop = DropSchema(schema.clone());
        let whole = migration_script(&schema, 0).expect("the whole script");
        let newest = newest(&whole);
        // A schema one migration behind: the whole script up to the newest
        // migration's section.
        let section = format!("\n-- Migration {newest}: ");
        let behind = &whole[..whole.find(&section).expect("a section per migration")];
        apply(&client, behind).await;
        let err = connect(&schema, false)
            .await
            .expect_err("one migration behind");
        assert!(
            matches!(err, ConnectError::SchemaTooOld { version, .. } if version == newest - 1),
            "{err:?}"
        );

        let rest = migration_script(&schema, newest - 1).expect("the rest");
        assert_eq!(rest.matches("\n-- Migration ").count(), 1, "{rest}");
        apply(&client, &rest).await;
        let store = connect(&schema, false)
            .await
            .expect("brought up to the newest migration");
        store
            .append(vec![opened()], None)
            .await
            .expect("append after the upgrade");

        assert!(matches!(
            migration_script(&schema, newest + 1),
            Err(ConnectError::SchemaTooNew { .. })
        ));
        assert!(matches!(
            migration_script("Not A Schema", 0),
            Err(ConnectError::InvalidSchema { .. })
        ));
    });
}

/// The newest migration a script applies, from its first line ("… migrations
/// A to B of schema …").
fn newest(script: &str) -> i32 {
    let first = script.lines().next().expect("a first line");
    let to = first.split(" to ").nth(1).expect("… to B …");
    to.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a version")
}

fn opened() -> dcb_core::EventRecord {
    dcb_core::EventRecord::new(dcb_core::EventType::from_static("Opened"), "{}")
        .with_tags([dcb_core::Tag::new("account:1").expect("valid")])
}
