//! [`StoreOptions`]: what a store does, wherever its connections come from.

use std::time::Duration;

use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

use super::connector::Connector;
use crate::Limits;

/// The options of a [`PostgresStore`](super::PostgresStore), whatever makes
/// its connections: [`PostgresStore::from_config`](super::PostgresStore::from_config)
/// and [`PostgresStore::from_pool`](super::PostgresStore::from_pool) take
/// them; [`PostgresOptions`](super::PostgresOptions) holds the same and a URL.
///
/// ```
/// use std::time::Duration;
/// use dcb_core::postgres::StoreOptions;
///
/// let options = StoreOptions::new()
///     .schema("shop_events")
///     .migrate(false)
///     .poll_interval(Duration::from_millis(200));
/// assert_eq!(options.schema, "shop_events");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The schema holding the store's tables; it must match
    /// `^[a-z_][a-z0-9_]{0,62}$`. Defaults to `dcb`.
    pub schema: String,
    /// Whether to create the schema and apply missing migrations on
    /// connect (default). Operators who manage the schema themselves turn it
    /// off and apply the SQL of [`migration_script`](super::migration_script)
    /// with their own tools.
    pub migrate: bool,
    /// The most connections of a pool the store builds itself (from a URL
    /// or a `tokio_postgres::Config`). Defaults to 16. A store made from
    /// the application's pool uses that pool as it is.
    pub pool_size: usize,
    /// The most transactions of batched appends in flight at once; see
    /// [`StoreOptions::append_batches`]. Defaults to 2.
    pub append_batches: usize,
    /// The input limits appends are checked against.
    pub limits: Limits,
    /// How often a waiting subscription asks for the head when no
    /// notification woke it: the fallback for lost notifications, for the
    /// time the notification connection is down, and the only way a store
    /// made from a pool alone learns of other processes' appends. Defaults
    /// to 500 ms.
    pub poll_interval: Duration,
    /// Where the notification connection connects, if not where the
    /// store's connections do; see [`StoreOptions::listen`].
    pub(super) listen: Option<Connector>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            schema: "dcb".to_owned(),
            migrate: true,
            pool_size: 16,
            append_batches: 2,
            limits: Limits::default(),
            poll_interval: Duration::from_millis(500),
            listen: None,
        }
    }
}

impl StoreOptions {
    /// The defaults: schema `dcb`, migrated on connect, a pool of 16, two
    /// transactions of batched appends, the default limits, polling every
    /// 500 ms.
    #[must_use]
    pub fn new() -> StoreOptions {
        StoreOptions::default()
    }

    /// Sets the schema.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> StoreOptions {
        self.schema = schema.into();
        self
    }

    /// Sets whether to migrate on connect.
    #[must_use]
    pub fn migrate(mut self, migrate: bool) -> StoreOptions {
        self.migrate = migrate;
        self
    }

    /// Sets the size of a pool the store builds (at least 1).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> StoreOptions {
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
    pub fn append_batches(mut self, batches: usize) -> StoreOptions {
        self.append_batches = batches.max(1);
        self
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> StoreOptions {
        self.limits = limits;
        self
    }

    /// Sets how often waiting subscriptions poll when not notified.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> StoreOptions {
        self.poll_interval = interval;
        self
    }

    /// Opens the store's notification connection — one connection of its
    /// own, outside any pool, that `LISTEN`s for the appends of other
    /// processes — to `config` through `tls` (`tokio_postgres::NoTls`, or
    /// the application's TLS connector).
    ///
    /// A store made with [`PostgresStore::from_pool`](super::PostgresStore::from_pool)
    /// needs it to be woken by other processes' appends: a pooled connection
    /// cannot listen, so without it the store's subscriptions learn of them
    /// only by polling, every [`poll_interval`](StoreOptions::poll_interval).
    /// A store made with [`from_config`](super::PostgresStore::from_config)
    /// listens where its pool connects unless told otherwise here — useful
    /// when its pool goes through a connection pooler in transaction mode,
    /// which cannot carry `LISTEN`, and this connection can go to the
    /// server directly.
    ///
    /// ```
    /// use dcb_core::postgres::StoreOptions;
    /// use tokio_postgres::NoTls;
    ///
    /// let direct: tokio_postgres::Config = "postgres://app@db.internal/shop".parse()?;
    /// let options = StoreOptions::new().listen(direct, NoTls);
    /// # Ok::<(), tokio_postgres::Error>(())
    /// ```
    #[must_use]
    pub fn listen<T>(mut self, config: tokio_postgres::Config, tls: T) -> StoreOptions
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        self.listen = Some(Connector::new(config, tls));
        self
    }
}
