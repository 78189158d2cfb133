//! Schema names, the numbered migrations and the server functions.
//!
//! A schema is brought up to date in one transaction, behind an advisory
//! lock: first the numbered migrations it lacks (`sql/migrations/`, DDL
//! only, each recorded in `dcb_migrations`), then each server function
//! (`sql/functions/`, one `CREATE OR REPLACE FUNCTION` per file) that the
//! schema does not hold as this crate defines it. Every function applied
//! is marked with a comment naming its file and the digest of its text;
//! a schema at the newest migration whose functions have this crate's
//! bodies and marks is left as it is — no DDL, so a role that may not
//! create anything connects too. Why:
//! `docs/decisions/0016-server-functions-applied-on-every-migrate.md`.

use std::fmt::Write as _;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::ConnectError;
use super::error::backend_error;

/// The migrations, in order: (version, name, SQL). The SQL refers to the
/// schema as `__SCHEMA__` (replaced by the quoted identifier) and
/// `__SCHEMA_NAME__` (replaced by the bare, validated name). A released
/// migration is never changed in a way that changes the schema it leaves.
pub(super) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("sql/migrations/0001_init.sql")),
    (
        2,
        "fast_paths",
        include_str!("sql/migrations/0002_fast_paths.sql"),
    ),
    (
        3,
        "read_models",
        include_str!("sql/migrations/0003_read_models.sql"),
    ),
    (
        4,
        "append_batches",
        include_str!("sql/migrations/0004_append_batches.sql"),
    ),
    (
        5,
        "decision_read",
        include_str!("sql/migrations/0005_decision_read.sql"),
    ),
    (
        6,
        "decision_read_by_first_tags",
        include_str!("sql/migrations/0006_decision_read_by_first_tags.sql"),
    ),
    (
        7,
        "limited_reads_by_position",
        include_str!("sql/migrations/0007_limited_reads_by_position.sql"),
    ),
    (
        8,
        "read_barrier_before_planning",
        include_str!("sql/migrations/0008_read_barrier_before_planning.sql"),
    ),
    (
        9,
        "read_model_fingerprints",
        include_str!("sql/migrations/0009_read_model_fingerprints.sql"),
    ),
    (
        10,
        "recorded_at_and_metadata",
        include_str!("sql/migrations/0010_recorded_at_and_metadata.sql"),
    ),
    (
        11,
        "condition_item_positions",
        include_str!("sql/migrations/0011_condition_item_positions.sql"),
    ),
    (
        12,
        "batched_condition_item_positions",
        include_str!("sql/migrations/0012_batched_condition_item_positions.sql"),
    ),
    (
        13,
        "decision_reads_in_rounds",
        include_str!("sql/migrations/0013_decision_reads_in_rounds.sql"),
    ),
    (
        14,
        "reads_in_rounds",
        include_str!("sql/migrations/0014_reads_in_rounds.sql"),
    ),
    (
        15,
        "decision_reads_lock_their_boundary",
        include_str!("sql/migrations/0015_decision_reads_lock_their_boundary.sql"),
    ),
    (
        16,
        "reads_lock_their_boundary",
        include_str!("sql/migrations/0016_reads_lock_their_boundary.sql"),
    ),
];

/// The server functions: (name, SQL), the SQL one `CREATE OR REPLACE
/// FUNCTION` of the function of that name, which no other function of the
/// schema shares, with the same placeholders as the migrations. A function
/// whose parameters or result change, or that goes, is dropped by a
/// numbered migration first: `CREATE OR REPLACE` cannot change them.
pub(super) const FUNCTIONS: &[(&str, &str)] = &[
    ("dcb_append", include_str!("sql/functions/dcb_append.sql")),
    (
        "dcb_append_batch",
        include_str!("sql/functions/dcb_append_batch.sql"),
    ),
    (
        "dcb_decision_read",
        include_str!("sql/functions/dcb_decision_read.sql"),
    ),
    (
        "dcb_decision_read_by_first_tags",
        include_str!("sql/functions/dcb_decision_read_by_first_tags.sql"),
    ),
    ("dcb_head", include_str!("sql/functions/dcb_head.sql")),
    (
        "dcb_idempotent",
        include_str!("sql/functions/dcb_idempotent.sql"),
    ),
    ("dcb_insert", include_str!("sql/functions/dcb_insert.sql")),
    (
        "dcb_match_sql",
        include_str!("sql/functions/dcb_match_sql.sql"),
    ),
    ("dcb_read", include_str!("sql/functions/dcb_read.sql")),
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

/// Creates the schema if needed, applies the missing migrations and then
/// the functions the schema does not hold as this crate defines them, all
/// in one transaction that first takes an advisory lock, so concurrent
/// connects migrate once. A schema already at the newest migration with
/// current functions is left as it is, so a role that may not create
/// anything connects too.
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<(), ConnectError> {
    let tx = client.transaction().await.map_err(failed(0))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('dcb-migrate:' || $1, 0))",
        &[&schema],
    )
    .await
    .map_err(failed(0))?;
    let applied = applied_version(&tx, schema)
        .await
        .map_err(|e| unreadable(schema, e))?;
    if let Some(applied) = applied
        && applied > KNOWN
    {
        return Err(ConnectError::SchemaTooNew {
            schema: schema.to_owned(),
            version: applied,
            known: KNOWN,
        });
    }
    if applied != Some(KNOWN) {
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
    }
    for &(name, sql) in stale_functions(&tx, schema).await.map_err(failed(0))? {
        tx.batch_execute(&function_sql(name, sql, schema))
            .await
            .map_err(|source| ConnectError::Function { name, source })?;
    }
    tx.commit().await.map_err(failed(0))
}

/// The functions of [`FUNCTIONS`] that `schema` does not hold as this
/// crate defines them: missing, with another body, or without the mark of
/// [`mark`] (which covers what the body does not: parameters, result,
/// settings).
async fn stale_functions(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
) -> Result<Vec<&'static (&'static str, &'static str)>, tokio_postgres::Error> {
    let held: Vec<(String, String, Option<String>)> = client
        .query(
            "SELECT p.proname::text, p.prosrc, obj_description(p.oid, 'pg_proc') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    Ok(FUNCTIONS
        .iter()
        .filter(|(name, sql)| {
            let mark = mark(name, sql);
            let body = render(body(sql), schema);
            !held.iter().any(|(held, source, comment)| {
                held == name && *source == body && comment.as_deref() == Some(&mark)
            })
        })
        .collect())
}

/// The body of a function's SQL: the text between its `$fn$` quotes, as
/// the server keeps it (`pg_proc.prosrc`).
fn body(sql: &str) -> &str {
    sql.split("$fn$").nth(1).unwrap_or_default()
}

/// The comment that marks the function `name` as applied from `sql`: its
/// file and the digest of the file's text (FNV-1a, 64 bits).
fn mark(name: &str, sql: &str) -> String {
    let digest = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("dcb-core sql/functions/{name}.sql {digest:016x}")
}

/// The SQL that applies the function `name` to `schema` and marks it.
fn function_sql(name: &str, sql: &str, schema: &str) -> String {
    // The name alone names the function: no other in the schema has it.
    render(
        &format!(
            "{sql}\nCOMMENT ON FUNCTION __SCHEMA__.{name} IS '{}';\n",
            mark(name, sql)
        ),
        schema,
    )
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
/// records it, after the bookkeeping table, and then every server function:
/// what [`migrate`] runs, as one script. `schema` must have been checked.
pub(super) fn script(schema: &str, after: i32) -> Result<String, ConnectError> {
    if after > KNOWN {
        return Err(ConnectError::SchemaTooNew {
            schema: schema.to_owned(),
            version: after,
            known: KNOWN,
        });
    }
    let migrations = if after < KNOWN {
        format!("migrations {} to {KNOWN}", after.max(0) + 1)
    } else {
        format!("no migrations after {KNOWN}")
    };
    let mut script = format!(
        "-- dcb PostgreSQL store: {migrations} of schema {}, and the server functions,\n\
         -- from dcb-core {}.\n\
         -- Apply it in one transaction (psql --single-transaction --file, or a\n\
         -- migration tool of your own); stores then connect with\n\
         -- PostgresOptions::migrate(false).\n\n",
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
    script.push_str(
        "\n-- The server functions, each replaced as this version defines it: applying\n\
         -- them again changes nothing.\n",
    );
    for &(name, sql) in FUNCTIONS {
        let _ = write!(script, "\n-- Function {name}\n\n");
        script.push_str(&function_sql(name, sql, schema));
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

    /// Every function is defined once, in the file of its name, and
    /// nowhere else: the migrations hold no function bodies.
    #[test]
    fn each_function_is_defined_once_in_its_own_file() {
        let defines = |sql: &str| {
            let sql = sql.to_ascii_uppercase();
            sql.matches("CREATE FUNCTION").count()
                + sql.matches("CREATE OR REPLACE FUNCTION").count()
        };
        for (version, name, sql) in MIGRATIONS {
            assert_eq!(
                defines(sql),
                0,
                "migration {version} ({name}) defines a function"
            );
        }
        for (i, (name, sql)) in FUNCTIONS.iter().enumerate() {
            assert_eq!(defines(sql), 1, "{name}.sql defines one function");
            assert_eq!(
                sql.matches("$fn$").count(),
                2,
                "{name}.sql quotes its body, and only its body, with $fn$"
            );
            assert!(body(sql).contains("BEGIN"), "{name}.sql: {}", body(sql));
            assert!(
                sql.contains(&format!("CREATE OR REPLACE FUNCTION __SCHEMA__.{name}(")),
                "{name}.sql defines {name}"
            );
            assert!(
                FUNCTIONS[..i].iter().all(|(other, _)| other < name),
                "FUNCTIONS is in order of name, each once: {name}"
            );
        }
        for (i, (version, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                *version,
                i32::try_from(i).unwrap() + 1,
                "versions count up from 1"
            );
        }
    }

    #[test]
    fn the_script_holds_the_migrations_after_a_version_and_every_function() {
        let all = script("s", 0).unwrap();
        let rest = script("s", KNOWN - 1).unwrap();
        let functions_only = script("s", KNOWN).unwrap();
        assert!(all.starts_with(&format!(
            "-- dcb PostgreSQL store: migrations 1 to {KNOWN} "
        )));
        assert_eq!(all.matches("\n-- Migration ").count(), MIGRATIONS.len());
        assert_eq!(rest.matches("\n-- Migration ").count(), 1);
        assert!(functions_only.contains(&format!("no migrations after {KNOWN}")));
        assert_eq!(functions_only.matches("\n-- Migration ").count(), 0);
        for script in [&all, &rest, &functions_only] {
            for (name, _) in FUNCTIONS {
                assert_eq!(
                    script
                        .matches(&format!("CREATE OR REPLACE FUNCTION \"s\".{name}("))
                        .count(),
                    1,
                    "{name}"
                );
                assert_eq!(
                    script
                        .matches(&format!("COMMENT ON FUNCTION \"s\".{name} IS 'dcb-core "))
                        .count(),
                    1,
                    "{name} is marked"
                );
            }
            assert!(!script.contains("__SCHEMA"), "every placeholder is filled");
        }
        assert!(matches!(
            script("s", KNOWN + 1),
            Err(ConnectError::SchemaTooNew { .. })
        ));
    }
}
