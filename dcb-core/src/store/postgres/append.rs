//! Appends: each is one call of a server function, in one transaction, and
//! its outcome is mapped here to `Result<Position, AppendError>`.
//!
//! An append of several events, or with ids, is one call of `dcb_append`.
//! A single-event append without an id — what a decision makes — goes
//! through the queue (`batch.rs`): while fewer than
//! [`PostgresOptions::append_batches`] batch transactions are in flight it
//! is sent at once, alone, from its caller's task, through `dcb_append`
//! like any other append; made while all are in flight, it waits, and the
//! next transaction to finish sends everything queued that fits in one
//! call of `dcb_append_batch`. Each append keeps its own condition and its
//! own outcome, exactly as if it had been sent alone in the order of the
//! batch: the batch takes every lock any of its appends would take, then
//! checks and inserts them one after the other, each check seeing the
//! appends before it. So under load the server commits (and flushes) once
//! per batch instead of once per append, and the per-call work is shared.
//! `docs/design.md` ("Appends sent together") gives the argument.
//!
//! The batches after the first run in a task of their own, so a caller
//! that stops waiting does not take the others' outcomes with it; an
//! append whose caller has gone before its batch is sent is left out of
//! it.
//!
//! [`PostgresOptions::append_batches`]: super::PostgresOptions::append_batches

use std::sync::Arc;

use deadpool_postgres::Object;
use tokio::sync::oneshot;

use super::Inner;
use super::batch::{BatchCounts, Batcher, Pending};
use super::error::{PostgresError, backend_error};
use super::migrate::render;
use super::params::{AppendParams, BatchParams, position_from};
use super::pool::{discard, no_connections};
use crate::model::error::{AppendError, BackendError};
use crate::{AppendCondition, EventRecord, Position};

/// One append: its outcome (`'ok'`, `'conflict'` or `'duplicate'`), a
/// position and the duplicate id.
const APPEND_SQL: &str = "SELECT outcome, pos, dup_id FROM __SCHEMA__.dcb_append(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// Single-event appends sent together: an outcome and a position each.
const APPEND_BATCH_SQL: &str = "SELECT outcomes, positions FROM __SCHEMA__.dcb_append_batch(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// What a store's appends need besides its pool and lock keys: their
/// statements and the queue of the appends sent together.
pub(super) struct Appends {
    append_sql: String,
    append_batch_sql: String,
    batcher: Batcher,
}

impl Appends {
    /// The appends of the store in `schema`, with at most `append_batches`
    /// batch transactions in flight.
    pub(super) fn new(schema: &str, append_batches: usize) -> Appends {
        Appends {
            append_sql: render(APPEND_SQL, schema),
            append_batch_sql: render(APPEND_BATCH_SQL, schema),
            batcher: Batcher::new(append_batches),
        }
    }

    /// What the batching has done so far.
    pub(super) fn counts(&self) -> BatchCounts {
        self.batcher.counts()
    }
}

/// Appends `events` under `condition`: the store's `append`.
pub(super) async fn append(
    inner: &Arc<Inner>,
    mut events: Vec<EventRecord>,
    condition: Option<AppendCondition>,
) -> Result<Position, AppendError> {
    inner.limits.check_append(&events)?;
    // One event without an id: batched with the appends made meanwhile.
    if events.len() == 1
        && events[0].id().is_none()
        && let Some(event) = events.pop()
    {
        return queued(inner, event, condition).await;
    }
    let params = AppendParams::new(&inner.keys, &events, condition.as_ref());
    let client = inner.client().await.map_err(AppendError::Backend)?;
    let result = async {
        let statement = client.prepare_cached(&inner.appends.append_sql).await?;
        client.query_one(&statement, &params.as_sql()).await
    }
    .await;
    match result {
        Ok(row) => {
            let outcome = outcome(&row);
            if outcome.is_ok() {
                inner.notifier().appended();
            }
            outcome
        }
        Err(e) => {
            discard(client);
            Err(failed(e))
        }
    }
}

/// Appends `events` under `condition` inside the caller's open
/// transaction; see `PostgresStore::append_in_transaction`.
pub(super) async fn append_in_transaction(
    inner: &Inner,
    transaction: &impl tokio_postgres::GenericClient,
    events: Vec<EventRecord>,
    condition: Option<AppendCondition>,
) -> Result<Position, AppendError> {
    inner.limits.check_append(&events)?;
    // The application's session may have JIT on, as PostgreSQL's default
    // is; `dcb_append`'s condition statements can be estimated above
    // `jit_above_cost` on a large store, and compiling them costs about
    // 10 ms a call. So JIT is turned off for the rest of the transaction,
    // in the round trip that asks its isolation.
    let isolation: String = transaction
        .query_one(
            "SELECT current_setting('transaction_isolation'), set_config('jit', 'off', true)",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    if isolation != "read committed" {
        return Err(AppendError::Backend(BackendError::new(format!(
            "an append inside an application's transaction needs READ COMMITTED isolation, \
             and this transaction is {isolation}: the condition is checked against the events \
             committed when the append has its locks, which an earlier snapshot does not show; \
             nothing was appended"
        ))));
    }
    let params = AppendParams::new(&inner.keys, &events, condition.as_ref());
    match transaction
        .query_one(&inner.appends.append_sql, &params.as_sql())
        .await
    {
        Ok(row) => outcome(&row),
        Err(e) => Err(failed(e)),
    }
}

/// Appends `event` under `condition` in the next batch.
async fn queued(
    inner: &Arc<Inner>,
    event: EventRecord,
    condition: Option<AppendCondition>,
) -> Result<Position, AppendError> {
    let boundary = inner
        .keys
        .boundary(std::slice::from_ref(&event), condition.as_ref());
    let (reply, outcome) = oneshot::channel();
    let first = inner.appends.batcher.enqueue(Pending {
        event,
        condition,
        boundary,
        reply,
    });
    if let Some(batch) = first {
        // A place was free, so nothing was queued before this append: it
        // goes alone, sent from the caller's task (no hop to another
        // task); what queues meanwhile is handed to a task of its own.
        let mut running = Running {
            inner: Arc::clone(inner),
            done: false,
        };
        run(inner, batch).await;
        running.hand_over();
    }
    outcome.await.unwrap_or_else(|_| {
        Err(AppendError::Backend(BackendError::new(
            "the append's batch ended without an outcome; the append may or may not be stored",
        )))
    })
}

/// One of the running batch transactions. When its batch is done, it
/// either gives its place back (nothing is queued) or hands it to a task
/// that sends what is queued; dropped before that (its caller stopped
/// waiting, or a panic), it does the same, so no queued append waits for a
/// sender that is gone.
struct Running {
    inner: Arc<Inner>,
    done: bool,
}

impl Running {
    /// Gives the place back, or hands it, with the queue's next batch, to a
    /// task of its own.
    fn hand_over(&mut self) {
        self.done = true;
        let Some(batch) = self.inner.appends.batcher.next_or_release() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(lead(Arc::clone(&self.inner), batch));
        } else {
            // No runtime to send from (the store is being dropped with
            // it): the batch's callers are told their appends had no
            // outcome, and the place is given back.
            drop(batch);
            self.inner.appends.batcher.release();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.hand_over();
        }
    }
}

/// Sends `batch`, then whatever has queued meanwhile, until the queue is
/// empty.
async fn lead(inner: Arc<Inner>, mut batch: Vec<Pending>) {
    let mut running = Running {
        inner: Arc::clone(&inner),
        done: false,
    };
    loop {
        run(&inner, batch).await;
        let Some(next) = inner.appends.batcher.next_or_release() else {
            running.done = true;
            return;
        };
        batch = next;
    }
}

/// Sends one batch and gives every append its outcome.
async fn run(inner: &Arc<Inner>, batch: Vec<Pending>) {
    let batch: Vec<Pending> = batch
        .into_iter()
        .filter(|pending| !pending.reply.is_closed())
        .collect();
    if batch.is_empty() {
        return;
    }
    match send(inner, &batch).await {
        Ok(outcomes) => {
            if outcomes.iter().any(Result::is_ok) {
                inner.notifier().appended();
            }
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let _ = pending.reply.send(outcome);
            }
        }
        // The server raised an error, so the transaction rolled back and
        // nothing of the batch is stored: each append is sent again alone,
        // so that an error one of them causes is its own.
        Err(e) if batch.len() > 1 && e.as_db_error().is_some() => {
            for pending in batch {
                let outcome = match send(inner, std::slice::from_ref(&pending)).await {
                    Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| Err(lost())),
                    Err(e) => Err(failed(e)),
                };
                if outcome.is_ok() {
                    inner.notifier().appended();
                }
                let _ = pending.reply.send(outcome);
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.reply.send(Err(failed(e)));
            }
        }
        Err(e) => {
            let e = PostgresError::from(e);
            for pending in batch {
                let _ = pending.reply.send(Err(failed(e.clone())));
            }
        }
    }
}

/// Sends `batch` in one call, one transaction: an append alone through
/// `dcb_append`, as every other append (its per-call work is the least),
/// several through `dcb_append_batch`. The outcome of each append, in order.
async fn send(
    inner: &Arc<Inner>,
    batch: &[Pending],
) -> Result<Vec<Result<Position, AppendError>>, tokio_postgres::Error> {
    let client = match inner.pool.get().await {
        Ok(client) => client,
        // No connection: nothing was sent.
        Err(e) => {
            let no_connection = no_connections(e, inner.explain);
            return Ok(batch
                .iter()
                .map(|_| Err(AppendError::Backend(no_connection())))
                .collect());
        }
    };
    let result = match batch {
        [alone] => send_alone(inner, &client, alone).await,
        _ => send_together(inner, &client, batch).await,
    };
    if result.is_err() {
        discard(client);
    } else {
        inner.appends.batcher.sent(batch.len());
    }
    result
}

async fn send_alone(
    inner: &Inner,
    client: &Object,
    pending: &Pending,
) -> Result<Vec<Result<Position, AppendError>>, tokio_postgres::Error> {
    let events = std::slice::from_ref(&pending.event);
    let locks = inner.keys.locks_of(&pending.boundary);
    let params = AppendParams::with_locks(&inner.keys, events, pending.condition.as_ref(), locks);
    let statement = client.prepare_cached(&inner.appends.append_sql).await?;
    let row = client.query_one(&statement, &params.as_sql()).await?;
    Ok(vec![outcome(&row)])
}

async fn send_together(
    inner: &Inner,
    client: &Object,
    batch: &[Pending],
) -> Result<Vec<Result<Position, AppendError>>, tokio_postgres::Error> {
    let params = BatchParams::new(&inner.keys, batch);
    let statement = client
        .prepare_cached(&inner.appends.append_batch_sql)
        .await?;
    let row = client.query_one(&statement, &params.as_sql()).await?;
    Ok(batch_outcomes(&row, batch.len()))
}

/// The outcome of a `dcb_append` call.
fn outcome(row: &tokio_postgres::Row) -> Result<Position, AppendError> {
    let outcome: &str = row.get(0);
    let position = row.get::<_, Option<i64>>(1).and_then(position_from);
    match (outcome, position) {
        ("ok", Some(position)) => Ok(position),
        ("conflict", Some(conflicting)) => Err(AppendError::ConditionFailed { conflicting }),
        ("duplicate", Some(position)) => match row.get::<_, Option<crate::Uuid>>(2) {
            Some(id) => Err(AppendError::DuplicateEventId { id, position }),
            None => Err(unexpected(outcome)),
        },
        _ => Err(unexpected(outcome)),
    }
}

/// The outcomes of the `appends` appends of a `dcb_append_batch` call.
fn batch_outcomes(row: &tokio_postgres::Row, appends: usize) -> Vec<Result<Position, AppendError>> {
    let outcomes: Vec<&str> = row.get(0);
    let positions: Vec<Option<i64>> = row.get(1);
    (0..appends)
        .map(|i| {
            let position = positions.get(i).copied().flatten().and_then(position_from);
            match (outcomes.get(i).copied(), position) {
                (Some("ok"), Some(position)) => Ok(position),
                (Some("conflict"), Some(conflicting)) => {
                    Err(AppendError::ConditionFailed { conflicting })
                }
                _ => Err(lost()),
            }
        })
        .collect()
}

/// The error of an append whose call failed.
fn failed(e: impl Into<PostgresError>) -> AppendError {
    AppendError::Backend(backend_error(
        "the append failed; it was written completely or not at all",
        e,
    ))
}

fn unexpected(outcome: &str) -> AppendError {
    AppendError::Backend(BackendError::new(format!(
        "dcb_append returned an unexpected outcome {outcome:?}; is the schema migrated?"
    )))
}

fn lost() -> AppendError {
    AppendError::Backend(BackendError::new(
        "dcb_append_batch returned fewer outcomes than appends; is the schema migrated?",
    ))
}
