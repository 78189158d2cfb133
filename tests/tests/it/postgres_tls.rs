//! TLS, set in the URL as for libpq: `sslmode=require` encrypts every
//! connection of the store (the pool's and the notification connection),
//! `verify-full` and `verify-ca` check the server's certificate against
//! `sslrootcert` or the authorities given in the options, `sslcert` and
//! `sslkey` present a client certificate to a server that asks for one
//! (`sslpassword` decrypting a key stored encrypted),
//! `sslcrl` refuses a revoked certificate, and a certificate that fails a
//! check refuses the connection with an error that says what to do. The
//! client certificate and the revocation list are tested against TLS fronts
//! of the test's own (with the certificates in `tls/`), since the server's
//! own configuration is not the test's to change.
//!
//! The server must have TLS on (Debian's clusters do, with a self-signed
//! certificate for `localhost`); the tests read its certificate from the
//! file `ssl_cert_file` names. Same server rules as the other PostgreSQL
//! tests (see `postgres_support`): a server without TLS, like an
//! unreachable one, fails the tests under `DCB_REQUIRE_POSTGRES=1` and
//! otherwise has them reported as skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dcb_core::postgres::{ConnectError, PostgresOptions, PostgresStore};
use dcb_core::{EventRecord, EventStore, EventType, Query, ReadOptions, Tag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::postgres_support::{Server, TempSchema, raw_client, runtime, skip, temp_schema, url};

/// Bounds a wait that must end; only a guard against a hang, no result
/// depends on it.
const HANG: Duration = Duration::from_mins(1);

/// The test server's certificate file, or `None` (the test reported as
/// skipped) when it is unreachable or has TLS off, and not required.
pub(crate) async fn server_certificate() -> Option<PathBuf> {
    let client = raw_client().await?;
    let setting = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .map(|row| row.get::<_, String>(0))
                .unwrap_or_default()
        }
    };
    let certificate = PathBuf::from(setting("ssl_cert_file").await);
    if setting("ssl").await != "on" || !certificate.is_file() {
        skip(&format!(
            "PostgreSQL at {} has TLS off (ssl = off, or no certificate file)",
            url()
        ));
        return None;
    }
    Some(certificate)
}

/// The test server's address and its certificate's file, or `None` (the
/// test reported as skipped) when it is unreachable or has TLS off, and
/// not required.
async fn tls_server() -> Option<(Server, PathBuf)> {
    let certificate = server_certificate().await?;
    Some((Server::of_test_url(), certificate))
}

/// The TLS server, its certificate's file, and a store in a fresh schema
/// for the test's own stores to connect to.
async fn setup() -> Option<(Server, PathBuf, TempSchema)> {
    let (server, certificate) = tls_server().await?;
    let schema = temp_schema(1).await?;
    Some((server, certificate, schema))
}

/// The settings that verify the server in full against the authority of
/// the fixture `authority`.
fn verify_full_with(authority: &str) -> String {
    format!(
        "sslmode=verify-full&sslrootcert={}",
        percent_encoded(&fixture(authority))
    )
}

fn percent_encoded(path: &std::path::Path) -> String {
    path.display()
        .to_string()
        .replace('%', "%25")
        .replace('/', "%2F")
}

async fn connect(url: String, schema: &str) -> Result<PostgresStore, ConnectError> {
    PostgresStore::connect_with(
        PostgresOptions::new(url)
            .schema(schema)
            .migrate(false)
            .pool_size(2),
    )
    .await
}

/// Whether the session of one of `store`'s pooled connections is encrypted.
async fn encrypted(store: &PostgresStore) -> bool {
    let client = store.pool().get().await.expect("a pooled connection");
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

fn opened(account: u32) -> EventRecord {
    EventRecord::new(
        EventType::new("AccountOpened").expect("valid"),
        account.to_string(),
    )
    .with_tags([Tag::new(format!("account:{account}")).expect("valid")])
}

#[test]
fn require_encrypts_the_pool_and_the_notification_connection() {
    runtime(2).block_on(async {
        let Some((server, _, schema)) = setup().await else {
            return;
        };
        let require = server.url(&server.host, "sslmode=require");
        let writer = connect(require.clone(), schema.store.schema())
            .await
            .expect("sslmode=require connects without a root certificate");
        assert!(
            encrypted(&writer).await,
            "the pool's session is not encrypted"
        );
        // The follower polls once an hour, so only a notification (sent by
        // the writer's notification connection, received by the
        // follower's) wakes it in time. Under sslmode=require neither
        // connection can be made without TLS.
        let follower = PostgresStore::connect_with(
            PostgresOptions::new(require)
                .schema(schema.store.schema())
                .migrate(false)
                .poll_interval(Duration::from_hours(1)),
        )
        .await
        .expect("a second store");
        let mut subscription = follower.subscribe(Query::all(), None);
        let waiting = tokio::spawn(async move {
            tokio::time::timeout(HANG, subscription.next())
                .await
                .expect("a notification wakes the follower")
                .expect("the follower reads")
        });
        // Let the follower start listening before the append.
        tokio::time::timeout(HANG, async {
            while follower.notification_sessions() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the follower's notification connection starts");
        let position = writer
            .append(vec![opened(1)], None)
            .await
            .expect("append over TLS");
        assert_eq!(
            waiting.await.expect("the follower's task").position,
            position
        );
        assert_eq!(writer.notification_sessions(), 1);
        assert_eq!(follower.notification_sessions(), 1);
        let read = follower
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("read over TLS");
        assert_eq!(read.events.len(), 1);
    });
}

#[test]
fn verify_full_accepts_the_servers_certificate_for_its_name_only() {
    runtime(2).block_on(async {
        let Some((server, certificate, schema)) = setup().await else {
            return;
        };
        let root = percent_encoded(&certificate);
        let verified = format!("sslmode=verify-full&sslrootcert={root}");
        let store = connect(server.url(server.name(), &verified), schema.store.schema())
            .await
            .expect("the server's own certificate, trusted, for the name it was issued for");
        assert!(encrypted(&store).await);
        store
            .append(vec![opened(1)], None)
            .await
            .expect("append over verified TLS");
        let without_sni = connect(
            server.url(server.name(), &format!("{verified}&sslsni=0")),
            schema.store.schema(),
        )
        .await
        .expect("the same without the host name in the handshake");
        assert!(encrypted(&without_sni).await);

        if server.name() != server.host {
            // The same certificate does not name the address 127.0.0.1.
            let err = connect(server.url(&server.host, &verified), schema.store.schema())
                .await
                .expect_err("a certificate for another name is refused");
            assert!(matches!(err, ConnectError::Connect(_)), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains("issued for another host name"),
                "the error says what is wrong: {message}"
            );
            // verify-ca checks the signature only.
            let authority = format!("sslmode=verify-ca&sslrootcert={root}");
            let store = connect(server.url(&server.host, &authority), schema.store.schema())
                .await
                .expect("verify-ca accepts the trusted certificate under another name");
            assert!(encrypted(&store).await);
        }
    });
}

#[test]
fn an_untrusted_certificate_is_refused_and_the_options_can_trust_it() {
    runtime(2).block_on(async {
        let Some((server, certificate, schema)) = setup().await else {
            return;
        };
        // An authority that did not sign the server's certificate: the
        // test authority of `tls/`.
        let url = server.url(server.name(), &verify_full_with("ca.pem"));
        let err = connect(url.clone(), schema.store.schema())
            .await
            .expect_err("a certificate no trusted authority signed is refused");
        let message = err.to_string();
        assert!(
            message.contains("not trusted") && message.contains("sslrootcert"),
            "the error says what to do: {message}"
        );
        // The same URL, with the server's certificate trusted by the options.
        let pem = std::fs::read(&certificate).expect("the server's certificate");
        let store = PostgresStore::connect_with(
            PostgresOptions::new(url)
                .schema(schema.store.schema())
                .migrate(false)
                .tls_root_certificates(pem),
        )
        .await
        .expect("trusted through PostgresOptions::tls_root_certificates");
        assert!(encrypted(&store).await);
    });
}

#[test]
fn a_root_file_that_cannot_be_used_is_reported_before_connecting() {
    runtime(1).block_on(async {
        let missing = "postgres://postgres@localhost/test?sslmode=verify-full&sslrootcert=%2Fnonexistent%2Fca.pem";
        let err = connect(missing.to_owned(), "dcb")
            .await
            .expect_err("a missing root file");
        assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    });
}

/// The test authority's and the client's files (see `tls/README.md`).
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// What a TLS front presents, and whom it takes.
struct Front {
    /// The fixture of its certificate (and the key's, `.key` for `.pem`).
    certificate: &'static str,
    /// Like a server configured with `clientcert=verify-full`, it takes
    /// only clients with a certificate of the test authority.
    client_certificates: bool,
}

/// A TLS front for the test server: it answers PostgreSQL's `SSLRequest`,
/// completes the handshake as `front` says, and passes the bytes on to the
/// server in the clear. Returns its address (as `localhost`, the name its
/// certificates are issued for) and how many client certificates it has
/// accepted.
async fn tls_front(server: &Server, front: Front) -> (Server, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    #[allow(deprecated)] // the store's own provider (postgres/url/tls.rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = if front.client_certificates {
        let mut authority = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca.pem") {
            authority
                .add(certificate.expect("a certificate"))
                .expect("the authority");
        }
        let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(authority),
            provider,
        )
        .build()
        .expect("a client verifier");
        builder.with_client_cert_verifier(clients)
    } else {
        builder.with_no_client_auth()
    };
    let chain = CertificateDer::pem_file_iter(fixture(front.certificate))
        .expect("the front's certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("the front's chain");
    let key = PrivateKeyDer::from_pem_file(fixture(&front.certificate.replace(".pem", ".key")))
        .expect("the front's key");
    let config = builder
        .with_single_cert(chain, key)
        .expect("the front's identity");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the front");
    let port = listener.local_addr().expect("its address").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let target = format!("{}:{}", server.host, server.port);
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let target = target.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                // `SSLRequest`: length 8, code 80877103.
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_err()
                    || request != [0, 0, 0, 8, 4, 210, 22, 47]
                {
                    return;
                }
                if socket.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                if tls.get_ref().1.peer_certificates().is_some() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    let address = Server {
        host: "localhost".to_owned(),
        port,
        user: server.user.clone(),
        database: server.database.clone(),
    };
    (address, accepted)
}

#[test]
fn a_client_certificate_is_presented_when_the_server_asks_for_one() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(1).await else {
            return;
        };
        let server = Server::of_test_url();
        let (front, accepted) = tls_front(
            &server,
            Front {
                certificate: "server.pem",
                client_certificates: true,
            },
        )
        .await;
        let verified = verify_full_with("ca.pem");

        let err = connect(front.url("localhost", &verified), schema.store.schema())
            .await
            .expect_err("no client certificate, no connection");
        let message = err.to_string();
        assert!(
            message.contains("sslcert=PATH and sslkey=PATH"),
            "the error says what to do: {message}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 0);

        // The key stored encrypted: refused without its password or with
        // a wrong one, before anything reaches the front.
        let certificate = format!(
            "{verified}&sslcert={}",
            percent_encoded(&fixture("client.pem"))
        );
        let encrypted = format!(
            "{certificate}&sslkey={}",
            percent_encoded(&fixture("client-encrypted.key"))
        );
        for (settings, says) in [
            (encrypted.clone(), "give its password with sslpassword"),
            (
                format!("{encrypted}&sslpassword=wrong"),
                "the password is wrong",
            ),
        ] {
            let err = connect(front.url("localhost", &settings), schema.store.schema())
                .await
                .expect_err("the key cannot be used");
            assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
            assert!(err.to_string().contains(says), "{err}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0);

        // The key in the clear, then encrypted with its password (`dcb test
        // password`, percent-encoded).
        for (account, settings) in [
            (
                1,
                format!(
                    "{certificate}&sslkey={}",
                    percent_encoded(&fixture("client.key"))
                ),
            ),
            (2, format!("{encrypted}&sslpassword=dcb%20test%20password")),
        ] {
            let store = connect(front.url("localhost", &settings), schema.store.schema())
                .await
                .expect("the client's certificate, accepted by the front");
            let position = store
                .append(vec![opened(account)], None)
                .await
                .expect("append through the front");
            assert_eq!(
                schema.store.head().await.expect("head, directly"),
                Some(position)
            );
        }
        assert!(accepted.load(Ordering::SeqCst) >= 2);
    });
}

#[test]
fn a_revoked_certificate_is_refused_under_sslcrl() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(1).await else {
            return;
        };
        let server = Server::of_test_url();
        let crl = format!("sslcrl={}", percent_encoded(&fixture("crl.pem")));

        // A certificate of the revoking authority, on its list.
        let (revoked, _) = tls_front(
            &server,
            Front {
                certificate: "revoked.pem",
                client_certificates: false,
            },
        )
        .await;
        let verified = verify_full_with("crl-ca.pem");
        let store = connect(revoked.url("localhost", &verified), schema.store.schema())
            .await
            .expect("without the list, the certificate is trusted");
        store.head().await.expect("head through the front");
        for mode in ["verify-full", "verify-ca"] {
            let with_list = format!("{}&{crl}", verified.replace("verify-full", mode));
            let err = connect(revoked.url("localhost", &with_list), schema.store.schema())
                .await
                .expect_err("a revoked certificate, no connection");
            let message = err.to_string();
            assert!(
                message.contains("revoked by a list in sslcrl"),
                "the error says why ({mode}): {message}"
            );
        }

        // A certificate of another authority: the list says nothing of it,
        // and a certificate whose status is unknown is refused, as libpq
        // refuses it.
        let (other, _) = tls_front(
            &server,
            Front {
                certificate: "server.pem",
                client_certificates: false,
            },
        )
        .await;
        let trusted = verify_full_with("ca.pem");
        connect(other.url("localhost", &trusted), schema.store.schema())
            .await
            .expect("without the list, the other authority's certificate is trusted");
        let err = connect(
            other.url("localhost", &format!("{trusted}&{crl}")),
            schema.store.schema(),
        )
        .await
        .expect_err("no list of its authority, no connection");
        let message = err.to_string();
        assert!(
            message.contains("no revocation list of an authority"),
            "the error says why: {message}"
        );
    });
}
