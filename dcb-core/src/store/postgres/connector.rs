//! [`Connector`]: connections of the store's own, made with the
//! application's `tokio_postgres::Config` and TLS connector whatever the
//! connector's type.
//!
//! The pool takes the connector's type as deadpool does, when it is built;
//! the notification connection, opened and reopened for the store's whole
//! life, needs it later, so the connector is kept behind a function that
//! connects and drives the connection, its type erased.

use std::fmt;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Socket};

/// What a connection does with each notification it receives.
pub(super) type OnNotification = Arc<dyn Fn() + Send + Sync>;

/// Connects with `config`, spawns the task that drives the connection and
/// calls `on_notification` at each notification; the task ends with the
/// connection.
type Connect = dyn Fn(
        tokio_postgres::Config,
        OnNotification,
    ) -> BoxFuture<'static, Result<(Client, JoinHandle<()>), tokio_postgres::Error>>
    + Send
    + Sync;

/// Where and how to open a connection of the store's own.
#[derive(Clone)]
pub(super) struct Connector {
    config: tokio_postgres::Config,
    connect: Arc<Connect>,
}

impl Connector {
    /// Connects to `config` through `tls`, which may be any connector
    /// `tokio_postgres::connect` takes (the bounds are deadpool's).
    pub(super) fn new<T>(config: tokio_postgres::Config, tls: T) -> Connector
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let connect = move |config: tokio_postgres::Config, on_notification: OnNotification| {
            let tls = tls.clone();
            let connecting: BoxFuture<'static, _> = Box::pin(async move {
                let (client, mut connection) = config.connect(tls).await?;
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(_) = message {
                            on_notification();
                        }
                    }
                });
                Ok((client, driver))
            });
            connecting
        };
        Connector {
            config,
            connect: Arc::new(connect),
        }
    }

    /// Where it connects.
    pub(super) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Opens a connection to `config` (this connector's, changed as the
    /// caller needs) and spawns its driver; see [`Connect`].
    pub(super) async fn connect(
        &self,
        config: tokio_postgres::Config,
        on_notification: OnNotification,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        (self.connect)(config, on_notification).await
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug hides its password.
        f.debug_struct("Connector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
