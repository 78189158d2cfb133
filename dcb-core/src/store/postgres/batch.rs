//! Appends sent together: the single-event appends a store's callers make
//! while earlier appends are in flight travel as one call of
//! `dcb_append_batch`, in one transaction.
//!
//! A store runs at most [`PostgresOptions::append_batches`] append
//! transactions of this kind at once. An append made while fewer are
//! running is sent at once, alone, from its caller's task, through
//! `dcb_append` like any other append; one made while all are running waits
//! in the queue, and the next transaction to finish takes everything queued
//! (up to [`MAX_BATCH`] appends and [`MAX_BATCH_KEYS`] boundary keys) in one
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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use deadpool_postgres::Object;
use tokio::sync::oneshot;
use tokio_postgres::types::ToSql;

use super::error::PostgresError;
use super::locks::Boundary;
use super::params::{AppendParams, QueryShape, count, position_from, position_param};
use super::{Inner, append_failed, append_outcome, discard, no_connections};
use crate::model::error::{AppendError, BackendError};
use crate::{AppendCondition, EventRecord, Position};

/// The most appends one batch carries.
pub(super) const MAX_BATCH: usize = 32;

/// The most boundary keys the appends of one batch may take together
/// (counted per append, so shared keys count once per append): the batch
/// holds them all until it commits.
pub(super) const MAX_BATCH_KEYS: usize = 64;

/// A single-event append without ids, waiting for its batch.
pub(super) struct Pending {
    event: EventRecord,
    condition: Option<AppendCondition>,
    boundary: Boundary,
    reply: oneshot::Sender<Result<Position, AppendError>>,
}

/// The queue of a store's batched appends.
pub(super) struct Batcher {
    state: Mutex<State>,
    max_running: usize,
    batches: AtomicU64,
    appends: AtomicU64,
}

struct State {
    waiting: VecDeque<Pending>,
    running: usize,
}

/// What a store's batching has done so far; for tests.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchCounts {
    /// Appends waiting for a batch now.
    pub queued: usize,
    /// Batches sent.
    pub batches: u64,
    /// Appends sent in them.
    pub appends: u64,
}

impl Batcher {
    pub(super) fn new(max_running: usize) -> Batcher {
        Batcher {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                running: 0,
            }),
            max_running: max_running.max(1),
            batches: AtomicU64::new(0),
            appends: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements: a panic elsewhere
        // cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch from the queue, keeping the caller's place among the
    /// running batch transactions; or, with nothing queued, `None`, the
    /// place given back. One step under the lock, so that an append queued
    /// just after finds the place free and sends itself.
    fn next_or_release(&self) -> Option<Vec<Pending>> {
        let mut state = self.state();
        if state.waiting.is_empty() {
            state.running -= 1;
            None
        } else {
            Some(next_batch(&mut state.waiting))
        }
    }

    pub(super) fn counts(&self) -> BatchCounts {
        BatchCounts {
            queued: self.state().waiting.len(),
            batches: self.batches.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }
}

/// Appends `event` under `condition` in the next batch.
pub(super) async fn append(
    inner: &Arc<Inner>,
    event: EventRecord,
    condition: Option<AppendCondition>,
) -> Result<Position, AppendError> {
    let boundary = inner
        .keys
        .boundary(std::slice::from_ref(&event), condition.as_ref());
    let (reply, outcome) = oneshot::channel();
    let first = {
        let mut state = inner.batcher.state();
        state.waiting.push_back(Pending {
            event,
            condition,
            boundary,
            reply,
        });
        (state.running < inner.batcher.max_running).then(|| {
            state.running += 1;
            next_batch(&mut state.waiting)
        })
    };
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

/// Takes the appends at the front of the queue that fit in one batch.
fn next_batch(waiting: &mut VecDeque<Pending>) -> Vec<Pending> {
    let mut batch = Vec::new();
    let mut keys = 0;
    while let Some(next) = waiting.front() {
        let fits = batch.len() < MAX_BATCH && keys + next.boundary.len() <= MAX_BATCH_KEYS;
        if !batch.is_empty() && !fits {
            break;
        }
        keys += next.boundary.len();
        batch.extend(waiting.pop_front());
    }
    batch
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
        let Some(batch) = self.inner.batcher.next_or_release() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(lead(Arc::clone(&self.inner), batch));
        } else {
            // No runtime to send from (the store is being dropped with
            // it): the batch's callers are told their appends had no
            // outcome, and the place is given back.
            drop(batch);
            self.inner.batcher.state().running -= 1;
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
        let Some(next) = inner.batcher.next_or_release() else {
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
                    Err(e) => Err(append_failed(e)),
                };
                if outcome.is_ok() {
                    inner.notifier().appended();
                }
                let _ = pending.reply.send(outcome);
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.reply.send(Err(append_failed(e)));
            }
        }
        Err(e) => {
            let e = PostgresError::from(e);
            for pending in batch {
                let _ = pending.reply.send(Err(append_failed(e.clone())));
            }
        }
    }
}

fn lost() -> AppendError {
    AppendError::Backend(BackendError::new(
        "dcb_append_batch returned fewer outcomes than appends; is the schema migrated?",
    ))
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
            let no_connection = no_connections(e);
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
        inner.batcher.batches.fetch_add(1, Ordering::Relaxed);
        inner.batcher.appends.fetch_add(
            u64::try_from(batch.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    result
}

async fn send_alone(
    inner: &Inner,
    client: &Object,
    pending: &Pending,
) -> Result<Vec<Result<Position, AppendError>>, tokio_postgres::Error> {
    let events = std::slice::from_ref(&pending.event);
    let locks = inner.keys.locks_of(&pending.boundary, true);
    let params = AppendParams::with_locks(&inner.keys, events, pending.condition.as_ref(), locks);
    let statement = client.prepare_cached(&inner.append_sql).await?;
    let row = client.query_one(&statement, &params.as_sql()).await?;
    Ok(vec![append_outcome(&row)])
}

async fn send_together(
    inner: &Inner,
    client: &Object,
    batch: &[Pending],
) -> Result<Vec<Result<Position, AppendError>>, tokio_postgres::Error> {
    let params = BatchParams::new(inner, batch);
    let statement = client.prepare_cached(&inner.append_batch_sql).await?;
    let row = client.query_one(&statement, &params.as_sql()).await?;
    let outcomes: Vec<&str> = row.get(0);
    let positions: Vec<Option<i64>> = row.get(1);
    Ok((0..batch.len())
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
        .collect())
}

/// The parameters of one `dcb_append_batch` call (see its comment in
/// `sql/functions/dcb_append_batch.sql`).
struct BatchParams<'a> {
    types: Vec<&'a str>,
    data: Vec<&'a [u8]>,
    tags: Vec<&'a str>,
    tag_counts: Vec<i32>,
    locks: Vec<i64>,
    lock_modes: Vec<bool>,
    cond_items: Vec<i32>,
    cond_tag_counts: Vec<i32>,
    cond_type_counts: Vec<i32>,
    cond_ntags: Vec<i32>,
    cond_tags: Vec<&'a str>,
    cond_ntypes: Vec<i32>,
    cond_types: Vec<&'a str>,
    after: Vec<i64>,
}

impl<'a> BatchParams<'a> {
    fn new(inner: &Inner, batch: &'a [Pending]) -> BatchParams<'a> {
        let n = batch.len();
        let (locks, lock_modes) = inner
            .keys
            .for_batch(batch.iter().map(|p| &p.boundary), MAX_BATCH_KEYS);
        let mut params = BatchParams {
            types: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            tags: Vec::new(),
            tag_counts: Vec::with_capacity(n),
            locks,
            lock_modes,
            cond_items: Vec::with_capacity(n),
            cond_tag_counts: Vec::new(),
            cond_type_counts: Vec::new(),
            cond_ntags: Vec::with_capacity(n),
            cond_tags: Vec::new(),
            cond_ntypes: Vec::with_capacity(n),
            cond_types: Vec::new(),
            after: Vec::with_capacity(n),
        };
        for pending in batch {
            let event = &pending.event;
            params.types.push(event.event_type().as_str());
            params.data.push(event.data().as_ref());
            params
                .tags
                .extend(event.tags().iter().map(crate::Tag::as_str));
            params.tag_counts.push(count(event.tags().len()));
            match &pending.condition {
                None => {
                    params.cond_items.push(-1);
                    params.cond_ntags.push(0);
                    params.cond_ntypes.push(0);
                    params.after.push(0);
                }
                Some(condition) => {
                    let shape = QueryShape::of(&condition.fail_if_events_match);
                    params.cond_items.push(count(shape.tag_counts.len()));
                    params.cond_ntags.push(count(shape.tags.len()));
                    params.cond_ntypes.push(count(shape.types.len()));
                    params.cond_tag_counts.extend(shape.tag_counts);
                    params.cond_type_counts.extend(shape.type_counts);
                    params.cond_tags.extend(shape.tags);
                    params.cond_types.extend(shape.types);
                    params.after.push(condition.after.map_or(0, position_param));
                }
            }
        }
        params
    }

    fn as_sql(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.types,
            &self.data,
            &self.tags,
            &self.tag_counts,
            &self.locks,
            &self.lock_modes,
            &self.cond_items,
            &self.cond_tag_counts,
            &self.cond_type_counts,
            &self.cond_ntags,
            &self.cond_tags,
            &self.cond_ntypes,
            &self.cond_types,
            &self.after,
        ]
    }
}
