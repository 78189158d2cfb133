//! Wake-ups for subscriptions: `LISTEN`/`NOTIFY` between processes, a
//! direct wake-up inside one, and polling as the fallback.
//!
//! Appends do not notify inside their own transaction: a transaction that
//! notifies takes a database-wide lock for its commit, WAL flush included,
//! which would serialise every append like a table lock. Instead each store
//! has one connection of its own, opened on first use, that
//!
//! - sends `NOTIFY` for the appends of this process, outside their
//!   transactions: an append marks the store as notified-pending, and the
//!   connection sends one `pg_notify` for all appends that committed while
//!   the previous one was in flight (at most one in flight, so a busy store
//!   sends far fewer notifications than it commits appends, each without a
//!   WAL flush: the session runs with `synchronous_commit = off`, since a
//!   notification lost in a crash is harmless);
//! - `LISTEN`s on the same channel and wakes this process's waiting
//!   subscriptions when any process notifies.
//!
//! Appends of this process wake its own subscriptions at once. A
//! notification is only a hint — the subscription's next read decides what
//! is new — so a lost one costs latency, never an event: waiters also poll
//! the head every [`StoreOptions::poll_interval`](super::StoreOptions),
//! which carries subscriptions while the connection is down.
//!
//! A store made from the application's pool alone has no way to open a
//! connection of its own, and a pooled connection cannot listen (it goes
//! back to the pool, and others use it, between the notifications): such a
//! store sends its notifications through the pool, one pooled call for
//! each gathered group, and its waiters rely on polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::connector::{Connector, OnNotification};
use super::error::describe;
use super::migrate::quote;
use super::pool::discard;

/// How long the connection gathers appends before it sends one
/// notification for all of them: the most a subscription in another process
/// waits beyond the commit, and what keeps a busy store to about 200
/// notifications a second.
const GATHER: Duration = Duration::from_millis(5);

/// How long the connection waits before it tries again after a failure.
const RECONNECT: Duration = Duration::from_secs(1);

/// The `application_name` of the notification connection, so operators
/// can tell it apart in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "dcb-notifier";

/// The longest channel name PostgreSQL keeps (`NAMEDATALEN - 1`).
const MAX_CHANNEL_LEN: usize = 63;

/// The wake-up side of a PostgreSQL store's subscriptions.
#[derive(Debug)]
pub(super) struct Notifier {
    shared: Arc<Shared>,
    /// Asks the connection to send one notification; capacity one, so
    /// appends while one is pending coalesce.
    pending: mpsc::Sender<()>,
}

#[derive(Debug)]
struct Shared {
    channel: String,
    wake: Notify,
    /// How many times the connection has started listening.
    sessions: AtomicU64,
}

impl Notifier {
    /// Starts the connection's task for the store in `schema`: listening
    /// on a connection `listen` opens, or without one sending through
    /// `pool`. Call it from inside a tokio runtime; the task ends when the
    /// notifier is dropped.
    pub(super) fn start(listen: Option<Connector>, pool: Pool, schema: &str) -> Notifier {
        let mut channel = format!("dcb_{schema}");
        channel.truncate(MAX_CHANNEL_LEN);
        let shared = Arc::new(Shared {
            channel,
            wake: Notify::new(),
            sessions: AtomicU64::new(0),
        });
        let (pending, requests) = mpsc::channel(1);
        match listen {
            Some(listen) => tokio::spawn(run(listen, Arc::clone(&shared), requests)),
            None => tokio::spawn(send_through(pool, Arc::clone(&shared), requests)),
        };
        Notifier { shared, pending }
    }

    /// Tells waiting subscriptions, here and in other processes, that an
    /// append committed.
    pub(super) fn appended(&self) {
        self.shared.wake.notify_waiters();
        // Full means a notification is already pending: it covers this
        // append too.
        let _ = self.pending.try_send(());
    }

    /// How many times the connection has started listening: 1 while the
    /// first connection has lasted.
    pub(super) fn sessions(&self) -> u64 {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// A future that resolves at the next wake-up after its creation, even
    /// if it is first polled later.
    pub(super) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.shared.wake.notified()
    }
}

/// The connection's life: connect, listen, send the requested
/// notifications; on any failure, wake everyone (they may have missed a
/// notification), wait and start again. Ends when the notifier is dropped.
async fn run(listen: Connector, shared: Arc<Shared>, mut requests: mpsc::Receiver<()>) {
    let mut config = listen.config().clone();
    config.application_name(APPLICATION_NAME);
    loop {
        if let Some((client, mut connection)) = connect(&listen, &config, &shared).await {
            let setup = format!(
                "SET synchronous_commit = off; LISTEN {}",
                quote(&shared.channel)
            );
            // Prepared once: each notification is then one round trip.
            let notify = match client.batch_execute(&setup).await {
                Ok(()) => client.prepare(NOTIFY).await,
                Err(err) => Err(err),
            };
            let notify = notify
                .inspect_err(|err| {
                    tracing::warn!(
                        channel = %shared.channel,
                        error = %err,
                        "the notifier cannot listen; it reconnects"
                    );
                })
                .ok();
            if let Some(notify) = notify {
                shared.sessions.fetch_add(1, Ordering::Relaxed);
                // Appends may have committed while nobody listened.
                shared.wake.notify_waiters();
                loop {
                    tokio::select! {
                        request = requests.recv() => {
                            if request.is_none() {
                                connection.abort();
                                return;
                            }
                            // Appends arriving meanwhile leave one request
                            // behind, answered by the next notification.
                            tokio::time::sleep(GATHER).await;
                            if let Err(err) = client.execute(&notify, &[&shared.channel]).await {
                                tracing::warn!(
                                    channel = %shared.channel,
                                    error = %err,
                                    "the notifier lost its connection; it reconnects"
                                );
                                break;
                            }
                        }
                        _ = &mut connection => {
                            tracing::warn!(
                                channel = %shared.channel,
                                "the notifier's connection ended; it reconnects"
                            );
                            break;
                        }
                    }
                }
            }
            connection.abort();
        }
        shared.wake.notify_waiters();
        tokio::select! {
            () = tokio::time::sleep(RECONNECT) => {}
            request = requests.recv() => {
                if request.is_none() {
                    return;
                }
            }
        }
    }
}

/// Opens the connection, and spawns the task that drives it and turns its
/// notifications into wake-ups (it ends when the connection does).
async fn connect(
    listen: &Connector,
    config: &tokio_postgres::Config,
    shared: &Arc<Shared>,
) -> Option<(Client, JoinHandle<()>)> {
    let woken = Arc::clone(shared);
    let on_notification: OnNotification = Arc::new(move || woken.wake.notify_waiters());
    match listen.connect(config.clone(), on_notification).await {
        Ok(connected) => Some(connected),
        Err(err) => {
            tracing::warn!(
                channel = %shared.channel,
                error = %err,
                retry_in_ms = RECONNECT.as_millis(),
                "the notifier cannot connect; waiters poll until it does"
            );
            None
        }
    }
}

/// The notifier of a store without a connection of its own: sends the
/// requested notifications through `pool`, for the stores of other
/// processes that listen. Ends when the notifier is dropped.
async fn send_through(pool: Pool, shared: Arc<Shared>, mut requests: mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        tokio::time::sleep(GATHER).await;
        let sent = match pool.get().await {
            Ok(client) => {
                let sent = match client.prepare_cached(NOTIFY).await {
                    Ok(notify) => client.execute(&notify, &[&shared.channel]).await,
                    Err(err) => Err(err),
                };
                if sent.is_err() {
                    discard(client);
                }
                sent.map(drop).map_err(|err| describe(&err))
            }
            Err(err) => Err(describe(&err)),
        };
        if let Err(err) = sent {
            tracing::warn!(
                channel = %shared.channel,
                error = %err,
                "the notifier could not notify through the pool; other processes' \
                 subscriptions see the append when they poll"
            );
        }
    }
}

/// The notification the stores listening on the channel `$1` wait for.
const NOTIFY: &str = "SELECT pg_notify($1, '')";
