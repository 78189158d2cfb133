//! [`ConnectError`]: why a store could not connect; [`PostgresError`]: a
//! failure of PostgreSQL told with the server's reason.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use tokio_postgres::error::DbError;

use super::identifier::role_problem;

use crate::model::error::BackendError;

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
    #[error(
        "invalid role name {role:?}: {}",
        role_problem(role).unwrap_or_default()
    )]
    InvalidRole {
        /// The name given.
        role: String,
    },
    /// The URL could not be parsed.
    #[error("invalid PostgreSQL URL: {}", describe(.0))]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The URL's TLS settings (`sslmode`, `sslrootcert`, `sslcert`, …), or
    /// the files they name, are not usable.
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// The sessions of the application's pool do not run at READ COMMITTED
    /// isolation by default, which the store's server functions need.
    #[error(
        "the pool's sessions run at {isolation} isolation by default, and the store needs \
         read committed (each statement of its functions takes a new snapshot): give the \
         pool's connections the option -c default_transaction_isolation=read\\ committed \
         (tokio_postgres::Config::options), or build the store with \
         PostgresStore::from_config, whose sessions set it"
    )]
    Isolation {
        /// The sessions' `default_transaction_isolation`.
        isolation: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] BackendError),
    /// A migration failed; the transaction was rolled back.
    #[error(
        "migrating the schema failed at version {version}: {}{}",
        describe(.source),
        migration_hint(.source)
    )]
    Migration {
        /// The migration being applied (0: the bookkeeping around them).
        version: i32,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Applying a server function failed (after the migrations, in the same
    /// transaction, which was rolled back).
    #[error(
        "migrating the schema failed at the server function {name}: {}{}",
        describe(.source),
        migration_hint(.source)
    )]
    Function {
        /// The function being applied.
        name: &'static str,
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
        "the role may not use the store in schema {schema}: {}; a role that does not \
         migrate needs the grants of dcb_core::postgres::grant_script, which `dcb grants \
         --role NAME --schema {schema}` prints",
        describe(.source)
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

/// A failure of PostgreSQL or of the connection to it, told in full: what
/// the server said (its message, SQLSTATE, detail and hint), or what the
/// network did. tokio-postgres shows a server's error as just "db error"
/// and a lost connection as "error communicating with the server", keeping
/// the reason in the error's source, which a message that shows the error
/// drops; so every error the store makes of a PostgreSQL failure holds one
/// of these (or its text, [`describe`]).
///
/// Its text includes its causes', so it has no source of its own (a report
/// that follows sources would repeat them); the error it tells of is shown
/// by `Debug`, with every field the server sent.
#[derive(Clone)]
pub(super) struct PostgresError {
    text: String,
    error: Arc<dyn Error + Send + Sync>,
}

impl PostgresError {
    /// Tells of `error`, a tokio-postgres or connection pool error.
    pub(super) fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> PostgresError {
        let error: Arc<dyn Error + Send + Sync> = Arc::from(error.into());
        PostgresError {
            text: describe(&*error),
            error,
        }
    }
}

impl From<tokio_postgres::Error> for PostgresError {
    fn from(error: tokio_postgres::Error) -> PostgresError {
        PostgresError::new(error)
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl Error for PostgresError {}

/// A store failure described by `message`, caused by the PostgreSQL
/// failure `error`, whose reason the failure's message includes.
pub(super) fn backend_error(
    message: impl Into<String>,
    error: impl Into<PostgresError>,
) -> BackendError {
    BackendError::with_source(message, error.into())
}

/// The error's message followed by those of its causes that it does not
/// already include, a server's error told by [`server_said`] instead of
/// "db error".
pub(super) fn describe(error: &(dyn Error + 'static)) -> String {
    if let Some(deadpool_postgres::PoolError::Backend(error)) = error.downcast_ref() {
        // "Error occurred while creating a new object" says nothing the
        // reason does not.
        return describe(error);
    }
    if let Some(described) = error.downcast_ref::<PostgresError>() {
        return described.text.clone();
    }
    let server = error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::as_db_error)
        .or_else(|| error.downcast_ref::<DbError>());
    if let Some(server) = server {
        return server_said(server);
    }
    let mut text = error.to_string();
    if let Some(cause) = error.source() {
        let cause = describe(cause);
        if !text.contains(&cause) {
            let _ = write!(text, ": {cause}");
        }
    }
    text
}

/// What the server said, on one line when it did: "relation \"x\" does
/// not exist (SQLSTATE 42P01)", then its detail and hint, if any.
fn server_said(error: &DbError) -> String {
    let mut text = format!("{} (SQLSTATE {})", error.message(), error.code().code());
    if let Some(detail) = error.detail() {
        let _ = write!(text, "; detail: {detail}");
    }
    if let Some(hint) = error.hint() {
        let _ = write!(text, "; hint: {hint}");
    }
    text
}
