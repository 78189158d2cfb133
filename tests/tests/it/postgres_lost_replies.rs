//! Faults of the PostgreSQL store (issue 6, item 6), the case the
//! terminations of `postgres_faults.rs` do not reach: an append that the
//! server commits, but whose reply never arrives because the connection
//! breaks in between. The store talks to the server through a proxy that,
//! when told to, swallows the server's next reply on one connection and
//! closes it. The server sends an append's reply only after its commit (the
//! reply is flushed at the end of the call), so the append is stored and
//! the caller gets an error: it must say the outcome is unknown, nothing may
//! be stored twice, and an idempotent retry with the same event ids must
//! return the original position. When the server is unreachable (and not
//! required) each test warns loudly and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dcb_core::postgres::PostgresOptions;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Position, Query, QueryItem,
    ReadOptions, Tag, Uuid,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::postgres_support::{raw_client, runtime, temp_schema_with, url};

/// A TCP proxy in front of the test server. Connections are numbered in
/// the order they are accepted; [`Proxy::swallow_next_reply`] makes the
/// server's next bytes on one of them vanish, and closes it both ways.
struct Proxy {
    addr: SocketAddr,
    /// The connection whose next reply to swallow, if armed.
    target: Arc<AtomicUsize>,
    armed: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(server: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let target = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicBool::new(false));
        let (t, a) = (Arc::clone(&target), Arc::clone(&armed));
        tokio::spawn(async move {
            let mut number = 0;
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(server).await else {
                    continue;
                };
                tokio::spawn(relay(
                    client,
                    upstream,
                    number,
                    Arc::clone(&t),
                    Arc::clone(&a),
                ));
                number += 1;
            }
        });
        Proxy {
            addr,
            target,
            armed,
        }
    }

    /// Makes the server's next reply on connection `number` vanish.
    fn swallow_next_reply(&self, number: usize) {
        self.target.store(number, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether the armed reply has been swallowed.
    fn swallowed(&self) -> bool {
        !self.armed.load(Ordering::SeqCst)
    }
}

/// Copies bytes both ways; server bytes on connection `number` while
/// armed are dropped, and the connection is closed.
async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    number: usize,
    target: Arc<AtomicUsize>,
    armed: Arc<AtomicBool>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = upstream.into_split();
    let to_server = tokio::spawn(async move {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buffer).await {
            if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n) = server_read.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        if target.load(Ordering::SeqCst) == number
            && armed
                .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // The reply is lost: the client sees the connection close.
            break;
        }
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    to_server.abort();
}

/// The test server's settings, from `DCB_POSTGRES_URL`.
fn server_config() -> tokio_postgres::Config {
    url().parse().expect("a valid DCB_POSTGRES_URL")
}

/// The test server's address (a socket path counts as 127.0.0.1).
fn server_addr(config: &tokio_postgres::Config) -> SocketAddr {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("127.0.0.1:{port}").parse())
        .expect("the server's address")
}

/// A URL for the test server's user and database at `via`.
fn url_via(config: &tokio_postgres::Config, via: SocketAddr) -> String {
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let dbname = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{user}{password}@{via}/{dbname}")
}

fn opened(account: &str) -> EventRecord {
    EventRecord::new(EventType::from_static("AccountOpened"), "{}")
        .with_tags([Tag::new(format!("account:{account}")).expect("a tag")])
}

fn account(name: &str) -> Query {
    Query::from(QueryItem::new().tags([Tag::new(format!("account:{name}")).expect("a tag")]))
}

/// A store on a pool of one connection through a fresh proxy; its pool's
/// connection is the proxy's connection 0 (the store opens it to migrate).
async fn proxied_store() -> Option<(Proxy, crate::postgres_support::TempSchema)> {
    raw_client().await?;
    let config = server_config();
    let proxy = Proxy::start(server_addr(&config)).await;
    let proxied = url_via(&config, proxy.addr);
    let temp = temp_schema_with(PostgresOptions::new(proxied).pool_size(1)).await?;
    Some((proxy, temp))
}

#[test]
fn an_append_whose_reply_is_lost_is_stored_once_and_its_retry_returns_its_position() {
    runtime(2).block_on(async {
        let Some((proxy, temp)) = proxied_store().await else {
            return;
        };
        let store = &temp.store;
        // Prepares the append statement on connection 0, so that the next
        // bytes the server sends there are the reply to the next append.
        store
            .append(vec![opened("warm").with_id(Uuid::new_v4())], None)
            .await
            .expect("a first append");

        let events: Vec<EventRecord> = (0..3)
            .map(|_| opened("ada").with_id(Uuid::new_v4()))
            .collect();
        let condition = AppendCondition::new(account("ada"));
        proxy.swallow_next_reply(0);
        let lost = store.append(events.clone(), Some(condition.clone())).await;
        assert!(proxy.swallowed(), "the proxy swallowed the append's reply");
        assert!(
            matches!(lost, Err(AppendError::Backend(_))),
            "an append without a reply is an error, got {lost:?}"
        );

        // It was committed before the reply was lost: stored, once, whole.
        let stored = store
            .read_to_end(&account("ada"), ReadOptions::new())
            .await
            .expect("read the account");
        let ids: Vec<_> = stored.events.iter().map(|e| e.event.id()).collect();
        let sent: Vec<_> = events.iter().map(EventRecord::id).collect();
        assert_eq!(ids, sent, "the append is stored whole, once");
        let original = stored.events.last().map(|e| e.position);

        // The retry with the same ids finds it and returns its position,
        // although its condition ("no event of the account yet") now fails.
        let retried = store
            .append(events, Some(condition))
            .await
            .expect("the idempotent retry");
        assert_eq!(Some(retried), original);
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("read everything");
        assert_eq!(all.events.len(), 4, "nothing is stored twice");
    });
}

#[test]
fn a_batched_append_whose_reply_is_lost_is_an_error_and_stored_once() {
    runtime(2).block_on(async {
        let Some((proxy, temp)) = proxied_store().await else {
            return;
        };
        let store = &temp.store;
        // A decision's append: one event without an id, under a condition,
        // which the store sends through its queue of batched appends.
        let append = || store.append(vec![opened("bo")], Some(AppendCondition::new(account("bo"))));
        store
            .append(vec![opened("warm")], None)
            .await
            .expect("a first append prepares the statement");
        proxy.swallow_next_reply(0);
        let lost = append().await;
        assert!(proxy.swallowed(), "the proxy swallowed the append's reply");
        let Err(AppendError::Backend(error)) = lost else {
            panic!("an append without a reply is an error, got {lost:?}");
        };
        assert!(
            error.to_string().contains("written completely or not at all"),
            "the error says the outcome is unknown: {error}"
        );
        // The store did not send it again on its own: it is stored once.
        let stored = store
            .read_to_end(&account("bo"), ReadOptions::new())
            .await
            .expect("read the account");
        assert_eq!(stored.events.len(), 1, "stored once: {:?}", stored.events);
        // And the store goes on: the same decision now conflicts with it.
        let again = append().await;
        let stored_at: Option<Position> = stored.events.first().map(|e| e.position);
        assert!(
            matches!(again, Err(AppendError::ConditionFailed { conflicting }) if Some(conflicting) == stored_at),
            "the decision's condition sees the stored event, got {again:?}"
        );
    });
}
