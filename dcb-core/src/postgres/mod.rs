//! [`PostgresStore`]: the store on a PostgreSQL server (feature `postgres`).
//!
//! The store keeps its tables and functions in one schema (default `dcb`),
//! created and migrated on connect from the versioned `.sql` files in
//! `migrations/`, unless [`PostgresOptions::migrate`] is off. Every append
//! and every read is **one round trip**, with all values as bound
//! parameters: an append calls the server-side function `dcb_append`, a
//! decision's read `dcb_decision_read_by_first_tags`, other reads
//! `dcb_read`.
//!
//! Under load, appends share transactions: the single-event appends made
//! while the store's batch transactions are all in flight wait and go
//! together in the next, as one call of `dcb_append_batch` and one commit,
//! each under its own condition and with its own outcome
//! ([`PostgresOptions::append_batches`]).
//!
//! - Positions come from a sequence: they strictly increase and the events
//!   of one append are consecutive, but an append that fails after taking
//!   its positions (a failed condition, a duplicate id, a lost connection)
//!   leaves a gap. Making them gap-free would mean serialising every append
//!   on one counter row until commit, which is exactly the table-wide
//!   bottleneck this design avoids.
//! - No table lock: appends take advisory locks on hashed keys of their
//!   condition's tags and types and of their events' tags and types, so
//!   appends on disjoint boundaries run in parallel.
//! - No out-of-order commit is ever skipped: a read waits for the appends in
//!   flight and holds new ones back until it has taken its snapshot. Reads
//!   therefore wait for in-flight appends, and appends wait for a read's
//!   snapshot (for reads with a limit, or with an item without tags, also
//!   for the planning of its query), never for its rows.
//!
//! `docs/design.md` ("The PostgreSQL store") gives the argument in full.
//!
//! TLS is set in the URL as for libpq (`sslmode=require`, `verify-ca`,
//! `verify-full`, `sslrootcert=PATH`, `sslcert=PATH`, `sslkey=PATH`); see
//! [`PostgresOptions::tls_root_certificates`].
//!
//! ```no_run
//! use dcb_core::postgres::PostgresStore;
//! use dcb_core::{Event, EventStore, EventType, Query, ReadOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! store.append(vec![Event::new(EventType::from_static("Opened"), "{}")], None).await?;
//! let all = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
//! assert!(all.head.is_some());
//! # Ok(())
//! # }
//! ```

mod batch;
mod locks;
mod migrate;
mod notify;
mod read_model;
mod stream;
mod tls;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql, Type};

#[doc(hidden)]
pub use self::batch::BatchCounts;
use self::batch::Batcher;
use self::locks::LockKeys;
use self::notify::Notifier;
pub use self::read_model::{MAX_READ_MODEL_NAME, PostgresStorage};
pub use self::stream::PostgresEvents;
use self::tls::Tls;
use crate::error::{AppendError, BackendError, ReadError};
use crate::read::ReadOptions;
use crate::{AppendCondition, Event, EventStore, Limits, Position, Query};

/// How to connect a [`PostgresStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The connection URL, such as `postgres://user@host:5432/database`.
    pub url: String,
    /// The schema holding the store's tables; it must match
    /// `^[a-z_][a-z0-9_]{0,62}$`. Defaults to `dcb`.
    pub schema: String,
    /// Whether to create the schema and apply missing migrations on
    /// connect (default). Operators who manage the schema themselves turn it
    /// off and apply the SQL of [`migration_script`] with their own tools.
    pub migrate: bool,
    /// The most connections the pool opens. Defaults to 16.
    pub pool_size: usize,
    /// The most transactions of batched appends in flight at once; see
    /// [`PostgresOptions::append_batches`]. Defaults to 2.
    pub append_batches: usize,
    /// The input limits appends are checked against.
    pub limits: Limits,
    /// How often a waiting subscription asks for the head when no
    /// notification woke it: the fallback for lost notifications and for
    /// the time the notification connection is down. Defaults to 500 ms.
    pub poll_interval: Duration,
    /// Certificate authorities (PEM) trusted besides those of `sslrootcert`
    /// or the platform, when the URL's `sslmode` verifies the server's
    /// certificate; see [`PostgresOptions::tls_root_certificates`].
    pub tls_root_certificates: Vec<u8>,
}

impl PostgresOptions {
    /// The defaults for the server at `url`, a libpq-style URL such as
    /// `postgres://user@host:5432/db`. The store's sessions run with
    /// `jit = off` in addition to any `options` the URL sets.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            schema: "dcb".to_owned(),
            migrate: true,
            pool_size: 16,
            append_batches: 2,
            limits: Limits::default(),
            poll_interval: Duration::from_millis(500),
            tls_root_certificates: Vec::new(),
        }
    }

    /// Sets the schema.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> PostgresOptions {
        self.schema = schema.into();
        self
    }

    /// Sets whether to migrate on connect.
    #[must_use]
    pub fn migrate(mut self, migrate: bool) -> PostgresOptions {
        self.migrate = migrate;
        self
    }

    /// Sets the pool's size (at least 1).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> PostgresOptions {
        self.pool_size = size.max(1);
        self
    }

    /// Sets how many transactions of batched appends may be in flight at
    /// once (at least 1).
    ///
    /// Appends of one event without an id are sent at once while fewer
    /// than `batches` such transactions are running; made while all are
    /// running, they wait and go together, in the next transaction that
    /// finishes, as one call and one commit. Each keeps its own condition
    /// and outcome, as if sent alone in the order of the batch. A small
    /// number batches more under load (fewer commits, more throughput); a
    /// number as large as the callers that append at once turns batching
    /// off. Appends of several events, or with ids, are always sent alone.
    #[must_use]
    pub fn append_batches(mut self, batches: usize) -> PostgresOptions {
        self.append_batches = batches.max(1);
        self
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> PostgresOptions {
        self.limits = limits;
        self
    }

    /// Sets how often waiting subscriptions poll when not notified.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> PostgresOptions {
        self.poll_interval = interval;
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more PEM
    /// certificates), besides those of the URL's `sslrootcert` or the
    /// platform's, when the URL's `sslmode` verifies the server.
    ///
    /// TLS is set in the URL, as for libpq: `sslmode=require` encrypts
    /// (and verifies the server only if `sslrootcert` is given),
    /// `verify-ca` checks that a trusted authority signed the server's
    /// certificate, `verify-full` also that it was issued for the host
    /// connected to; `disable` and `prefer` (the default) connect in the
    /// clear. `sslcert` and `sslkey` name the PEM files of a client
    /// certificate and its (unencrypted) key, for servers that ask for one.
    ///
    /// ```no_run
    /// use dcb_core::postgres::{PostgresOptions, PostgresStore};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let authority = std::fs::read("/etc/ssl/private-ca.pem")?;
    /// let options = PostgresOptions::new("postgres://app@db.internal/events?sslmode=verify-full")
    ///     .tls_root_certificates(authority);
    /// let store = PostgresStore::connect_with(options).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> PostgresOptions {
        self.tls_root_certificates = pem.into();
        self
    }
}

/// The SQL that brings the store's schema `schema` from migration `after`
/// (0 for a schema that holds no store yet) to the newest migration this
/// version of the crate knows, recording each in the schema's
/// `dcb_migrations` table as [`PostgresStore::connect`] does when it
/// migrates: for operators who apply migrations with tools of their own and
/// connect with [`PostgresOptions::migrate`] off. The inspector prints it
/// too (`dcb migrations --schema NAME`).
///
/// Errors: [`ConnectError::InvalidSchema`] for a bad schema name,
/// [`ConnectError::SchemaTooNew`] when `after` is newer than this version
/// knows.
///
/// ```
/// let sql = dcb_core::postgres::migration_script("events", 0)?;
/// assert!(sql.starts_with("-- dcb PostgreSQL store: migrations 1 to "));
/// assert!(sql.contains("CREATE TABLE \"events\".events"));
/// # Ok::<(), dcb_core::postgres::ConnectError>(())
/// ```
pub fn migration_script(schema: &str, after: i32) -> Result<String, ConnectError> {
    migrate::check_schema(schema)?;
    migrate::script(schema, after)
}

/// Why a [`PostgresStore`] could not connect.
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
    /// The URL could not be parsed.
    #[error("invalid PostgreSQL URL: {}", url_problem(.0))]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The URL's TLS settings (`sslmode`, `sslrootcert`), or the
    /// certificates they name, are not usable.
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] BackendError),
    /// A migration failed; the transaction was rolled back.
    #[error("migrating the schema failed at version {version}: {source}")]
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

/// What is wrong with a URL: tokio-postgres says "invalid connection
/// string" and gives the reason (such as an unknown option) as the cause.
fn url_problem(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// An event store in a PostgreSQL schema; see the [module](self).
///
/// Clones share one connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: String,
    limits: Limits,
    keys: LockKeys,
    append_sql: String,
    append_batch_sql: String,
    /// Queues single-event appends into batches.
    batcher: Batcher,
    read_sql: String,
    decision_read_sql: String,
    head_sql: String,
    /// Where the notification connection connects, and how.
    config: tokio_postgres::Config,
    tls: Tls,
    poll_interval: Duration,
    /// Opened on the first append or wait.
    notifier: OnceLock<Notifier>,
}

impl PostgresStore {
    /// Connects to the server at `url` with the default options.
    pub async fn connect(url: &str) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects with `options`, migrating the schema unless told not to.
    pub async fn connect_with(options: PostgresOptions) -> Result<PostgresStore, ConnectError> {
        migrate::check_schema(&options.schema)?;
        let (url, url_tls) = tls::split_url(&options.url).map_err(ConnectError::Tls)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(ConnectError::InvalidUrl)?;
        session_settings(&mut config);
        let tls = Tls::new(
            config.get_ssl_mode(),
            &url_tls,
            &options.tls_root_certificates,
        )
        .map_err(ConnectError::Tls)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Tls::Off => Manager::from_config(config.clone(), NoTls, manager_config),
            Tls::On(connector) => {
                Manager::from_config(config.clone(), connector.clone(), manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            // The most recently used connection first: its backend has the
            // server functions compiled and their plans cached, and is warm
            // in the CPU caches; FIFO would rotate calls over every idle
            // connection.
            .queue_mode(QueueMode::Lifo)
            .build()
            .map_err(|e| {
                ConnectError::Connect(BackendError::with_source("cannot build the pool", e))
            })?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| ConnectError::Connect(no_connection(e)))?;
        if options.migrate {
            migrate::migrate(&mut client, &options.schema).await?;
        } else {
            migrate::check_migrated(&client, &options.schema).await?;
        }
        drop(client);
        let schema = options.schema;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                limits: options.limits,
                keys: LockKeys::new(&schema),
                append_sql: migrate::render(APPEND_SQL, &schema),
                append_batch_sql: migrate::render(APPEND_BATCH_SQL, &schema),
                batcher: Batcher::new(options.append_batches),
                read_sql: migrate::render(
                    "SELECT pos, event_type, data, tags, id FROM __SCHEMA__.dcb_read(\
                     $1, $2, $3, $4, $5, $6, $7, $8)",
                    &schema,
                ),
                decision_read_sql: migrate::render(DECISION_READ_SQL, &schema),
                head_sql: migrate::render(HEAD_SQL, &schema),
                config,
                tls,
                poll_interval: options.poll_interval,
                notifier: OnceLock::new(),
                schema,
            }),
        })
    }

    /// The schema holding the store.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The connection pool, for operators and tests.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    async fn do_append(
        &self,
        mut events: Vec<Event>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        self.inner.limits.check_append(&events)?;
        // One event without an id: batched with the appends made meanwhile.
        if events.len() == 1
            && events[0].id().is_none()
            && let Some(event) = events.pop()
        {
            return batch::append(&self.inner, event, condition).await;
        }
        let params = AppendParams::new(&self.inner.keys, &events, condition.as_ref());
        let client = self.inner.client().await.map_err(AppendError::Backend)?;
        let result = async {
            let statement = client.prepare_cached(&self.inner.append_sql).await?;
            client.query_one(&statement, &params.as_sql()).await
        }
        .await;
        match result {
            Ok(row) => {
                let outcome = append_outcome(&row);
                if outcome.is_ok() {
                    self.notifier().appended();
                }
                outcome
            }
            Err(e) => {
                discard(client);
                Err(append_failed(e))
            }
        }
    }

    /// The store's notification connection, started on first use.
    fn notifier(&self) -> &Notifier {
        self.inner.notifier()
    }

    /// How many times the store's notification connection has started
    /// listening (0 before its first use); for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn notification_sessions(&self) -> u64 {
        self.inner.notifier.get().map_or(0, Notifier::sessions)
    }

    /// What the store's append batching has done so far; for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn batch_counts(&self) -> BatchCounts {
        self.inner.batcher.counts()
    }

    async fn do_wait_for_append(&self, after: Option<Position>) -> Result<(), ReadError> {
        let wake_ups = self.notifier();
        loop {
            // Created before the head is read: a wake-up after the read
            // resolves it.
            let notified = wake_ups.notified();
            if self.do_head().await? > after {
                return Ok(());
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(self.inner.poll_interval) => {}
            }
        }
    }

    /// Runs an append inside the caller's open transaction (a
    /// `tokio_postgres::Transaction`, or a client that sent `BEGIN`), which
    /// then holds its locks until it commits or rolls back: for tests that
    /// need an append in flight. Not part of the API.
    #[doc(hidden)]
    pub async fn append_in_transaction(
        &self,
        transaction: &impl tokio_postgres::GenericClient,
        events: Vec<Event>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        self.inner.limits.check_append(&events)?;
        let params = AppendParams::new(&self.inner.keys, &events, condition.as_ref());
        match transaction
            .query_one(&self.inner.append_sql, &params.as_sql())
            .await
        {
            Ok(row) => append_outcome(&row),
            Err(e) => Err(append_failed(e)),
        }
    }

    async fn do_read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<PostgresEvents, ReadError> {
        options.check()?;
        let after = options.after.map(position_param);
        let client = self.inner.client().await.map_err(ReadError::Backend)?;
        let first_tags = if options.limit.is_none() {
            FirstTags::of(query)
        } else {
            None
        };
        let mut recheck = None;
        let result = if let Some(first_tags) = first_tags {
            // A decision's read: one call of `dcb_decision_read_by_first_tags`,
            // which takes the read barrier itself. It matches an item with
            // several tags by its first: those events are checked here.
            if !first_tags.exact {
                recheck = Some(query.clone());
            }
            let after = after.unwrap_or(0);
            let params: [&(dyn ToSql + Sync); 6] = [
                &self.inner.keys.global,
                &first_tags.tags,
                &first_tags.pairs,
                &first_tags.any,
                &after,
                &options.backwards,
            ];
            async {
                let read = client
                    .prepare_typed_cached(&self.inner.decision_read_sql, DECISION_READ_TYPES)
                    .await?;
                client.query_raw(&read, params).await
            }
            .await
        } else {
            let shape = QueryShape::of(query);
            let limit = options.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
            let params: [&(dyn ToSql + Sync); 8] = [
                &self.inner.keys.global,
                &shape.tags,
                &shape.tag_counts,
                &shape.types,
                &shape.type_counts,
                &after,
                &limit,
                &options.backwards,
            ];
            async {
                let statement = client.prepare_cached(&self.inner.read_sql).await?;
                client.query_raw(&statement, params).await
            }
            .await
        };
        match result {
            Ok(rows) => Ok(PostgresEvents::new(rows, client, options, recheck)),
            Err(e) => {
                discard(client);
                Err(ReadError::Backend(BackendError::with_source(
                    "the read failed",
                    e,
                )))
            }
        }
    }

    async fn do_head(&self) -> Result<Option<Position>, ReadError> {
        let client = self.inner.client().await.map_err(ReadError::Backend)?;
        let result = async {
            let head = client.prepare_cached(&self.inner.head_sql).await?;
            client.query_one(&head, &[&self.inner.keys.global]).await
        }
        .await;
        match result {
            Ok(row) => Ok(row.get::<_, Option<i64>>(0).and_then(position_from)),
            Err(e) => {
                discard(client);
                Err(ReadError::Backend(BackendError::with_source(
                    "reading the head failed",
                    e,
                )))
            }
        }
    }
}

impl Inner {
    /// The store's notification connection, started on first use.
    fn notifier(&self) -> &Notifier {
        self.notifier
            .get_or_init(|| Notifier::start(self.config.clone(), self.tls.clone(), &self.schema))
    }

    async fn client(&self) -> Result<Object, BackendError> {
        self.pool.get().await.map_err(no_connection)
    }
}

/// The error of a pool that gives no connection: when a TLS handshake
/// failed, it says why and which setting fixes it, on connect as on any
/// later connection.
fn no_connection(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BackendError {
    let e = e.into();
    let message =
        tls::explain(&*e).unwrap_or_else(|| "no connection to PostgreSQL from the pool".to_owned());
    BackendError::with_source(message, e)
}

/// Closes a connection instead of returning it to the pool: after an error
/// it may be broken, or (after a cancelled call) still hold a session lock.
pub(super) fn discard(client: Object) {
    drop(Object::take(client));
}

/// The settings every session of the store runs with, added to the URL's
/// `options` (which are kept, and which these override):
///
/// - `default_transaction_isolation = read committed`: the store's
///   correctness rests on each statement of its functions taking a new
///   snapshot (an append's condition check after its locks, a read's query
///   after the read barrier), which a server or database defaulting to
///   REPEATABLE READ or SERIALIZABLE would silently undo.
/// - `jit = off`: every statement of the store is a short index lookup,
///   which JIT only slows down — and much: the generic plan of a decision's
///   read can be estimated above `jit_above_cost` (a tag's rows are
///   estimated from the whole table, and `generate_subscripts` at 1,000
///   rows), and then every read compiled its plan first, about 200 ms each
///   on the benchmark machine against under a millisecond without.
fn session_settings(config: &mut tokio_postgres::Config) {
    const SETTINGS: &str = r"-c default_transaction_isolation=read\ committed -c jit=off";
    let options = match config.get_options() {
        Some(options) if !options.trim().is_empty() => format!("{options} {SETTINGS}"),
        _ => SETTINGS.to_owned(),
    };
    config.options(options);
}

fn unexpected(outcome: &str) -> AppendError {
    AppendError::Backend(BackendError::new(format!(
        "dcb_append returned an unexpected outcome {outcome:?}; is the schema migrated?"
    )))
}

/// `head()`: the last position, after the read barrier (migration 5).
const HEAD_SQL: &str = "SELECT __SCHEMA__.dcb_head($1)";

/// A read whose items all have tags, without a limit (a decision's read):
/// the head, then the events (migration 6). Parameters: $1 the read
/// barrier's key, $2 the items' first tags, $3 the (first tag, type) pairs
/// of the items with types, $4 the first tags of the items without, $5
/// after (0 for none), $6 backwards; see [`FirstTags`].
const DECISION_READ_SQL: &str = "SELECT pos, event_type, data, tags, id \
     FROM __SCHEMA__.dcb_decision_read_by_first_tags($1, $2, $3, $4, $5, $6)";

/// The parameter types of [`DECISION_READ_SQL`].
const DECISION_READ_TYPES: &[Type] = &[
    Type::INT8,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8,
    Type::BOOL,
];

const APPEND_SQL: &str = "SELECT outcome, pos, dup_id FROM __SCHEMA__.dcb_append(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

const APPEND_BATCH_SQL: &str = "SELECT outcomes, positions FROM __SCHEMA__.dcb_append_batch(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

fn append_failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppendError {
    AppendError::Backend(BackendError::with_source(
        "the append failed; it was written completely or not at all",
        e,
    ))
}

fn append_outcome(row: &tokio_postgres::Row) -> Result<Position, AppendError> {
    let outcome: &str = row.get(0);
    let position = row.get::<_, Option<i64>>(1).and_then(position_from);
    match (outcome, position) {
        ("ok", Some(position)) => Ok(position),
        ("conflict", Some(conflicting)) => Err(AppendError::ConditionFailed { conflicting }),
        ("duplicate", Some(position)) => match row.get::<_, Option<crate::Uuid>>(2) {
            Some(id) => Err(AppendError::DuplicateEventId { id, position }),
            None => Err(unexpected(outcome)),
        },
        _ => Err(unexpected(outcome)),
    }
}

/// The parameters of one `dcb_append` call.
struct AppendParams<'a> {
    types: Vec<&'a str>,
    data: Vec<&'a [u8]>,
    tags: Vec<&'a str>,
    tag_counts: Vec<i32>,
    ids: Option<Vec<Option<crate::Uuid>>>,
    locks: Vec<i64>,
    lock_modes: Vec<bool>,
    alloc_key: i64,
    has_condition: bool,
    shape: QueryShape<'a>,
    after: Option<i64>,
}

impl<'a> AppendParams<'a> {
    fn new(
        keys: &LockKeys,
        events: &'a [Event],
        condition: Option<&'a AppendCondition>,
    ) -> AppendParams<'a> {
        AppendParams::with_locks(keys, events, condition, keys.for_append(events, condition))
    }

    /// The parameters with the locks already computed.
    fn with_locks(
        keys: &LockKeys,
        events: &'a [Event],
        condition: Option<&'a AppendCondition>,
        (locks, lock_modes): (Vec<i64>, Vec<bool>),
    ) -> AppendParams<'a> {
        let n = events.len();
        let mut types = Vec::with_capacity(n);
        let mut data = Vec::with_capacity(n);
        let mut tags = Vec::new();
        let mut tag_counts = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for event in events {
            types.push(event.event_type().as_str());
            data.push(event.data().as_ref());
            tags.extend(event.tags().iter().map(crate::Tag::as_str));
            tag_counts.push(count(event.tags().len()));
            ids.push(event.id());
        }
        AppendParams {
            types,
            data,
            tags,
            tag_counts,
            // No ids: a NULL array, which the function skips at once.
            ids: ids.iter().any(Option::is_some).then_some(ids),
            locks,
            lock_modes,
            alloc_key: keys.alloc,
            has_condition: condition.is_some(),
            shape: condition.map_or_else(QueryShape::empty, |c| {
                QueryShape::of(&c.fail_if_events_match)
            }),
            after: condition.and_then(|c| c.after).map(position_param),
        }
    }

    fn as_sql(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.types,
            &self.data,
            &self.tags,
            &self.tag_counts,
            &self.ids,
            &self.locks,
            &self.lock_modes,
            &self.alloc_key,
            &self.has_condition,
            &self.shape.tags,
            &self.shape.tag_counts,
            &self.shape.types,
            &self.shape.type_counts,
            &self.after,
        ]
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn position_param(position: Position) -> i64 {
    i64::try_from(position.get()).unwrap_or(i64::MAX)
}

fn position_from(value: i64) -> Option<Position> {
    u64::try_from(value).ok().and_then(Position::new)
}

/// A query as the server functions take it: all items' tags and types,
/// flattened, and per item how many of each.
struct QueryShape<'a> {
    tags: Vec<&'a str>,
    tag_counts: Vec<i32>,
    types: Vec<&'a str>,
    type_counts: Vec<i32>,
}

impl<'a> QueryShape<'a> {
    fn empty() -> QueryShape<'a> {
        QueryShape {
            tags: Vec::new(),
            tag_counts: Vec::new(),
            types: Vec::new(),
            type_counts: Vec::new(),
        }
    }

    fn of(query: &'a Query) -> QueryShape<'a> {
        let items = query.items();
        let mut shape = QueryShape {
            tags: Vec::new(),
            tag_counts: Vec::with_capacity(items.len()),
            types: Vec::new(),
            type_counts: Vec::with_capacity(items.len()),
        };
        for item in items {
            shape
                .tags
                .extend(item.required_tags().iter().map(crate::Tag::as_str));
            shape.tag_counts.push(count(item.required_tags().len()));
            shape
                .types
                .extend(item.event_types().iter().map(crate::EventType::as_str));
            shape.type_counts.push(count(item.event_types().len()));
        }
        shape
    }
}

/// A decision's read as `dcb_decision_read_by_first_tags` takes it: each
/// item by its first tag, and its types as `tag || chr(31) || type` pairs
/// (names hold no control characters, so the pairs are unambiguous).
#[derive(Debug)]
struct FirstTags<'a> {
    /// The items' first tags, each once.
    tags: Vec<&'a str>,
    /// The (first tag, type) pairs of the items with types.
    pairs: Vec<String>,
    /// The first tags of the items without types.
    any: Vec<&'a str>,
    /// Whether every item has one tag, so that the server's rows are
    /// exactly the matching events.
    exact: bool,
}

/// Joins a tag and a type as `dcb_decision_read_by_first_tags` compares them.
const PAIR_SEPARATOR: char = '\u{1f}';

impl<'a> FirstTags<'a> {
    /// `None` for a query with no items, or with an item without tags
    /// (read by type instead).
    fn of(query: &'a Query) -> Option<FirstTags<'a>> {
        let items = query.items();
        if items.is_empty() {
            return None;
        }
        let mut first_tags = FirstTags {
            tags: Vec::with_capacity(items.len()),
            pairs: Vec::new(),
            any: Vec::new(),
            exact: true,
        };
        for item in items {
            let tags = item.required_tags();
            let first = tags.iter().next()?.as_str();
            first_tags.exact &= tags.len() == 1;
            if !first_tags.tags.contains(&first) {
                first_tags.tags.push(first);
            }
            if item.event_types().is_empty() {
                first_tags.any.push(first);
            } else {
                first_tags.pairs.extend(
                    item.event_types()
                        .iter()
                        .map(|t| format!("{first}{PAIR_SEPARATOR}{}", t.as_str())),
                );
            }
        }
        Some(first_tags)
    }
}

impl EventStore for PostgresStore {
    type Stream = PostgresEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<PostgresEvents, ReadError>> + Send {
        self.do_read(query, options)
    }

    fn append(
        &self,
        events: Vec<Event>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        self.do_append(events, condition)
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        self.do_head()
    }

    fn wait_for_append(
        &self,
        after: Option<Position>,
    ) -> impl Future<Output = Result<(), ReadError>> + Send {
        self.do_wait_for_append(after)
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, QueryItem, Tag};

    fn tag(name: &str) -> Tag {
        Tag::new(name).unwrap()
    }

    #[test]
    fn a_decision_read_takes_each_item_by_its_first_tag() {
        let joined = EventType::from_static("Joined");
        let left = EventType::from_static("Left");
        let query = Query::from(
            QueryItem::new()
                .types([joined.clone(), left.clone()])
                .tags([tag("course:1")]),
        )
        .or(QueryItem::new().tags([tag("student:7")]))
        .or(QueryItem::new().types([left]).tags([tag("course:1")]));
        let read = FirstTags::of(&query).unwrap();
        assert_eq!(read.tags, ["course:1", "student:7"]);
        assert_eq!(
            read.pairs,
            [
                "course:1\u{1f}Joined",
                "course:1\u{1f}Left",
                "course:1\u{1f}Left"
            ]
        );
        assert_eq!(read.any, ["student:7"]);
        assert!(read.exact);

        let both = Query::from(
            QueryItem::new()
                .types([joined])
                .tags([tag("course:1"), tag("student:7")]),
        );
        let read = FirstTags::of(&both).unwrap();
        assert_eq!(read.tags.len(), 1);
        assert!(!read.exact, "an item of two tags is matched by one");

        let untagged = Query::from(QueryItem::new().types([EventType::from_static("Opened")]));
        assert!(FirstTags::of(&untagged).is_none());
        assert!(FirstTags::of(&Query::all()).is_none());
    }
}
