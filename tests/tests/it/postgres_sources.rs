//! Stores built from the application's PostgreSQL rather than from a URL:
//! `PostgresStore::from_pool` on the application's own deadpool pool, which
//! the application keeps using, and `PostgresStore::from_config` on a
//! `tokio_postgres::Config` with `NoTls` or the application's own TLS
//! connector (one written here, on tokio-rustls, that the store knows
//! nothing of). A store from a `Config` listens for other processes'
//! appends; a store from a pool alone cannot (a pooled connection does not
//! stay with it), so its subscriptions poll, and with `StoreOptions::listen`
//! it listens too. Same server rules as the other PostgreSQL tests (see
//! `postgres_support`); the TLS test needs the server's TLS, as
//! `postgres_tls` does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use dcb_core::postgres::deadpool_postgres::{Manager, Pool};
use dcb_core::postgres::tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use dcb_core::postgres::tokio_postgres::{self, Config, NoTls, Socket};
use dcb_core::postgres::{ConnectError, PostgresStore, StoreOptions};
use dcb_core::{EventRecord, EventStore, EventType, Query, ReadOptions, Tag};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::postgres_support::{
    Server, TempSchema, random_schema, raw_client, runtime, temp_schema, url,
};
use crate::postgres_tls::server_certificate;

/// Bounds a wait that must end; only a guard against a hang, no result
/// depends on it (a store that should be notified polls once an hour).
const HANG: Duration = Duration::from_secs(20);

fn opened(account: u32) -> EventRecord {
    EventRecord::new(
        EventType::new("AccountOpened").expect("valid"),
        account.to_string(),
    )
    .with_tags([Tag::new(format!("account:{account}")).expect("valid")])
}

fn config() -> Config {
    url().parse().expect("the test URL parses")
}

/// The application's pool, as an application builds it.
fn app_pool(config: Config, size: usize) -> Pool {
    Pool::builder(Manager::new(config, NoTls))
        .max_size(size)
        .build()
        .expect("the application's pool")
}

/// A store on `pool` in a fresh schema (dropped with the value), or `None`
/// when the server is unreachable and not required.
async fn on_pool(pool: Pool, options: StoreOptions) -> Option<TempSchema> {
    raw_client().await?;
    let store = PostgresStore::from_pool(pool, options.schema(random_schema()))
        .await
        .expect("a store on the application's pool");
    Some(TempSchema { store })
}

/// Another store on `first`'s schema, like another process's, from the
/// test server's `Config`: it listens.
async fn listening(first: &PostgresStore, poll_interval: Duration) -> PostgresStore {
    PostgresStore::from_config(
        config(),
        NoTls,
        StoreOptions::new()
            .schema(first.schema())
            .migrate(false)
            .pool_size(2)
            .poll_interval(poll_interval),
    )
    .await
    .expect("a store from the Config")
}

/// Waits until `store`'s notification connection listens.
async fn until_listening(store: &PostgresStore) {
    tokio::time::timeout(HANG, async {
        while store.notification_sessions() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the notification connection listens");
}

/// Subscribes `follower` to every event, lets `writer` append one (once
/// `follower` listens, if it `listens`), and returns whether the
/// subscription saw it within `HANG`.
async fn delivered(follower: &PostgresStore, writer: &PostgresStore, listens: bool) -> bool {
    let mut subscription = follower.subscribe(Query::all(), None);
    let waiting = tokio::spawn(async move {
        tokio::time::timeout(HANG, subscription.next())
            .await
            .map(|event| event.expect("the follower reads").position)
    });
    if listens {
        // The notification connection starts on the subscription's wait.
        until_listening(follower).await;
    } else {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let position = writer
        .append(vec![opened(1)], None)
        .await
        .expect("the append");
    waiting.await.expect("the follower's task") == Ok(position)
}

#[test]
fn a_store_on_the_applications_pool_appends_and_reads_and_the_application_keeps_the_pool() {
    runtime(2).block_on(async {
        let pool = app_pool(config(), 3);
        let Some(schema) = on_pool(pool.clone(), StoreOptions::new()).await else {
            return;
        };
        let store = &schema.store;
        let name = store.schema().to_owned();
        let position = store
            .append(vec![opened(1), opened(2)], None)
            .await
            .expect("append through the application's pool");
        let read = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("read through the application's pool");
        assert_eq!(read.events.len(), 2);
        assert_eq!(read.head, Some(position));

        // The application goes on with its pool, the store's calls done.
        let client = pool.get().await.expect("the application's connection");
        let events: i64 = client
            .query_one(&format!("SELECT count(*) FROM \"{name}\".events"), &[])
            .await
            .expect("the application's query")
            .get(0);
        assert_eq!(events, 2);
        drop(client);
        let status = pool.status();
        assert_eq!(status.max_size, 3, "the pool is the application's");
        assert!(status.size >= 1, "the connections stay in the pool");
        assert_eq!(store.pool().status().max_size, 3);
    });
}

#[test]
fn a_pool_whose_sessions_are_not_read_committed_is_refused() {
    runtime(1).block_on(async {
        if raw_client().await.is_none() {
            return;
        }
        let mut repeatable = config();
        repeatable.options("-c default_transaction_isolation=repeatable\\ read");
        let err = PostgresStore::from_pool(
            app_pool(repeatable, 1),
            StoreOptions::new().schema(random_schema()),
        )
        .await
        .expect_err("a pool at REPEATABLE READ");
        assert!(
            matches!(&err, ConnectError::Isolation { isolation } if isolation == "repeatable read"),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("default_transaction_isolation=read\\ committed"),
            "the error says what to do: {message}"
        );
    });
}

#[test]
fn a_store_from_a_config_without_tls_runs_with_the_stores_session_settings() {
    runtime(2).block_on(async {
        if raw_client().await.is_none() {
            return;
        }
        let store = PostgresStore::from_config(
            config(),
            NoTls,
            StoreOptions::new().schema(random_schema()).pool_size(2),
        )
        .await
        .expect("a store from the Config");
        let schema = TempSchema { store };
        let store = &schema.store;
        store
            .append(vec![opened(1)], None)
            .await
            .expect("the append");
        let read = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("the read");
        assert_eq!(read.events.len(), 1);
        let client = store.pool().get().await.expect("a pooled connection");
        let row = client
            .query_one(
                "SELECT current_setting('default_transaction_isolation'), current_setting('jit')",
                &[],
            )
            .await
            .expect("the session's settings");
        let settings: (String, String) = (row.get(0), row.get(1));
        assert_eq!(settings, ("read committed".to_owned(), "off".to_owned()));
    });
}

#[test]
fn a_store_from_a_config_listens_for_other_processes_appends() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(2).await else {
            return;
        };
        // It polls once an hour: only a notification wakes it in time.
        let follower = listening(&schema.store, Duration::from_hours(1)).await;
        assert!(
            delivered(&follower, &schema.store, true).await,
            "a notification wakes the store from a Config"
        );
        assert_eq!(follower.notification_sessions(), 1);
    });
}

#[test]
fn a_store_on_a_pool_alone_polls_and_still_sees_other_processes_appends() {
    runtime(2).block_on(async {
        let Some(writer) = temp_schema(2).await else {
            return;
        };
        let follower = PostgresStore::from_pool(
            app_pool(config(), 2),
            StoreOptions::new()
                .schema(writer.store.schema())
                .migrate(false)
                .poll_interval(Duration::from_millis(200)),
        )
        .await
        .expect("a store on the application's pool");
        assert!(
            delivered(&follower, &writer.store, false).await,
            "polling delivers another process's append"
        );
        assert_eq!(
            follower.notification_sessions(),
            0,
            "a store on a pool alone does not listen"
        );
    });
}

#[test]
fn a_store_on_a_pool_listens_when_given_a_config_to_listen_with() {
    runtime(2).block_on(async {
        let Some(writer) = temp_schema(2).await else {
            return;
        };
        let follower = PostgresStore::from_pool(
            app_pool(config(), 2),
            StoreOptions::new()
                .schema(writer.store.schema())
                .migrate(false)
                .poll_interval(Duration::from_hours(1))
                .listen(config(), NoTls),
        )
        .await
        .expect("a store on the application's pool");
        assert!(
            delivered(&follower, &writer.store, true).await,
            "a notification wakes the store on a pool given a Config to listen with"
        );
    });
}

#[test]
fn appends_of_a_store_on_a_pool_alone_wake_the_stores_that_listen() {
    runtime(2).block_on(async {
        let Some(writer) = on_pool(app_pool(config(), 2), StoreOptions::new()).await else {
            return;
        };
        let follower = listening(&writer.store, Duration::from_hours(1)).await;
        assert!(
            delivered(&follower, &writer.store, true).await,
            "the pool's notification wakes the listening store"
        );
    });
}

/// The application's TLS connector, unknown to the store: tokio-rustls
/// trusting `roots`, counting its handshakes.
#[derive(Clone)]
struct AppTls {
    config: Arc<rustls::ClientConfig>,
    handshakes: Arc<AtomicUsize>,
}

impl AppTls {
    fn trusting(certificate: &std::path::Path) -> AppTls {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(certificate).expect("the certificate") {
            roots
                .add(certificate.expect("a certificate"))
                .expect("a root");
        }
        #[allow(deprecated)] // the store's own provider (postgres/url/tls.rs)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        AppTls {
            config: Arc::new(config),
            handshakes: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl MakeTlsConnect<Socket> for AppTls {
    type Stream = AppTlsStream;
    type TlsConnect = AppTlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<AppTlsConnect, Self::Error> {
        Ok(AppTlsConnect {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.config)),
            name: rustls::pki_types::ServerName::try_from(domain.to_owned())?,
            handshakes: Arc::clone(&self.handshakes),
        })
    }
}

struct AppTlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
    handshakes: Arc<AtomicUsize>,
}

impl TlsConnect<Socket> for AppTlsConnect {
    type Stream = AppTlsStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<AppTlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let stream = self.connector.connect(self.name, stream).await?;
            self.handshakes.fetch_add(1, Ordering::Relaxed);
            Ok(AppTlsStream(stream))
        })
    }
}

struct AppTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for AppTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AppTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tokio_postgres::tls::TlsStream for AppTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[test]
fn a_store_from_a_config_connects_through_the_applications_tls_connector() {
    runtime(2).block_on(async {
        let Some(certificate) = server_certificate().await else {
            return;
        };
        let Some(writer) = temp_schema(1).await else {
            return;
        };
        let server = Server::of_test_url();
        let mut config = config();
        // The name the server's certificate is issued for.
        config
            .host(server.name())
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = AppTls::trusting(&certificate);
        let store = PostgresStore::from_config(
            config,
            tls.clone(),
            StoreOptions::new()
                .schema(writer.store.schema())
                .migrate(false)
                .pool_size(1)
                .poll_interval(Duration::from_hours(1)),
        )
        .await
        .expect("a store through the application's connector");
        let client = store.pool().get().await.expect("a pooled connection");
        let encrypted: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0);
        assert!(encrypted, "the pool's session is encrypted");
        drop(client);
        assert_eq!(tls.handshakes.load(Ordering::Relaxed), 1, "the pool's");

        // The notification connection is made by the same connector.
        let mut subscription = store.subscribe(Query::all(), None);
        let waiting = tokio::spawn(async move {
            tokio::time::timeout(HANG, subscription.next())
                .await
                .map(|event| event.expect("the store reads").position)
        });
        until_listening(&store).await;
        assert_eq!(
            tls.handshakes.load(Ordering::Relaxed),
            2,
            "and the notifier's"
        );
        let position = writer
            .store
            .append(vec![opened(1)], None)
            .await
            .expect("the append");
        assert_eq!(
            waiting.await.expect("the subscription's task"),
            Ok(position),
            "notified over the application's TLS"
        );
    });
}
