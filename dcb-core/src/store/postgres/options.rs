//! [`PostgresOptions`]: how a store connects.

use std::time::Duration;

use crate::Limits;

/// How to connect a [`PostgresStore`](super::PostgresStore).
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
    /// off and apply the SQL of [`migration_script`](super::migration_script) with their own tools.
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
