//! [`ConnectError`]: why a store could not connect.

use super::grants::role_problem;
use crate::error::BackendError;

/// Why a [`PostgresStore`](super::PostgresStore) could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "invalid schema name {schema:?}: use 1 to 63 characters of a-z, 0-9 and _, \
         not starting with a digit"
    )]
    InvalidSchema {
        /// The name given.
        schema: String,
    },
    /// The role name given to [`grant_script`](super::grant_script) is
    /// empty, longer than PostgreSQL keeps (63 bytes), holds a control
    /// character (such as a newline or a bidirectional override), or is
    /// `public` (every role).
    #[error("invalid role name {role:?}: {}", role_problem(role).unwrap_or_default())]
    InvalidRole {
        /// The name given.
        role: String,
    },
    /// The URL could not be parsed.
    #[error("invalid PostgreSQL URL: {}", url_problem(.0))]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The URL's TLS settings (`sslmode`, `sslrootcert`, `sslcert`, …), or
    /// the files they name, are not usable.
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] BackendError),
    /// A migration failed; the transaction was rolled back.
    #[error(
        "migrating the schema failed at version {version}: {}{}",
        server_problem(.source),
        migration_hint(.source)
    )]
    Migration {
        /// The migration being applied (0: the bookkeeping around them).
        version: i32,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The schema was migrated by a newer version of this crate.
    #[error(
        "schema {schema} is at migration {version}, newer than the {known} this version knows; \
         upgrade dcb"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// Its migration version.
        version: i32,
        /// The newest migration this crate knows.
        known: i32,
    },
    /// The store was told not to migrate, and the schema lacks migrations
    /// this version of the crate needs.
    #[error(
        "schema {schema} is at migration {version}, older than the {needed} this version of dcb \
         needs; apply the migrations (connect once with PostgresOptions::migrate(true))"
    )]
    SchemaTooOld {
        /// The schema.
        schema: String,
        /// Its migration version.
        version: i32,
        /// The migration this crate's calls need.
        needed: i32,
    },
    /// The store's role may not read the schema's store: it lacks the
    /// grants of [`grant_script`](super::grant_script).
    #[error(
        "the role may not use the store in schema {schema} ({}); a role that does not \
         migrate needs the grants of dcb_core::postgres::grant_script, which `dcb grants \
         --role NAME --schema {schema}` prints",
        server_problem(.source)
    )]
    NoAccess {
        /// The schema.
        schema: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The store was told not to migrate, and the schema holds no store
    /// (it has no migrations table, or does not exist).
    #[error(
        "schema {schema} holds no dcb store; check the schema name, or connect with \
         migrations on (PostgresOptions::migrate(true), the default) to create one there"
    )]
    NoStore {
        /// The schema.
        schema: String,
    },
}

/// What the server said: tokio-postgres shows its errors as "db error",
/// with the server's message only in the source.
fn server_problem(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}

/// What to do when the role may not migrate.
fn migration_hint(error: &tokio_postgres::Error) -> &'static str {
    if error.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        "; this role may not change the schema: have it migrated with the SQL of \
         `dcb migrations --schema NAME` (from the schema's version) or by a role that may, \
         and connect with PostgresOptions::migrate(false)"
    } else {
        ""
    }
}

/// What is wrong with a URL: tokio-postgres says "invalid connection
/// string" and gives the reason (such as an unknown option) as the cause.
fn url_problem(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}
