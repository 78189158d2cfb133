//! Connecting to a schema whose migrations do not match this version of the
//! crate: a store that migrates refuses a schema migrated by a newer
//! version, and a store told not to migrate refuses a schema that lacks
//! migrations its calls need, or holds no store at all, each with an error
//! that says what to do. When the server is unreachable (and not required)
//! the tests warn loudly and return.

mod postgres_support;

use dcb_core::EventStore;
use dcb_core::postgres::{ConnectError, PostgresOptions, PostgresStore};
use postgres_support::{random_schema, raw_client, runtime, temp_schema, url};

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
