//! [`PostgresStore`]: the store on a PostgreSQL server (feature `postgres`).
//!
//! The store keeps its tables and functions in one schema (default `dcb`),
//! created and migrated on connect — the numbered migrations in
//! `sql/migrations/`, then the server functions in `sql/functions/` —
//! unless [`PostgresOptions::migrate`] is off; `sql/schema.sql` shows the
//! schema they make. Every append
//! and every read is **one round trip**, with all values as bound
//! parameters: an append calls the server-side function `dcb_append`, a
//! decision's read `dcb_decision_read_by_first_tags`, other reads
//! `dcb_read`.
//!
//! Under load, appends share transactions: the single-event appends made
//! while the store's batch transactions are all in flight wait and go
//! together in the next, as one call of `dcb_append_batch` and one commit,
//! each under its own condition and with its own outcome
//! ([`PostgresOptions::append_batches`]). A read whose items each have a
//! tag or a type waits only for the appends in flight on its own boundary
//! (below); reads of everything and `head()` take the read barrier, which
//! waits for every append in flight. Reads share these locks in rounds: a
//! read made while another of the store's holds the same lock (the
//! barrier, or the same boundary: the same query's items, as a
//! subscription's batches have) waits for the next round, in which one
//! call reads a head under that lock for all the reads that waited; each
//! then reads its events up to that head without the lock, in one more
//! round trip of its own (a head asked meanwhile is the barrier's round's,
//! with no call of its own).
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
//!   flight that could write an event it matches, and holds new ones back
//!   until it has taken the snapshot of its head, never for its query or
//!   its rows. A read whose items each have a tag or a type does so for
//!   its own boundary (the key of each item's first tag, or of its types);
//!   reads of everything and `head()` for every append.
//! - Every event is recorded at the server's `clock_timestamp()`, read when
//!   its append takes its positions, in one short section that no other
//!   append is in at the same time, as the later of the clock and the
//!   latest time issued (kept in the schema): so times never decrease along
//!   positions, also under concurrent appends and with a clock set back.
//!   Rows written before migration 10 have no time. Metadata is a `jsonb`
//!   column, NULL when empty.
//!
//! `docs/design.md` ("The PostgreSQL store") gives the argument in full.
//!
//! # Where the connections come from
//!
//! - **A URL** — [`PostgresStore::connect`], or [`PostgresStore::connect_with`]
//!   and [`PostgresOptions`]: a libpq-style URL, TLS set in it as for libpq
//!   (`sslmode=require`, `verify-ca`, `verify-full`, `sslrootcert=PATH`,
//!   `sslcert=PATH`, `sslkey=PATH`, `sslpassword`, `sslcrl=PATH`,
//!   `sslcrldir=PATH`; see [`PostgresOptions::tls_root_certificates`]),
//!   with a rustls connector of the store's own (the *ring* provider,
//!   which builds without a C toolchain and has no post-quantum key
//!   exchange). A convenience on top of the next.
//! - **The application's `Config` and TLS connector** —
//!   [`PostgresStore::from_config`]: a [`tokio_postgres::Config`] and any
//!   connector `tokio_postgres::connect` takes (`NoTls` too). The store
//!   builds its pool, and its notification connection, with them.
//! - **The application's pool** — [`PostgresStore::from_pool`]: a
//!   [`deadpool_postgres::Pool`] the store shares with the application.
//!   Its subscriptions are woken by other processes' appends only when
//!   given a way to open a connection of its own as well
//!   ([`StoreOptions::listen`]): `LISTEN` needs a connection that stays
//!   with the store, which a pooled one does not. Without it they poll,
//!   every [`StoreOptions::poll_interval`].
//!
//! Wherever they come from, the store's options are those of
//! [`StoreOptions`] (its schema, migrations, batching, limits and
//! polling), and its sessions must run at READ COMMITTED isolation.
//! The two crates are re-exported ([`deadpool_postgres`],
//! [`tokio_postgres`]) so that an application names the versions the store
//! takes.
//!
//! ```no_run
//! use dcb_core::postgres::PostgresStore;
//! use dcb_core::{EventRecord, EventStore, EventType, Query, ReadOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! store.append(vec![EventRecord::new(EventType::from_static("Opened"), "{}")], None).await?;
//! let all = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
//! assert!(all.head.is_some());
//! # Ok(())
//! # }
//! ```

mod append;
mod batch;
mod connector;
mod error;
mod grants;
mod identifier;
mod locks;
mod migrate;
mod notify;
mod options;
mod params;
mod pool;
mod read_model;
mod rounds;
mod stream;
mod url;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod};
use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::{ToSql, Type};
use tracing::Instrument as _;

/// The connection pool crate whose [`Pool`](deadpool_postgres::Pool)
/// [`PostgresStore::from_pool`] takes, at the version the store uses.
#[doc(no_inline)]
pub use deadpool_postgres;
/// The PostgreSQL client whose `Config` and TLS connectors
/// [`PostgresStore::from_config`] takes, at the version the store uses.
#[doc(no_inline)]
pub use tokio_postgres;

use self::append::Appends;
#[doc(hidden)]
pub use self::batch::BatchCounts;
use self::connector::Connector;
pub use self::error::ConnectError;
use self::error::{PostgresError, backend_error};
pub use self::grants::grant_script;
use self::locks::LockKeys;
use self::notify::Notifier;
pub use self::options::StoreOptions;
use self::params::{FirstTags, QueryShape, position_from, position_param};
use self::pool::{Explain, discard, no_connection};
pub use self::read_model::{MAX_READ_MODEL_NAME, PostgresStorage};
pub use self::rounds::RoundCounts;
use self::rounds::{Rounds, Turn};
pub use self::stream::PostgresEvents;
pub use self::url::PostgresOptions;
use crate::model::error::{AppendError, BackendError, ReadError};
use crate::model::read::ReadOptions;
use crate::store::trace;
use crate::{AppendCondition, EventRecord, EventStore, Limits, Position, Query};

/// The SQL that brings the store's schema `schema` from migration `after`
/// (0 for a schema that holds no store yet) to the newest migration this
/// version of the crate knows, recording each in the schema's
/// `dcb_migrations` table, and then applies every server function, as
/// [`PostgresStore::connect`] does when it migrates: for operators who
/// apply migrations with tools of their own and connect with
/// [`PostgresOptions::migrate`] off. The functions are in the script
/// whatever `after` is (applying them again changes nothing), so the script
/// after the schema's own version brings a schema whose functions another
/// version of the crate changed back to this version's. The inspector
/// prints it too (`dcb migrations --schema NAME`).
///
/// Errors: [`ConnectError::InvalidSchema`] for a bad schema name,
/// [`ConnectError::SchemaTooNew`] when `after` is newer than this version
/// knows.
///
/// ```
/// let sql = dcb_core::postgres::migration_script("events", 0)?;
/// assert!(sql.starts_with("-- dcb PostgreSQL store: migrations 1 to "));
/// assert!(sql.contains("CREATE TABLE \"events\".events"));
/// assert!(sql.contains("CREATE OR REPLACE FUNCTION \"events\".dcb_append("));
/// # Ok::<(), dcb_core::postgres::ConnectError>(())
/// ```
pub fn migration_script(schema: &str, after: i32) -> Result<String, ConnectError> {
    migrate::check_schema(schema)?;
    migrate::script(schema, after)
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
    /// The append statements and the queue of the appends sent together.
    appends: Appends,
    read_sql: String,
    decision_read_sql: String,
    head_sql: String,
    /// The reads' place at the read barrier, and the reads and heads
    /// waiting for its next round.
    rounds: Rounds<()>,
    /// The places of the boundaries that reads lock (their keys), and the
    /// reads waiting for each one's next round.
    boundary_rounds: Rounds<Vec<i64>>,
    /// Where the notification connection connects, and how; `None` for a
    /// store made from a pool alone, whose notifier sends through the pool
    /// and does not listen.
    listen: Option<Connector>,
    /// What to say of a connection that failed, beyond the error itself
    /// (the URL's TLS settings that fix it).
    explain: Option<Explain>,
    poll_interval: Duration,
    /// Opened on the first append or wait.
    notifier: OnceLock<Notifier>,
}

impl PostgresStore {
    /// Builds the store on the server `config` names, connecting through
    /// `tls` — `tokio_postgres::NoTls`, or the application's own TLS
    /// connector (any that `tokio_postgres::connect` takes, such as
    /// `tokio_postgres_rustls::MakeRustlsConnect` or
    /// `postgres_native_tls::MakeTlsConnector`) — and migrating the schema
    /// unless told not to.
    ///
    /// The store builds its pool of [`StoreOptions::pool_size`] connections
    /// from `config` and `tls`, and opens one more, its notification
    /// connection, the same way (or as [`StoreOptions::listen`] says): so
    /// its subscriptions are woken by the appends of other processes. Its
    /// sessions run with `default_transaction_isolation = read committed`
    /// and `jit = off`, added to `config`'s `options`.
    ///
    /// ```no_run
    /// use dcb_core::postgres::{PostgresStore, StoreOptions};
    /// use dcb_core::postgres::tokio_postgres::{Config, NoTls};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = Config::new();
    /// config.host("db.internal").user("app").dbname("shop");
    /// let store = PostgresStore::from_config(config, NoTls, StoreOptions::new().schema("events"))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidSchema`] for a bad schema name,
    /// [`ConnectError::Connect`] when no connection can be made (the
    /// error tells what the server or the connector said), and the
    /// migration's errors ([`ConnectError::Migration`],
    /// [`ConnectError::NoAccess`], …).
    pub async fn from_config<T>(
        config: tokio_postgres::Config,
        tls: T,
        options: StoreOptions,
    ) -> Result<PostgresStore, ConnectError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        PostgresStore::build(config, tls, options, None).await
    }

    /// Builds the store on the application's own connection pool, which it
    /// shares with the application (it takes a connection for each call and
    /// gives it back), migrating the schema unless told not to.
    ///
    /// **Subscriptions poll** unless [`StoreOptions::listen`] is given too:
    /// `LISTEN` needs a connection that stays with the store, and a pooled
    /// connection goes back to the pool between calls, so a store that
    /// only has the pool cannot be woken by the appends of other processes.
    /// Its subscriptions then see those appends within
    /// [`StoreOptions::poll_interval`] (and its own appends at once); its
    /// appends still notify, through the pool, the stores of other
    /// processes that listen.
    ///
    /// The pool's sessions must run at READ COMMITTED isolation,
    /// PostgreSQL's default, which the store's server functions rely on
    /// (each statement takes a new snapshot): a pool whose sessions default
    /// to another is refused. The store's reads are short index lookups,
    /// which JIT compilation only slows down, much: give the pool's
    /// sessions `jit = off` (in the `tokio_postgres::Config`, `options("-c
    /// jit=off")`), as the store's own pools have; the store warns when it
    /// is on. [`StoreOptions::pool_size`] does not apply: the pool is used
    /// as it is.
    ///
    /// ```no_run
    /// use dcb_core::postgres::deadpool_postgres::{Manager, Pool};
    /// use dcb_core::postgres::tokio_postgres::{Config, NoTls};
    /// use dcb_core::postgres::{PostgresStore, StoreOptions};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = Config::new();
    /// config.host("db.internal").user("app").dbname("shop").options("-c jit=off");
    /// // The application's pool, for its own tables as well.
    /// let pool = Pool::builder(Manager::new(config.clone(), NoTls)).max_size(16).build()?;
    /// // Woken by other processes' appends through a connection of its own.
    /// let options = StoreOptions::new().listen(config, NoTls);
    /// let store = PostgresStore::from_pool(pool.clone(), options).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidSchema`] for a bad schema name,
    /// [`ConnectError::Connect`] when the pool gives no connection,
    /// [`ConnectError::Isolation`] when its sessions are not READ
    /// COMMITTED, and the migration's errors.
    pub async fn from_pool(
        pool: Pool,
        options: StoreOptions,
    ) -> Result<PostgresStore, ConnectError> {
        migrate::check_schema(&options.schema)?;
        let listen = options.listen.clone();
        PostgresStore::open(pool, listen, options, None).await
    }

    /// Builds the pool from `config` and `tls` and the store on it; `explain`
    /// tells more of a failed connection.
    async fn build<T>(
        mut config: tokio_postgres::Config,
        tls: T,
        options: StoreOptions,
        explain: Option<Explain>,
    ) -> Result<PostgresStore, ConnectError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        migrate::check_schema(&options.schema)?;
        session_settings(&mut config);
        let listen = options
            .listen
            .clone()
            .unwrap_or_else(|| Connector::new(config.clone(), tls.clone()));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(config, tls, manager_config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            // The most recently used connection first: its backend has the
            // server functions compiled and their plans cached, and is warm
            // in the CPU caches; FIFO would rotate calls over every idle
            // connection.
            .queue_mode(QueueMode::Lifo)
            .build()
            .map_err(|e| {
                ConnectError::Connect(backend_error(
                    "cannot build the pool",
                    PostgresError::new(e),
                ))
            })?;
        PostgresStore::open(pool, Some(listen), options, explain).await
    }

    /// The store on `pool`: checks its sessions and migrates (or checks)
    /// the schema.
    async fn open(
        pool: Pool,
        listen: Option<Connector>,
        options: StoreOptions,
        explain: Option<Explain>,
    ) -> Result<PostgresStore, ConnectError> {
        let mut client = pool
            .get()
            .await
            .map_err(|e| ConnectError::Connect(no_connection(e, explain)))?;
        check_session(&client).await?;
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
                appends: Appends::new(&schema, options.append_batches),
                read_sql: migrate::render(
                    "SELECT pos, event_type, data, tags, id, recorded_at, metadata \
                     FROM __SCHEMA__.dcb_read($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &schema,
                ),
                decision_read_sql: migrate::render(DECISION_READ_SQL, &schema),
                head_sql: migrate::render(HEAD_SQL, &schema),
                rounds: Rounds::default(),
                boundary_rounds: Rounds::default(),
                listen,
                explain,
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
        self.inner.appends.counts()
    }

    /// What the store's reads and heads have done at the read barrier so
    /// far; for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn round_counts(&self) -> RoundCounts {
        self.inner.rounds.counts()
    }

    /// What the store's reads that lock their own boundary have done at
    /// their boundaries' places so far; for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn boundary_round_counts(&self) -> RoundCounts {
        self.inner.boundary_rounds.counts()
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

    /// Appends inside the application's own transaction, so that the
    /// application's tables and the events are written together — both or
    /// neither.
    ///
    /// `transaction` is a `tokio_postgres::Transaction` (or a client that
    /// sent `BEGIN`) on the store's database, at READ COMMITTED isolation,
    /// PostgreSQL's default; another isolation is refused, since the
    /// condition is checked against the events committed once the append
    /// holds its locks, which an earlier snapshot would not show. The
    /// append takes the same locks and checks the same condition as
    /// [`append`](EventStore::append), and holds its locks until the
    /// transaction ends: appends on the same boundaries, and reads of the
    /// store (whose head waits for appends in flight), wait for its commit
    /// or rollback, so keep such transactions short. The position returned
    /// is the events' only once the transaction commits; after a rollback
    /// nothing was appended. Metadata, limits and errors are as for
    /// `append`; appends of the application's transaction are not sent
    /// together with others.
    ///
    /// The append turns JIT compilation off for the rest of the
    /// transaction (`SET LOCAL jit = off`, in the round trip that checks
    /// the isolation), as the store's own sessions have it: its statements
    /// are short index lookups, which PostgreSQL may otherwise compile at
    /// about 10 ms a call on a large store. The session's setting is back
    /// once the transaction ends.
    ///
    /// ```no_run
    /// # use dcb_core::{EventRecord, EventType, postgres::PostgresStore};
    /// # async fn example(store: PostgresStore, mut client: tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let transaction = client.transaction().await?;
    /// transaction
    ///     .execute("INSERT INTO shop.orders (id, total) VALUES ($1, $2)", &[&42_i64, &1999_i64])
    ///     .await?;
    /// let placed = EventRecord::new(EventType::from_static("OrderPlaced"), r#"{"id":42}"#);
    /// store.append_in_transaction(&transaction, vec![placed], None).await?;
    /// transaction.commit().await?; // the order row and the event, or neither
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`append`](EventStore::append), and a backend error for a
    /// transaction that is not READ COMMITTED.
    pub async fn append_in_transaction(
        &self,
        transaction: &impl tokio_postgres::GenericClient,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        append::append_in_transaction(&self.inner, transaction, events, condition).await
    }

    async fn do_read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> Result<PostgresEvents, ReadError> {
        options.check()?;
        let after = options.after.map(position_param);
        let first_tags = if options.limit.is_none() {
            FirstTags::of(query)
        } else {
            None
        };
        let mut recheck = None;
        // A read whose items each have a tag or a type locks its own
        // boundary (`LockKeys::for_read`); any other read, the read
        // barrier. Either goes alone to its place, or waits for the place's
        // next round and takes its head (`rounds.rs`). The turn comes before
        // the connection: a read waiting for a round holds none, so the
        // round always finds one.
        let (head, locks, at_place) = match self.inner.keys.for_read(query) {
            Some((keys, modes)) => match self.inner.boundary_rounds.turn(&keys) {
                Turn::Alone => {
                    let place = AtPlace::boundary(&self.inner, keys.clone(), modes.clone());
                    (None, Some((keys, modes)), Some(place))
                }
                Turn::Wait(round) => match round.await {
                    Ok(head) => (Some(head), None, None),
                    // The round failed: this read locks its boundary
                    // itself, outside the rounds.
                    Err(_) => (None, Some((keys, modes)), None),
                },
            },
            None => match self.inner.rounds.turn(&()) {
                Turn::Alone => (None, None, Some(AtPlace::barrier(&self.inner))),
                Turn::Wait(round) => (round.await.ok(), None, None),
            },
        };
        let (locks, lock_modes) = locks.unzip();
        let client = self.inner.client().await.map_err(ReadError::Backend)?;
        let result = if let Some(first_tags) = first_tags {
            // A decision's read: one call of `dcb_decision_read_by_first_tags`.
            // It matches an item with several tags by its first: those
            // events are checked here.
            if !first_tags.exact {
                recheck = Some(query.clone());
            }
            let after = after.unwrap_or(0);
            let params: [&(dyn ToSql + Sync); 9] = [
                &self.inner.keys.global,
                &first_tags.tags,
                &first_tags.pairs,
                &first_tags.any,
                &after,
                &options.backwards,
                &head,
                &locks,
                &lock_modes,
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
            let params: [&(dyn ToSql + Sync); 11] = [
                &self.inner.keys.global,
                &shape.tags,
                &shape.tag_counts,
                &shape.types,
                &shape.type_counts,
                &after,
                &limit,
                &options.backwards,
                &head,
                &locks,
                &lock_modes,
            ];
            async {
                let statement = client.prepare_cached(&self.inner.read_sql).await?;
                client.query_raw(&statement, params).await
            }
            .await
        };
        drop(at_place);
        match result {
            Ok(rows) => Ok(PostgresEvents::new(rows, client, options, recheck)),
            Err(e) => {
                discard(client);
                Err(ReadError::Backend(backend_error("the read failed", e)))
            }
        }
    }

    async fn do_head(&self) -> Result<Option<Position>, ReadError> {
        // Heads share the rounds of reads of everything (`rounds.rs`): a head
        // asked while another read is at the barrier is the next round's,
        // with no call of its own.
        let at_barrier = match self.inner.rounds.turn(&()) {
            Turn::Alone => AtPlace::barrier(&self.inner),
            Turn::Wait(round) => match round.await {
                Ok(head) => return Ok(position_from(head)),
                // The round failed: this head goes alone, outside the
                // rounds, and reports its own error, if any.
                Err(_) => return self.head_alone().await,
            },
        };
        let head = self.head_alone().await;
        drop(at_barrier);
        head
    }

    /// The head, read under the read barrier in one call of `dcb_head`.
    async fn head_alone(&self) -> Result<Option<Position>, ReadError> {
        Ok(self.inner.barrier_head().await?.and_then(position_from))
    }
}

impl Inner {
    /// The store's notification connection, started on first use.
    fn notifier(&self) -> &Notifier {
        self.notifier
            .get_or_init(|| Notifier::start(self.listen.clone(), self.pool.clone(), &self.schema))
    }

    async fn client(&self) -> Result<Object, BackendError> {
        self.pool
            .get()
            .await
            .map_err(|e| no_connection(e, self.explain))
    }

    /// The last position, read under the read barrier in one call of
    /// `dcb_head` (`None` for an empty store).
    async fn barrier_head(&self) -> Result<Option<i64>, ReadError> {
        let client = self.client().await.map_err(ReadError::Backend)?;
        let result = async {
            let head = client.prepare_cached(&self.head_sql).await?;
            client.query_one(&head, &[&self.keys.global]).await
        }
        .await;
        head_from(client, result)
    }

    /// The head of a boundary, read under its locks (`keys` and `modes`,
    /// as [`LockKeys::for_read`] gives them): a decision's read of nothing
    /// after the last position, which takes the locks, reads the head,
    /// releases them and returns the head alone (`None` for an empty
    /// store).
    async fn boundary_head(&self, keys: &[i64], modes: &[bool]) -> Result<Option<i64>, ReadError> {
        let client = self.client().await.map_err(ReadError::Backend)?;
        let nothing: &[&str] = &[];
        let params: [&(dyn ToSql + Sync); 9] = [
            &self.keys.global,
            &nothing,
            &nothing,
            &nothing,
            &i64::MAX,
            &false,
            &None::<i64>,
            &keys,
            &modes,
        ];
        let result = async {
            let read = client
                .prepare_typed_cached(&self.decision_read_sql, DECISION_READ_TYPES)
                .await?;
            client.query_one(&read, &params).await
        }
        .await;
        head_from(client, result)
    }

    /// A round's head at `place` (0 for an empty store), or `None` if it
    /// could not be read.
    async fn round_head(&self, place: &Place) -> Option<rounds::Head> {
        let head = match place {
            Place::Barrier => self.barrier_head().await,
            Place::Boundary { keys, modes } => self.boundary_head(keys, modes).await,
        };
        match head {
            Ok(head) => Some(head.unwrap_or(0)),
            Err(e) => {
                tracing::debug!(error = %e, "a round of reads failed; its reads go alone");
                None
            }
        }
    }
}

/// The head in the one row of a call that reads it, or, if the call
/// failed, the error, the connection discarded (a failed call may leave a
/// session lock on it).
fn head_from(
    client: Object,
    result: Result<tokio_postgres::Row, tokio_postgres::Error>,
) -> Result<Option<i64>, ReadError> {
    match result.and_then(|row| row.try_get::<_, Option<i64>>(0)) {
        Ok(head) => Ok(head),
        Err(e) => {
            discard(client);
            Err(ReadError::Backend(backend_error(
                "reading the head failed",
                e,
            )))
        }
    }
}

/// A lock that reads share in rounds (`rounds.rs`).
enum Place {
    /// The read barrier.
    Barrier,
    /// A boundary's locks, as [`LockKeys::for_read`] gives them.
    Boundary { keys: Vec<i64>, modes: Vec<bool> },
}

/// A read's place, taken alone; dropped when the read's call has returned
/// (or the read was dropped), it hands the place to a round for the reads
/// that arrived meanwhile, run in a task of its own, or frees it.
struct AtPlace {
    inner: Arc<Inner>,
    place: Option<Place>,
}

impl AtPlace {
    /// The read barrier, taken alone.
    fn barrier(inner: &Arc<Inner>) -> AtPlace {
        AtPlace {
            inner: Arc::clone(inner),
            place: Some(Place::Barrier),
        }
    }

    /// The boundary of `keys` and `modes`, taken alone.
    fn boundary(inner: &Arc<Inner>, keys: Vec<i64>, modes: Vec<bool>) -> AtPlace {
        AtPlace {
            inner: Arc::clone(inner),
            place: Some(Place::Boundary { keys, modes }),
        }
    }
}

impl Drop for AtPlace {
    fn drop(&mut self) {
        match self.place.take() {
            Some(Place::Barrier) => hand_on(&self.inner, |inner| &inner.rounds, (), Place::Barrier),
            Some(Place::Boundary { keys, modes }) => hand_on(
                &self.inner,
                |inner| &inner.boundary_rounds,
                keys.clone(),
                Place::Boundary { keys, modes },
            ),
            None => {}
        }
    }
}

/// Ends a turn at `key` of `rounds`: runs the rounds for the reads that
/// arrived meanwhile, in a task of its own, each round's head read under
/// `place`'s lock; or frees the place.
fn hand_on<P>(inner: &Arc<Inner>, rounds: fn(&Inner) -> &Rounds<P>, key: P, place: Place)
where
    P: Eq + std::hash::Hash + Clone + Send + Sync + 'static,
{
    let Some(waiting) = rounds(inner).next_or_release(&key) else {
        return;
    };
    let inner = Arc::clone(inner);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            rounds::lead(rounds(&inner), &key, waiting, || inner.round_head(&place)).await;
        });
    } else {
        // No runtime to run the round on (the store is being dropped with
        // it): the waiting reads go alone, and the place is free.
        drop(waiting);
        while let Some(more) = rounds(&inner).next_or_release(&key) {
            drop(more);
        }
    }
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

/// Refuses a session that does not run at READ COMMITTED by default
/// (see [`session_settings`]; the store's own pools set it, an
/// application's pool may not), and warns of one with JIT on.
async fn check_session(client: &Object) -> Result<(), ConnectError> {
    let row = client
        .query_one(
            "SELECT current_setting('default_transaction_isolation'), current_setting('jit')",
            &[],
        )
        .await
        .map_err(|e| {
            ConnectError::Connect(backend_error("cannot read the session's settings", e))
        })?;
    let (isolation, jit): (String, String) = (row.get(0), row.get(1));
    if isolation != "read committed" {
        return Err(ConnectError::Isolation { isolation });
    }
    if jit == "on" {
        tracing::warn!(
            "the store's sessions run with jit = on, which can make each read take hundreds of \
             milliseconds: give the pool's connections the option -c jit=off"
        );
    }
    Ok(())
}

/// `head()`: the last position, after the read barrier
/// (`sql/functions/dcb_head.sql`).
const HEAD_SQL: &str = "SELECT __SCHEMA__.dcb_head($1)";

/// A read whose items all have tags, without a limit (a decision's read):
/// the head, then the events
/// (`sql/functions/dcb_decision_read_by_first_tags.sql`). Parameters: $1
/// the read barrier's key, $2 the items' first tags, $3 the (first tag,
/// type) pairs of the items with types, $4 the first tags of the items
/// without, $5 after (0 for none), $6 backwards, $7 a head to read up to
/// (NULL: take locks), $8 and $9 the locks of the read's boundary and
/// whether each is exclusive ([`LockKeys::for_read`]; NULL: the read
/// barrier); see [`FirstTags`].
const DECISION_READ_SQL: &str = "SELECT pos, event_type, data, tags, id, recorded_at, metadata \
     FROM __SCHEMA__.dcb_decision_read_by_first_tags($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The parameter types of [`DECISION_READ_SQL`].
const DECISION_READ_TYPES: &[Type] = &[
    Type::INT8,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8,
    Type::BOOL,
    Type::INT8,
    Type::INT8_ARRAY,
    Type::BOOL_ARRAY,
];

/// The store's name in `tracing` spans.
const STORE: &str = "postgres";

impl EventStore for PostgresStore {
    type Stream = PostgresEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<PostgresEvents, ReadError>> + Send {
        self.do_read(query, options)
            .instrument(trace::read(STORE, query, &options))
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        let (count, conditional) = (events.len(), condition.is_some());
        trace::append(
            STORE,
            count,
            conditional,
            append::append(&self.inner, events, condition),
        )
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
