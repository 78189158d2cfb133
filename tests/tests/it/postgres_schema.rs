//! The schema the PostgreSQL store makes, read from the server's catalog
//! and compared with the committed dump
//! `dcb-core/src/store/postgres/sql/schema.sql`: a freshly migrated schema,
//! schemas that earlier versions of the crate made (the migrations as they
//! were at commit 4878cf8, in `fixtures/postgres-migrations-v8/`) brought
//! forward by a connect or by the migration script, a schema that the
//! version before events had recorded times and metadata made and wrote
//! events to with its own functions (`fixtures/postgres-v9/`), and a schema
//! whose functions were changed behind the store's back. So a reviewer
//! reads the live schema in one file, and no change to the numbered
//! migrations or the functions leaves existing schemas other than new
//! ones.
//!
//! After a change to `sql/migrations` or `sql/functions`, regenerate the
//! dump with `DCB_SCHEMA=overwrite cargo test -p dcb-tests --test it
//! postgres_schema` and review its diff. Same server rules as the other
//! PostgreSQL tests (see `postgres_support`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::postgres_support::{drop_schema, random_schema, raw_client, runtime, url};
use dcb_core::postgres::{PostgresOptions, PostgresStorage, PostgresStore, migration_script};
use dcb_core::read_model::Storage;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Metadata, Query, QueryItem,
    ReadOptions, SequencedEvent, Tag, Timestamp, Uuid,
};

/// The committed dump.
fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dcb-core/src/store/postgres/sql/schema.sql")
}

/// The migrations as dcb-core applied them up to version 8, before the
/// server functions moved out of them.
fn old_migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/postgres-migrations-v8")
}

/// Whether to rewrite the committed dump (`DCB_SCHEMA=overwrite`).
fn overwrite() -> bool {
    std::env::var("DCB_SCHEMA").is_ok_and(|v| v == "overwrite")
}

/// Drops the schema when the test ends, however it ends.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        drop_schema(&self.0);
    }
}

async fn connect(schema: &str, migrate: bool) -> PostgresStore {
    PostgresStore::connect_with(
        PostgresOptions::new(url())
            .schema(schema)
            .migrate(migrate)
            .pool_size(1),
    )
    .await
    .expect("connect")
}

/// The catalog of `schema` as SQL-like text, in a stable order, with the
/// schema's name written `__SCHEMA__`: the recorded migrations, each
/// table with its columns, constraints and indexes, the sequences, any
/// other relation, type or trigger, and the functions
/// (`pg_get_functiondef`). Comments are left out: the functions' marks are
/// digests of their files.
async fn dump(client: &tokio_postgres::Client, schema: &str) -> String {
    let catalog = Catalog { client, schema };
    let mut out = String::from(
        "-- dcb PostgreSQL store: the schema that the numbered migrations\n\
         -- (sql/migrations/) and the server functions (sql/functions/) make, as the\n\
         -- server's catalog describes it, the schema's name written __SCHEMA__.\n\
         -- Written by the test postgres_schema (tests/tests/it/postgres_schema.rs),\n\
         -- which checks that a freshly migrated schema, and schemas made by earlier\n\
         -- versions and migrated forward, are exactly this. Nothing runs this file.\n\
         -- After a change to the migrations or the functions, rewrite it with\n\
         --   DCB_SCHEMA=overwrite cargo test -p dcb-tests --test it postgres_schema\n\
         -- and review the diff.\n",
    );
    catalog.migrations(&mut out).await;
    catalog.tables(&mut out).await;
    catalog.sequences(&mut out).await;
    catalog.others(&mut out).await;
    catalog.functions(&mut out).await;
    out.replace(&format!("\"{schema}\""), "__SCHEMA__")
        .replace(schema, "__SCHEMA__")
}

/// Reads the catalog of one schema.
struct Catalog<'a> {
    client: &'a tokio_postgres::Client,
    schema: &'a str,
}

impl Catalog<'_> {
    /// The rows of `sql`, whose one parameter is the schema's name.
    async fn rows(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        self.client
            .query(sql, &[&self.schema])
            .await
            .unwrap_or_else(|e| panic!("{e:?}: {sql}"))
    }

    async fn migrations(&self, out: &mut String) {
        out.push_str("\n-- Migrations recorded in __SCHEMA__.dcb_migrations:\n");
        let migrations = self
            .client
            .query(
                &format!(
                    "SELECT version, name FROM \"{}\".dcb_migrations ORDER BY version",
                    self.schema
                ),
                &[],
            )
            .await
            .expect("the recorded migrations");
        for row in migrations {
            let (version, name): (i32, String) = (row.get(0), row.get(1));
            let _ = writeln!(out, "--   {version} {name}");
        }
    }

    /// Each table: its columns (type, default, not null), then its
    /// constraints and its indexes.
    async fn tables(&self, out: &mut String) {
        let columns = self
            .rows(
                "SELECT c.relname::text, quote_ident(a.attname), \
                        format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid) \
                 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
                                        AND NOT a.attisdropped \
                 LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
                 ORDER BY c.relname, a.attnum",
            )
            .await;
        let constraints = self
            .rows(
                "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid) \
                 FROM pg_constraint k \
                 JOIN pg_class c ON c.oid = k.conrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND k.contype <> 'n' \
                 ORDER BY 1, 2",
            )
            .await;
        let indexes = self
            .rows(
                "SELECT t.relname::text, pg_get_indexdef(i.oid) \
                 FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = $1 \
                 ORDER BY 1, i.relname",
            )
            .await;
        let mut tables: Vec<&str> = columns.iter().map(|row| row.get(0)).collect();
        tables.dedup();
        for table in tables {
            let _ = write!(out, "\nCREATE TABLE __SCHEMA__.{table} (");
            let of_table = |row: &&tokio_postgres::Row| row.get::<_, &str>(0) == table;
            for (i, row) in columns.iter().filter(of_table).enumerate() {
                let separator = if i == 0 { "" } else { "," };
                let _ = write!(
                    out,
                    "{separator}\n    {} {}",
                    row.get::<_, &str>(1),
                    row.get::<_, &str>(2)
                );
                if let Some(default) = row.get::<_, Option<&str>>(4) {
                    let _ = write!(out, " DEFAULT {default}");
                }
                if row.get::<_, bool>(3) {
                    out.push_str(" NOT NULL");
                }
            }
            out.push_str("\n);\n");
            for row in constraints.iter().filter(of_table) {
                let _ = writeln!(
                    out,
                    "ALTER TABLE __SCHEMA__.{table} ADD CONSTRAINT {} {};",
                    row.get::<_, &str>(1),
                    row.get::<_, &str>(2)
                );
            }
            for row in indexes.iter().filter(of_table) {
                let _ = writeln!(out, "{};", row.get::<_, &str>(1));
            }
        }
    }

    async fn sequences(&self, out: &mut String) {
        for row in self
            .rows(
                "SELECT c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, \
                        s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle \
                 FROM pg_sequence s \
                 JOIN pg_class c ON c.oid = s.seqrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 \
                 ORDER BY 1",
            )
            .await
        {
            let _ = writeln!(
                out,
                "\nCREATE SEQUENCE __SCHEMA__.{} AS {} START {} INCREMENT {} MINVALUE {} \
                 MAXVALUE {} CACHE {} {};",
                row.get::<_, &str>(0),
                row.get::<_, &str>(1),
                row.get::<_, i64>(2),
                row.get::<_, i64>(3),
                row.get::<_, i64>(4),
                row.get::<_, i64>(5),
                row.get::<_, i64>(6),
                if row.get::<_, bool>(7) {
                    "CYCLE"
                } else {
                    "NO CYCLE"
                },
            );
        }
    }

    /// What the store does not make today, by name, so that it shows when
    /// something does: other relations (views, …), types of their own and
    /// triggers.
    async fn others(&self, out: &mut String) {
        for row in self
            .rows(
                "SELECT 'relation', c.relname::text, c.relkind::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind NOT IN ('r', 'p', 'i', 'I', 'S') \
                 UNION ALL \
                 SELECT 'type', t.typname::text, t.typtype::text \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = $1 AND t.typrelid = 0 AND t.typcategory <> 'A' \
                 UNION ALL \
                 SELECT 'trigger', c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) \
                 FROM pg_trigger t \
                 JOIN pg_class c ON c.oid = t.tgrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND NOT t.tgisinternal \
                 ORDER BY 1, 2",
            )
            .await
        {
            let _ = writeln!(
                out,
                "\n-- The {} __SCHEMA__.{}: {}.",
                row.get::<_, &str>(0),
                row.get::<_, &str>(1),
                row.get::<_, &str>(2)
            );
        }
    }

    async fn functions(&self, out: &mut String) {
        for row in self
            .rows(
                "SELECT p.proname::text, p.prokind::text, \
                        pg_get_function_identity_arguments(p.oid), \
                        CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = $1 \
                 ORDER BY 1, 3",
            )
            .await
        {
            match row.get::<_, Option<&str>>(3) {
                Some(definition) => {
                    let _ = write!(out, "\n{};\n", definition.trim_end());
                }
                None => {
                    let _ = writeln!(
                        out,
                        "\n-- The routine __SCHEMA__.{}({}) of kind {:?}.",
                        row.get::<_, &str>(0),
                        row.get::<_, &str>(2),
                        row.get::<_, &str>(1)
                    );
                }
            }
        }
    }
}

/// The dump of a schema the store migrates from nothing.
async fn fresh_dump(client: &tokio_postgres::Client) -> String {
    let schema = random_schema();
    let _drop = DropSchema(schema.clone());
    connect(&schema, true).await;
    dump(client, &schema).await
}

/// What every migrated schema must be: the committed dump, or, when it is
/// being rewritten, the dump of a freshly migrated schema.
async fn expected(client: &tokio_postgres::Client) -> String {
    if overwrite() {
        fresh_dump(client).await
    } else {
        std::fs::read_to_string(committed_path()).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; write it with DCB_SCHEMA=overwrite cargo test -p \
                 dcb-tests --test it postgres_schema",
                committed_path().display()
            )
        })
    }
}

/// Fails, showing the lines that differ, when `actual` (the dump of the
/// schema `what` describes) is not `expected`.
fn assert_same_schema(expected: &str, actual: &str, what: &str) {
    if expected == actual {
        return;
    }
    let kept = std::env::temp_dir().join(format!("dcb-schema-{}.sql", Uuid::new_v4().simple()));
    let _ = std::fs::write(&kept, actual);
    panic!(
        "the catalog of {what} is not {}:\n{}\nIts whole dump is in {}. If the change is \
         meant (a new migration or a changed function), rewrite the committed dump with\n  \
         DCB_SCHEMA=overwrite cargo test -p dcb-tests --test it postgres_schema\nand review \
         its diff. (A server of another major version may print definitions otherwise.)",
        committed_path().display(),
        line_diff(expected, actual),
        kept.display()
    );
}

/// The lines only in `expected` (`-`) or only in `actual` (`+`), with
/// their line numbers, from a longest common subsequence of the lines;
/// at most 80 of them.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0_u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            out.push(format!("+{:>5} {}", j + 1, b[j]));
            j += 1;
        } else {
            out.push(format!("-{:>5} {}", i + 1, a[i]));
            i += 1;
        }
    }
    let shown = out.len().min(80);
    let mut text = out[..shown].join("\n");
    if out.len() > shown {
        let _ = write!(text, "\n… and {} more lines", out.len() - shown);
    }
    text
}

/// Makes `schema` as dcb-core did before the server functions moved out of
/// the migrations: its bookkeeping table, then the migrations up to
/// `version` as they were (the fixtures), each recorded.
async fn migrate_as_before(client: &tokio_postgres::Client, schema: &str, version: i32) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(old_migrations_dir())
        .expect("the old migrations")
        .map(|entry| entry.expect("a fixture").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "the fixtures hold migrations 1 to 8");
    let render = |sql: &str| {
        sql.replace("__SCHEMA_NAME__", schema)
            .replace("__SCHEMA__", &format!("\"{schema}\""))
    };
    let mut script = render(
        "CREATE SCHEMA IF NOT EXISTS __SCHEMA__;
CREATE TABLE IF NOT EXISTS __SCHEMA__.dcb_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
",
    );
    for file in &files[..usize::try_from(version).expect("a version")] {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("a name");
        let (number, name) = stem.split_once('_').expect("NNNN_name.sql");
        let number: i32 = number.parse().expect("a number");
        script.push_str(&render(&std::fs::read_to_string(file).expect("read")));
        let _ = writeln!(
            script,
            "\nINSERT INTO \"{schema}\".dcb_migrations (version, name) VALUES ({number}, '{name}');"
        );
    }
    client
        .batch_execute(&format!("BEGIN;\n{script}\nCOMMIT;"))
        .await
        .unwrap_or_else(|e| panic!("the migrations up to {version} as they were: {e:?}"));
}

/// What a store made by an earlier version holds: two events written as
/// its tables keep them (one with an id), and, from migration 3 on, a read
/// model saved at position 2.
async fn fill_as_before(client: &tokio_postgres::Client, schema: &str, version: i32) {
    client
        .batch_execute(&format!(
            "INSERT INTO \"{schema}\".events (position, event_type, data, tags, id) VALUES
                 (nextval('\"{schema}\".dcb_positions'), 'Opened', '\\x7b7d', '{{account:1}}', NULL),
                 (nextval('\"{schema}\".dcb_positions'), 'Opened', '\\x7b7d', '{{account:2}}',
                  '{ID}');
             INSERT INTO \"{schema}\".event_tags (tag, position, event_type)
                 SELECT unnest(e.tags), e.position, e.event_type FROM \"{schema}\".events e;"
        ))
        .await
        .expect("events as the old tables keep them");
    if version >= 3 {
        client
            .batch_execute(&format!(
                "INSERT INTO \"{schema}\".dcb_read_models (name, checkpoint, model) \
                 VALUES ('accounts', 2, '2')"
            ))
            .await
            .expect("a read model as the old table keeps it");
    }
}

/// The id of the second event of [`fill_as_before`].
const ID: &str = "5e1f1a52-3c1d-4c1e-9a51-2f0b1a7c9d01";

fn opened(account: u32) -> EventRecord {
    EventRecord::new(EventType::from_static("Opened"), "{}")
        .with_tags([Tag::new(format!("account:{account}")).expect("a valid tag")])
}

/// A store brought forward from [`fill_as_before`] keeps its events and
/// read model, and appends, reads and keeps read models as a new one.
async fn works_after_migrating(store: &PostgresStore, version: i32) {
    let all = store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read the events of the old version");
    assert_eq!(all.events.len(), 2, "from version {version}");
    let id: Uuid = ID.parse().expect("a uuid");
    assert_eq!(all.events[1].event.id(), Some(id));
    for event in &all.events {
        assert_eq!(
            (event.recorded_at, event.metadata()),
            (None, &Metadata::new()),
            "an event written at version {version} has no recorded time and no metadata"
        );
    }
    let account_2 = Query::from(QueryItem::new().tags([Tag::new("account:2").expect("valid")]));
    let refused = store
        .append(
            vec![opened(2)],
            Some(AppendCondition::new(account_2.clone())),
        )
        .await
        .expect_err("the old event of account 2 fails the condition");
    assert!(
        matches!(refused, AppendError::ConditionFailed { conflicting } if conflicting.get() == 2),
        "{refused:?}"
    );
    let again = store
        .append(vec![opened(2).with_id(id)], None)
        .await
        .expect("the same event with the same id: already stored");
    assert_eq!(again.get(), 2, "an idempotent repeat of the old event");
    let third = store
        .append(
            vec![opened(2)],
            Some(AppendCondition::new(account_2).after(all.head)),
        )
        .await
        .expect("append after the old events");
    assert!(third.get() > 2);
    let last = store
        .read_to_end(&Query::all(), ReadOptions::new().backwards().limit(1))
        .await
        .expect("read the new event");
    assert!(
        last.events[0].recorded_at.is_some(),
        "an event appended after migrating has a recorded time"
    );
    let storage = PostgresStorage::new(store, "accounts").expect("a valid name");
    if version >= 3 {
        let saved = Storage::<u64>::load_with_fingerprint(&storage)
            .await
            .expect("load the old read model")
            .expect("it was saved");
        assert_eq!(saved.saved.model, 2);
        assert_eq!(saved.saved.checkpoint.map(dcb_core::Position::get), Some(2));
        assert_eq!(saved.fingerprint, None, "saved before fingerprints");
    }
    Storage::<u64>::save(&storage, &3, third)
        .await
        .expect("save a read model");
}

#[test]
fn a_freshly_migrated_schema_is_the_committed_schema() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let actual = fresh_dump(&client).await;
        if overwrite() {
            std::fs::write(committed_path(), &actual).expect("rewrite the committed dump");
            return;
        }
        assert_same_schema(
            &expected(&client).await,
            &actual,
            "a freshly migrated schema",
        );
    });
}

/// The migrations of today's version, applied to schemas made by the
/// versions before the server functions moved out of the migrations, at
/// each of their migrations, must leave exactly what they leave in a new
/// schema: old function bodies replaced, obsolete ones dropped, data kept.
#[test]
fn a_schema_made_by_an_earlier_version_migrates_forward_to_the_committed_schema() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let expected = expected(&client).await;
        for version in 1..=8 {
            let schema = random_schema();
            let _drop = DropSchema(schema.clone());
            migrate_as_before(&client, &schema, version).await;
            fill_as_before(&client, &schema, version).await;
            let store = connect(&schema, true).await;
            assert_same_schema(
                &expected,
                &dump(&client, &schema).await,
                &format!("a schema made at migration {version} by an earlier version, migrated"),
            );
            works_after_migrating(&store, version).await;
        }
    });
}

/// An operator's path: the script of `dcb migrations --after N`, applied
/// to a schema an earlier version made at migration N (or, for 0, to no
/// schema), makes the same schema, which a store that does not migrate
/// accepts.
#[test]
fn the_migration_script_brings_any_earlier_schema_to_the_committed_schema() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let expected = expected(&client).await;
        for version in 0..=8 {
            let schema = random_schema();
            let _drop = DropSchema(schema.clone());
            if version > 0 {
                migrate_as_before(&client, &schema, version).await;
                fill_as_before(&client, &schema, version).await;
            }
            let script = migration_script(&schema, version).expect("the script");
            client
                .batch_execute(&format!("BEGIN;\n{script}\nCOMMIT;"))
                .await
                .unwrap_or_else(|e| panic!("the script after {version}: {e:?}"));
            assert_same_schema(
                &expected,
                &dump(&client, &schema).await,
                &format!("a schema at migration {version} after the migration script"),
            );
            let store = connect(&schema, false).await;
            if version > 0 {
                works_after_migrating(&store, version).await;
            } else {
                store.append(vec![opened(1)], None).await.expect("append");
            }
        }
    });
}

/// A schema at the newest migration whose functions are not this
/// version's — one changed, one dropped, as by a hand edit or by another
/// version of the crate — gets them back on the next migrate: the
/// functions are applied on every migrate that finds them changed, not
/// only with a numbered migration.
#[test]
fn a_migrate_at_the_newest_migration_applies_changed_functions_again() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let expected = expected(&client).await;
        let schema = random_schema();
        let _drop = DropSchema(schema.clone());
        let store = connect(&schema, true).await;
        store.append(vec![opened(1)], None).await.expect("append");
        client
            .batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION \"{schema}\".dcb_head(p_barrier bigint) \
                 RETURNS bigint LANGUAGE sql AS $$ SELECT 42::bigint $$;
                 DROP FUNCTION \"{schema}\".dcb_decision_read(bigint, text[], integer[], \
                 integer[], text[], integer[], integer[], bigint, boolean);"
            ))
            .await
            .expect("change the functions behind the store's back");
        assert_eq!(
            connect(&schema, false)
                .await
                .head()
                .await
                .expect("head")
                .map(dcb_core::Position::get),
            Some(42),
            "a store that does not migrate runs the schema's functions as they are"
        );
        let store = connect(&schema, true).await;
        assert_same_schema(
            &expected,
            &dump(&client, &schema).await,
            "a schema whose functions were changed, migrated again",
        );
        assert_eq!(
            store
                .head()
                .await
                .expect("head")
                .map(dcb_core::Position::get),
            Some(1)
        );
    });
}

/// Stores that connect at once to a schema an earlier version made, or to
/// none, migrate it once: the migrate's advisory lock makes the others
/// find it done, so none of them fails on a migration or a function
/// another is applying.
#[test]
fn stores_connecting_at_once_migrate_a_schema_once() {
    runtime(4).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let expected = expected(&client).await;
        for version in [0, 1, 8] {
            let schema = random_schema();
            let _drop = DropSchema(schema.clone());
            if version > 0 {
                migrate_as_before(&client, &schema, version).await;
            }
            let connects: Vec<_> = (0..6)
                .map(|_| {
                    let schema = schema.clone();
                    tokio::spawn(async move {
                        PostgresStore::connect_with(
                            PostgresOptions::new(url()).schema(schema).pool_size(1),
                        )
                        .await
                    })
                })
                .collect();
            for connect in connects {
                connect
                    .await
                    .expect("the connecting task")
                    .unwrap_or_else(|e| panic!("a connect beside others, from {version}: {e}"));
            }
            assert_same_schema(
                &expected,
                &dump(&client, &schema).await,
                &format!("a schema at {version} migrated by six stores at once"),
            );
        }
    });
}

/// The migrations and the server functions as dcb-core made them at
/// migration 9, the last version before events had a recorded time and
/// metadata.
fn v9_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/postgres-v9")
}

/// The `.sql` files of `dir`, in order of name.
fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a fixture").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

/// Makes `schema` as dcb-core did at migration 9: its bookkeeping table,
/// migrations 1 to 9, each recorded, then every server function, each
/// marked as that version marked it (so that a migrate leaves the ones
/// that did not change as they are, as it does for a user's schema).
async fn migrate_as_v9(client: &tokio_postgres::Client, schema: &str) {
    let migrations = sql_files(&v9_dir().join("migrations"));
    let functions = sql_files(&v9_dir().join("functions"));
    assert_eq!(
        (migrations.len(), functions.len()),
        (9, 9),
        "the fixtures hold migrations 1 to 9 and nine functions"
    );
    let render = |sql: &str| {
        sql.replace("__SCHEMA_NAME__", schema)
            .replace("__SCHEMA__", &format!("\"{schema}\""))
    };
    let mut script = render(
        "CREATE SCHEMA IF NOT EXISTS __SCHEMA__;
CREATE TABLE IF NOT EXISTS __SCHEMA__.dcb_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
",
    );
    for file in &migrations {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("a name");
        let (number, name) = stem.split_once('_').expect("NNNN_name.sql");
        let number: i32 = number.parse().expect("a number");
        script.push_str(&render(&std::fs::read_to_string(file).expect("read")));
        let _ = writeln!(
            script,
            "\nINSERT INTO \"{schema}\".dcb_migrations (version, name) VALUES ({number}, '{name}');"
        );
    }
    for file in &functions {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("a name");
        let sql = std::fs::read_to_string(file).expect("read");
        // The mark of migrate.rs: the file and the FNV-1a digest of its text.
        let digest = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        script.push_str(&render(&sql));
        let _ = writeln!(
            script,
            "\nCOMMENT ON FUNCTION \"{schema}\".{name} IS 'dcb-core sql/functions/{name}.sql {digest:016x}';"
        );
    }
    client
        .batch_execute(&format!("BEGIN;\n{script}\nCOMMIT;"))
        .await
        .unwrap_or_else(|e| panic!("the schema as migration 9 made it: {e:?}"));
}

/// An append as a client of migration 9 called `dcb_append`: fourteen
/// arguments (here one event of type `Opened` tagged `account:N` for each
/// of `accounts`, with the ids `ids` if any, one per event, no condition,
/// and lock keys of the test's own). Returns the outcome and the last
/// position.
fn v9_append_sql(schema: &str, accounts: &[u32], ids: &[&str]) -> String {
    let n = accounts.len();
    let types = vec!["'Opened'"; n].join(", ");
    let data = vec!["'\\x7b7d'::bytea"; n].join(", ");
    let tags: Vec<String> = accounts.iter().map(|a| format!("'account:{a}'")).collect();
    let ids: Vec<String> = (0..n)
        .map(|i| match ids.get(i) {
            Some(id) => format!("'{id}'::uuid"),
            None => "NULL::uuid".to_owned(),
        })
        .collect();
    format!(
        "SELECT outcome, pos FROM \"{schema}\".dcb_append(ARRAY[{types}], ARRAY[{data}], \
         ARRAY[{}], ARRAY[{}], ARRAY[{}], ARRAY[7, 8]::bigint[], ARRAY[false, false], 9::bigint, \
         false, '{{}}'::text[], '{{}}'::integer[], '{{}}'::text[], '{{}}'::integer[], NULL::bigint)",
        tags.join(", "),
        vec!["1"; n].join(", "),
        ids.join(", ")
    )
}

/// Single-event appends without conditions, as a client of migration 9
/// sent them together to `dcb_append_batch`: fourteen arguments. Returns
/// the outcomes and the positions.
fn v9_append_batch_sql(schema: &str, accounts: &[u32]) -> String {
    let n = accounts.len();
    let tags: Vec<String> = accounts.iter().map(|a| format!("'account:{a}'")).collect();
    let zeros = vec!["0"; n].join(", ");
    format!(
        "SELECT outcomes, positions FROM \"{schema}\".dcb_append_batch(ARRAY[{}], ARRAY[{}], \
         ARRAY[{}], ARRAY[{}], ARRAY[7]::bigint[], ARRAY[false], ARRAY[{}], '{{}}'::integer[], \
         '{{}}'::integer[], ARRAY[{zeros}], '{{}}'::text[], ARRAY[{zeros}], '{{}}'::text[], \
         ARRAY[{zeros}]::bigint[])",
        vec!["'Opened'"; n].join(", "),
        vec!["'\\x7b7d'::bytea"; n].join(", "),
        tags.join(", "),
        vec!["1"; n].join(", "),
        vec!["-1"; n].join(", "),
    )
}

/// Runs an append of a client of migration 9 and returns its last
/// position, which must be `expected`.
async fn v9_append(client: &tokio_postgres::Client, sql: &str, expected: i64) {
    let row = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{e:?}: {sql}"));
    // dcb_append returns one outcome, dcb_append_batch an array.
    let last = if let Ok(outcome) = row.try_get::<_, &str>(0) {
        assert_eq!(outcome, "ok", "{sql}");
        row.get::<_, i64>(1)
    } else {
        let outcomes: Vec<&str> = row.get(0);
        assert!(outcomes.iter().all(|o| *o == "ok"), "{outcomes:?}: {sql}");
        let positions: Vec<i64> = row.get(1);
        positions.last().copied().expect("a position")
    };
    assert_eq!(last, expected, "{sql}");
}

/// What a schema of migration 9 holds once its clients have written to it
/// with its own functions: a single-event append (position 1), an append
/// of two events with the ids [`ID`] and [`ID_2`] (2 and 3), and two
/// appends sent together (4 and 5).
async fn fill_as_v9(client: &tokio_postgres::Client, schema: &str) {
    v9_append(client, &v9_append_sql(schema, &[1], &[]), 1).await;
    v9_append(client, &v9_append_sql(schema, &[2, 2], &[ID, ID_2]), 3).await;
    v9_append(client, &v9_append_batch_sql(schema, &[3, 4]), 5).await;
}

/// The id of the second event of the two-event append of [`fill_as_v9`].
const ID_2: &str = "5e1f1a52-3c1d-4c1e-9a51-2f0b1a7c9d02";

/// Checks that `events` were recorded at times that never decrease along
/// positions, those without a time (written before migration 10) first.
fn assert_none_first_then_non_decreasing(events: &[SequencedEvent], what: &str) {
    for pair in events.windows(2) {
        assert!(
            pair[0].recorded_at <= pair[1].recorded_at,
            "{what}: event {} recorded at {:?}, event {} before it at {:?}",
            pair[1].position,
            pair[1].recorded_at,
            pair[0].position,
            pair[0].recorded_at
        );
    }
}

/// Reads the events [`fill_as_v9`] wrote, from a store migrated `how`:
/// as they were, with no recorded time and no metadata, by every kind of
/// read.
async fn v9_events_read_as_they_were(store: &PostgresStore, how: &str) -> dcb_core::ReadResult {
    let old = store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read the old events");
    let positions: Vec<u64> = old.events.iter().map(|e| e.position.get()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5], "{how}");
    for event in &old.events {
        assert_eq!(
            (
                event.recorded_at,
                event.metadata(),
                event.event_type().as_str()
            ),
            (None, &Metadata::new(), "Opened"),
            "{how}: event {} of migration 9",
            event.position
        );
    }
    let ids = [ID, ID_2].map(|id| id.parse::<Uuid>().ok());
    assert_eq!([old.events[1].id(), old.events[2].id()], ids, "{how}");
    // A decision's read and a read with a limit return them alike.
    for options in [ReadOptions::new(), ReadOptions::new().limit(5)] {
        let read = store
            .read_to_end(&account(2), options)
            .await
            .expect("read account 2");
        assert_eq!(read.events, old.events[1..3], "{how}: {options:?}");
    }
    old
}

/// An exact repeat of the append of [`fill_as_v9`] with ids, whatever its
/// metadata, returns that append's last position.
async fn a_repeat_of_a_v9_append_returns_its_position(
    store: &PostgresStore,
    head: Option<dcb_core::Position>,
    how: &str,
) {
    let [id, id_2] = [ID, ID_2].map(|id| id.parse::<Uuid>().expect("a uuid"));
    let repeat = store
        .append(
            vec![
                opened(2).with_id(id).with_metadata([("retry", "yes")]),
                opened(2).with_id(id_2),
            ],
            Some(AppendCondition::new(account(2)).after(head)),
        )
        .await
        .expect("a repeat");
    assert_eq!(
        repeat.get(),
        3,
        "{how}: the repeat, metadata aside, returns the old position"
    );
}

/// The query of the events tagged `account:N`.
fn account(n: u32) -> Query {
    Query::from(QueryItem::new().tags([Tag::new(format!("account:{n}")).expect("a valid tag")]))
}

/// A schema that the version before migration 10 made, with events its
/// clients wrote through its functions, migrated forward — by a connect,
/// or by the migration script after 9 and a store that does not migrate:
/// the committed schema; the old events read back as they were, with no
/// recorded time and no metadata, by every kind of read; new appends get a
/// time and keep their metadata; a client of the old version still
/// connected appends through its old calls, and its events get times too;
/// and all of them read in position order with the times never
/// decreasing, the old ones first.
#[test]
fn a_schema_of_migration_9_with_events_migrates_forward_keeping_its_events() {
    runtime(2).block_on(async {
        let Some(client) = raw_client().await else {
            return;
        };
        let expected = expected(&client).await;
        for by_script in [false, true] {
            let how = if by_script {
                "by the migration script"
            } else {
                "by a connect"
            };
            let schema = random_schema();
            let _drop = DropSchema(schema.clone());
            migrate_as_v9(&client, &schema).await;
            fill_as_v9(&client, &schema).await;
            let since = Timestamp::now();
            if by_script {
                let script = migration_script(&schema, 9).expect("the script");
                client
                    .batch_execute(&format!("BEGIN;\n{script}\nCOMMIT;"))
                    .await
                    .unwrap_or_else(|e| panic!("the script after 9: {e:?}"));
            }
            let store = connect(&schema, !by_script).await;
            assert_same_schema(
                &expected,
                &dump(&client, &schema).await,
                &format!("a schema of migration 9 with events, migrated {how}"),
            );
            let old = v9_events_read_as_they_were(&store, how).await;

            a_repeat_of_a_v9_append_returns_its_position(&store, old.head, how).await;

            // New appends: a time, and their metadata.
            let traced = Metadata::new().with(Metadata::CORRELATION, "after-10");
            let six = store
                .append(vec![opened(6).with_metadata(traced.clone())], None)
                .await
                .expect("a new append");
            let pair = store
                .append(
                    vec![opened(7), opened(7).with_metadata(traced.clone())],
                    None,
                )
                .await
                .expect("a new append of two");
            // A client of migration 9, still connected, appends as it did.
            let next = i64::try_from(pair.get()).expect("a small position") + 1;
            v9_append(&client, &v9_append_sql(&schema, &[8], &[]), next).await;
            v9_append(&client, &v9_append_batch_sql(&schema, &[9, 10]), next + 2).await;
            let until = Timestamp::now();

            let all = store
                .read_to_end(&Query::all(), ReadOptions::new())
                .await
                .expect("read everything")
                .events;
            assert_eq!(all[..5], old.events[..], "{how}: the old events unchanged");
            assert_none_first_then_non_decreasing(&all, how);
            let slack = std::time::Duration::from_hours(1);
            for event in &all[5..] {
                assert!(
                    event
                        .recorded_at
                        .is_some_and(|at| at >= since.saturating_sub(slack)
                            && at <= until.saturating_add(slack)),
                    "{how}: event {} recorded at {:?}, not from {since} to {until}",
                    event.position,
                    event.recorded_at
                );
            }
            let metadata: Vec<(u64, &Metadata)> = all[5..]
                .iter()
                .map(|e| (e.position.get(), e.metadata()))
                .collect();
            let none = Metadata::new();
            assert_eq!(
                metadata,
                [
                    (six.get(), &traced),
                    (pair.get() - 1, &none),
                    (pair.get(), &traced),
                    (pair.get() + 1, &none),
                    (pair.get() + 2, &none),
                    (pair.get() + 3, &none),
                ],
                "{how}: the new events' metadata"
            );
            assert_eq!(
                all[6].recorded_at, all[7].recorded_at,
                "{how}: the events of one append share one time"
            );
        }
    });
}
