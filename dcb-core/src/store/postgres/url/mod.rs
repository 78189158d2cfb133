//! The convenience of a libpq-style URL: [`PostgresOptions`] and
//! [`PostgresStore::connect`], which parse the URL into a
//! `tokio_postgres::Config` and a TLS connector of the store's own (rustls,
//! set by `sslmode`, `sslrootcert`, `sslcert`, … as libpq sets it; see
//! `tls.rs`) and build the store from them as
//! [`PostgresStore::from_config`] does. The store itself knows nothing of
//! URLs: an application with a `Config` and a connector of its own, or a
//! pool, goes around this module.

mod tls;

use std::time::Duration;

use tokio_postgres::NoTls;

use self::tls::Tls;
use super::{ConnectError, PostgresStore, StoreOptions, migrate};
use crate::Limits;

/// How to connect a [`PostgresStore`] to the server at a URL; see
/// [`PostgresStore::connect_with`]. The options of the store are those of
/// [`StoreOptions`], here beside the URL.
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
    /// [`StoreOptions::append_batches`]. Defaults to 2.
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
    /// `postgres://user@host:5432/db`, and those of [`StoreOptions::new`].
    /// The store's sessions run with `jit = off` in addition to any
    /// `options` the URL sets.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        let defaults = StoreOptions::default();
        PostgresOptions {
            url: url.into(),
            schema: defaults.schema,
            migrate: defaults.migrate,
            pool_size: defaults.pool_size,
            append_batches: defaults.append_batches,
            limits: defaults.limits,
            poll_interval: defaults.poll_interval,
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
    /// once (at least 1); see [`StoreOptions::append_batches`].
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

    /// The options of the store, without the URL's.
    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            schema: self.schema.clone(),
            migrate: self.migrate,
            pool_size: self.pool_size,
            append_batches: self.append_batches,
            limits: self.limits,
            poll_interval: self.poll_interval,
            listen: None,
        }
    }
}

impl PostgresStore {
    /// Connects to the server at `url`, a libpq-style URL such as
    /// `postgres://user@host:5432/db?sslmode=verify-full`, with the default
    /// options; see [`PostgresOptions`].
    ///
    /// ```no_run
    /// use dcb_core::postgres::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::connect("postgres://app@db.internal/shop").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect_with`](PostgresStore::connect_with).
    pub async fn connect(url: &str) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects with `options`, migrating the schema unless told not to.
    /// The URL's TLS settings make a rustls connector of the store's own,
    /// used by its pool and its notification connection alike.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidUrl`] and [`ConnectError::Tls`] for a URL
    /// that cannot be used, and otherwise as
    /// [`from_config`](PostgresStore::from_config); when a TLS handshake
    /// fails, the error names the setting that fixes it.
    pub async fn connect_with(options: PostgresOptions) -> Result<PostgresStore, ConnectError> {
        migrate::check_schema(&options.schema)?;
        let (url, url_tls) = tls::split_url(&options.url).map_err(ConnectError::Tls)?;
        let config: tokio_postgres::Config = url.parse().map_err(ConnectError::InvalidUrl)?;
        let tls = Tls::new(
            config.get_ssl_mode(),
            &url_tls,
            &options.tls_root_certificates,
        )
        .map_err(ConnectError::Tls)?;
        let store_options = options.store_options();
        match tls {
            Tls::Off => {
                PostgresStore::build(config, NoTls, store_options, Some(tls::explain)).await
            }
            Tls::On(connector) => {
                PostgresStore::build(config, connector, store_options, Some(tls::explain)).await
            }
        }
    }
}
