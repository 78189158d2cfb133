//! Connections from the store's pool: the error of a pool that gives none,
//! and closing a connection after a failed call.

use deadpool_postgres::Object;

use super::error::{PostgresError, backend_error};
use crate::model::error::BackendError;

/// What to say of a failed connection beyond the error itself — what went
/// wrong and what to do — or `None` for nothing more: a URL's TLS settings
/// explain a failed handshake by the setting that fixes it.
pub(super) type Explain = fn(&(dyn std::error::Error + 'static)) -> Option<String>;

/// The error of a pool that gives no connection, told by `explain` when it
/// knows more (on connect as on any later connection).
pub(super) fn no_connection(
    e: deadpool_postgres::PoolError,
    explain: Option<Explain>,
) -> BackendError {
    no_connections(e, explain)()
}

/// The errors of a pool that gives no connection, one for each caller
/// that asked for it; see [`no_connection`].
pub(super) fn no_connections(
    e: deadpool_postgres::PoolError,
    explain: Option<Explain>,
) -> impl Fn() -> BackendError {
    let message = explain
        .and_then(|explain| explain(&e))
        .unwrap_or_else(|| "no connection to PostgreSQL from the pool".to_owned());
    let e = PostgresError::new(e);
    move || backend_error(message.clone(), e.clone())
}

/// Closes a connection instead of returning it to the pool: after an error
/// it may be broken, or (after a cancelled call) still hold a session lock.
pub(super) fn discard(client: Object) {
    drop(Object::take(client));
}
