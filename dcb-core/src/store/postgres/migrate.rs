//! Schema names and the versioned migrations.

use std::fmt::Write as _;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::ConnectError;
use super::error::backend_error;

/// The migrations, in order: (version, name, SQL). The SQL refers to the
/// schema as `__SCHEMA__` (replaced by the quoted identifier) and
/// `__SCHEMA_NAME__` (replaced by the bare, validated name).
pub(super) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "fast_paths",
        include_str!("migrations/0002_fast_paths.sql"),
    ),
    (
        3,
        "read_models",
        include_str!("migrations/0003_read_models.sql"),
    ),
    (
        4,
        "append_batches",
        include_str!("migrations/0004_append_batches.sql"),
    ),
    (
        5,
        "decision_read",
        include_str!("migrations/0005_decision_read.sql"),
    ),
    (
        6,
        "decision_read_by_first_tags",
        include_str!("migrations/0006_decision_read_by_first_tags.sql"),
    ),
    (
        7,
        "limited_reads_by_position",
        include_str!("migrations/0007_limited_reads_by_position.sql"),
    ),
    (
        8,
        "read_barrier_before_planning",
        include_str!("migrations/0008_read_barrier_before_planning.sql"),
    ),
];

/// The newest migration this crate knows: the version its calls need.
const KNOWN: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The schema and the table that records the migrations applied to it.
const BOOKKEEPING_SQL: &str = "CREATE SCHEMA IF NOT EXISTS __SCHEMA__;
CREATE TABLE IF NOT EXISTS __SCHEMA__.dcb_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
";

/// The longest schema name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_SCHEMA_LEN: usize = 63;

/// Checks a schema name against `^[a-z_][a-z0-9_]{0,62}$`.
pub(super) fn check_schema(name: &str) -> Result<(), ConnectError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_SCHEMA_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConnectError::InvalidSchema {
            schema: name.to_owned(),
        })
    }
}

/// A name quoted as an identifier, each `"` doubled: one token, whatever
/// it holds but NUL. Schema names are validated first ([`check_schema`]),
/// so for them quoting is belt and braces; role names
/// ([`grant_script`](super::grant_script)) may hold any character but a
/// control character.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Fills in the schema placeholders of a migration or statement.
pub(super) fn render(sql: &str, schema: &str) -> String {
    sql.replace("__SCHEMA_NAME__", schema)
        .replace("__SCHEMA__", &quote(schema))
}

/// The error of a failed statement of migration `version` (0: the
/// bookkeeping around the migrations).
fn failed(version: i32) -> impl Fn(tokio_postgres::Error) -> ConnectError {
    move |source| ConnectError::Migration { version, source }
}

/// Creates the schema if needed and applies the missing migrations, all in
/// one transaction that first takes an advisory lock, so concurrent
/// connects migrate once. A schema already at the newest migration is left
/// as it is, so a role that may not create anything connects too.
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<(), ConnectError> {
    let tx = client.transaction().await.map_err(failed(0))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('dcb-migrate:' || $1, 0))",
        &[&schema],
    )
    .await
    .map_err(failed(0))?;
    match applied_version(&tx, schema)
        .await
        .map_err(|e| unreadable(schema, e))?
    {
        Some(applied) if applied > KNOWN => {
            return Err(ConnectError::SchemaTooNew {
                schema: schema.to_owned(),
                version: applied,
                known: KNOWN,
            });
        }
        Some(KNOWN) => return tx.commit().await.map_err(failed(0)),
        _ => {}
    }
    tx.batch_execute(&render(BOOKKEEPING_SQL, schema))
        .await
        .map_err(failed(0))?;
    let applied = applied_version(&tx, schema)
        .await
        .map_err(failed(0))?
        .unwrap_or(0);
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
        tx.batch_execute(&render(sql, schema))
            .await
            .map_err(failed(version))?;
        tx.execute(
            &render(
                "INSERT INTO __SCHEMA__.dcb_migrations (version, name) VALUES ($1, $2)",
                schema,
            ),
            &[&version, &name],
        )
        .await
        .map_err(failed(version))?;
    }
    tx.commit().await.map_err(failed(0))
}

/// The error of a failed read of the schema's migrations: the role lacks
/// the grants, or the server failed.
fn unreadable(schema: &str, source: tokio_postgres::Error) -> ConnectError {
    if source.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        ConnectError::NoAccess {
            schema: schema.to_owned(),
            source,
        }
    } else {
        ConnectError::Connect(backend_error(
            "reading the schema's migrations failed",
            source,
        ))
    }
}

/// The newest migration applied to `schema` (0 when none is recorded), or
/// `None` when it has no `dcb_migrations` table (or does not exist).
async fn applied_version(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
) -> Result<Option<i32>, tokio_postgres::Error> {
    let table = render("__SCHEMA__.dcb_migrations", schema);
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let applied: Option<i32> = client
        .query_one(&format!("SELECT max(version) FROM {table}"), &[])
        .await?
        .get(0);
    Ok(Some(applied.unwrap_or(0)))
}

/// The SQL of the migrations after `after`, each followed by the row that
/// records it, after the bookkeeping table: what [`migrate`] runs, as one
/// script. `schema` must have been checked.
pub(super) fn script(schema: &str, after: i32) -> Result<String, ConnectError> {
    if after > KNOWN {
        return Err(ConnectError::SchemaTooNew {
            schema: schema.to_owned(),
            version: after,
            known: KNOWN,
        });
    }
    let mut script = format!(
        "-- dcb PostgreSQL store: migrations {} to {KNOWN} of schema {}, from dcb-core {}.\n\
         -- Apply it in one transaction (psql --single-transaction --file, or a\n\
         -- migration tool of your own); stores then connect with\n\
         -- PostgresOptions::migrate(false).\n\n",
        after.max(0) + 1,
        quote(schema),
        env!("CARGO_PKG_VERSION"),
    );
    script.push_str(&render(BOOKKEEPING_SQL, schema));
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > after) {
        let _ = write!(script, "\n-- Migration {version}: {name}\n\n");
        script.push_str(&render(sql, schema));
        script.push_str(&render(
            &format!(
                "\nINSERT INTO __SCHEMA__.dcb_migrations (version, name) VALUES ({version}, '{name}');\n"
            ),
            schema,
        ));
    }
    Ok(script)
}

/// For a store that does not migrate: checks that the schema holds a store
/// with every migration this crate's calls need.
pub(super) async fn check_migrated(client: &Client, schema: &str) -> Result<(), ConnectError> {
    let applied = applied_version(client, schema)
        .await
        .map_err(|e| unreadable(schema, e))?;
    let Some(applied) = applied else {
        return Err(ConnectError::NoStore {
            schema: schema.to_owned(),
        });
    };
    if applied < KNOWN {
        return Err(ConnectError::SchemaTooOld {
            schema: schema.to_owned(),
            version: applied,
            needed: KNOWN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_validated() {
        for good in ["dcb", "_x", "a1_b2", &"a".repeat(63)] {
            assert!(check_schema(good).is_ok(), "{good} is valid");
        }
        for bad in [
            "",
            "1abc",
            "Abc",
            "a-b",
            "a\"b",
            "a;drop",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(check_schema(bad).is_err(), "{bad:?} is invalid");
        }
    }

    #[test]
    fn placeholders_are_replaced() {
        assert_eq!(
            render("SELECT __SCHEMA__.f('__SCHEMA_NAME__')", "s1"),
            "SELECT \"s1\".f('s1')"
        );
        assert!(!MIGRATIONS[0].2.is_empty());
    }
}
