//! Connections from the store's pool: the error of a pool that gives none,
//! and closing a connection after a failed call.

use deadpool_postgres::Object;

use super::error::{PostgresError, backend_error};
use super::tls;
use crate::model::error::BackendError;

/// The error of a pool that gives no connection: when a TLS handshake
/// failed, it says why and which setting fixes it, on connect as on any
/// later connection.
pub(super) fn no_connection(e: deadpool_postgres::PoolError) -> BackendError {
    no_connections(e)()
}

/// The errors of a pool that gives no connection, one for each caller
/// that asked for it; see [`no_connection`].
pub(super) fn no_connections(e: deadpool_postgres::PoolError) -> impl Fn() -> BackendError {
    let message =
        tls::explain(&e).unwrap_or_else(|| "no connection to PostgreSQL from the pool".to_owned());
    let e = PostgresError::new(e);
    move || backend_error(message.clone(), e.clone())
}

/// Closes a connection instead of returning it to the pool: after an error
/// it may be broken, or (after a cancelled call) still hold a session lock.
pub(super) fn discard(client: Object) {
    drop(Object::take(client));
}
