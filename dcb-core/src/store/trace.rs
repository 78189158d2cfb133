//! The `tracing` spans the stores open around their operations, with the
//! fields an operator filters on: the store (`memory`, `embedded`,
//! `postgres`), how many events, whether the append is conditional, and
//! its outcome (the position, or `conflict` / `error`).
//!
//! Every span is at `debug` level: without a subscriber that enables it,
//! opening one costs a load of the global level filter, and nothing else.

use std::future::Future;

use tracing::{Instrument as _, Span, field};

use crate::{AppendError, Position, Query, ReadOptions};

/// Runs an append of `events` events inside a span `append`, and records
/// its outcome there.
pub(crate) async fn append<F>(
    store: &'static str,
    events: usize,
    conditional: bool,
    append: F,
) -> Result<Position, AppendError>
where
    F: Future<Output = Result<Position, AppendError>>,
{
    let span = tracing::debug_span!(
        "append",
        store,
        events,
        conditional,
        position = field::Empty,
        outcome = field::Empty,
    );
    let result = append.instrument(span.clone()).await;
    record_append(&span, &result);
    result
}

/// Records an append's outcome on its span.
fn record_append(span: &Span, result: &Result<Position, AppendError>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(position) => {
            span.record("position", position.get());
            span.record("outcome", "appended");
        }
        Err(AppendError::ConditionFailed { conflicting }) => {
            span.record("position", conflicting.get());
            span.record("outcome", "conflict");
        }
        Err(err) => {
            span.record("outcome", "error");
            tracing::debug!(parent: span, error = %err, "the append failed");
        }
    }
}

/// The span `read` of a read of `query` with `options`.
pub(crate) fn read(store: &'static str, query: &Query, options: &ReadOptions) -> Span {
    tracing::debug_span!(
        "read",
        store,
        items = query.items().len(),
        after = options.after.map(Position::get),
        limit = options.limit,
        backwards = options.backwards,
    )
}
