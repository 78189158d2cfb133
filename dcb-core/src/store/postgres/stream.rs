//! [`PostgresEvents`]: the rows of one read (a call of
//! `dcb_decision_read_by_first_tags` or `dcb_read`) as an [`EventStream`].

use std::pin::Pin;
use std::task::{Context, Poll};

use deadpool_postgres::Object;
use futures_core::Stream;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Row, RowStream};

use super::error::{backend_error, describe};
use super::params::JSONB_VERSION;
use super::pool::discard;
use crate::model::error::{BackendError, ReadError};
use crate::model::read::{EventStream, ReadOptions};
use crate::{
    EventRecord, EventType, Metadata, Position, Query, SequencedEvent, Tag, Tags, Timestamp, Uuid,
};

/// The events of a read from a [`PostgresStore`](super::PostgresStore),
/// streamed as the server sends them: the client holds what the network
/// buffers, not the whole result.
///
/// The first row of either read function is the snapshot's head; the
/// events follow.
pub struct PostgresEvents {
    rows: Pin<Box<RowStream>>,
    /// The connection, kept checked out until the rows are read, then
    /// returned to the pool (or discarded after an error).
    client: Option<Object>,
    options: ReadOptions,
    snapshot_head: Option<Position>,
    header_seen: bool,
    yielded: usize,
    last: Option<Position>,
    done: bool,
    failed: bool,
    /// The query of a decision's read whose rows may include events that
    /// match none of its items (an item with several tags is looked up by
    /// its first): those are skipped.
    recheck: Option<Query>,
}

impl PostgresEvents {
    pub(super) fn new(
        rows: RowStream,
        client: Object,
        options: ReadOptions,
        recheck: Option<Query>,
    ) -> PostgresEvents {
        PostgresEvents {
            rows: Box::pin(rows),
            client: Some(client),
            options,
            recheck,
            snapshot_head: None,
            header_seen: false,
            yielded: 0,
            last: None,
            done: false,
            failed: false,
        }
    }

    fn fail(&mut self, error: ReadError) -> Poll<Option<Result<SequencedEvent, ReadError>>> {
        self.done = true;
        self.failed = true;
        if let Some(client) = self.client.take() {
            discard(client);
        }
        Poll::Ready(Some(Err(error)))
    }
}

fn decode(row: &Row) -> Result<SequencedEvent, String> {
    let position: i64 = row.try_get(0).map_err(|e| describe(&e))?;
    let position = u64::try_from(position)
        .ok()
        .and_then(Position::new)
        .ok_or_else(|| format!("invalid position {position}"))?;
    let event_type: &str = row.try_get(1).map_err(|e| describe(&e))?;
    let event_type = EventType::new(event_type).map_err(|e| e.to_string())?;
    let data: Vec<u8> = row.try_get(2).map_err(|e| describe(&e))?;
    let tags: Vec<&str> = row.try_get(3).map_err(|e| describe(&e))?;
    let tags = tags
        .into_iter()
        .map(Tag::new)
        .collect::<Result<Tags, _>>()
        .map_err(|e| e.to_string())?;
    let id: Option<Uuid> = row.try_get(4).map_err(|e| describe(&e))?;
    let recorded_at: Option<RecordedAt> = row.try_get(5).map_err(|e| describe(&e))?;
    let metadata: Option<MetadataColumn> = row.try_get(6).map_err(|e| describe(&e))?;
    let mut event = EventRecord::new(event_type, data).with_tags(tags);
    if let Some(id) = id {
        event = event.with_id(id);
    }
    if let Some(MetadataColumn(metadata)) = metadata {
        event = event.with_metadata(metadata);
    }
    let event = SequencedEvent::new(position, event);
    Ok(match recorded_at {
        Some(RecordedAt(at)) => event.recorded(at),
        // A row written before migration 10.
        None => event,
    })
}

/// `events.recorded_at`, a `timestamptz`, read as the server sends it:
/// microseconds since 2000-01-01 UTC.
struct RecordedAt(Timestamp);

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 UTC.
const POSTGRES_EPOCH: i64 = 946_684_800_000_000;

impl<'a> FromSql<'a> for RecordedAt {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<RecordedAt, Box<dyn std::error::Error + Sync + Send>> {
        let micros = i64::from_be_bytes(raw.try_into()?);
        Ok(RecordedAt(Timestamp::from_micros(
            micros.saturating_add(POSTGRES_EPOCH),
        )))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

/// `events.metadata`, a `jsonb` object of strings.
struct MetadataColumn(Metadata);

impl<'a> FromSql<'a> for MetadataColumn {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<MetadataColumn, Box<dyn std::error::Error + Sync + Send>> {
        match raw.split_first() {
            Some((&JSONB_VERSION, json)) => Ok(MetadataColumn(serde_json::from_slice(json)?)),
            _ => Err("the metadata is not jsonb of version 1".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
}

impl Stream for PostgresEvents {
    type Item = Result<SequencedEvent, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match self.rows.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.done = true;
                    if !self.header_seen {
                        return self.fail(ReadError::Backend(BackendError::new(
                            "the read returned no head row; is the schema migrated?",
                        )));
                    }
                    // Back to the pool.
                    drop(self.client.take());
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    return self.fail(ReadError::Backend(backend_error(
                        "reading events failed",
                        e,
                    )));
                }
                Poll::Ready(Some(Ok(row))) => {
                    if !self.header_seen {
                        self.header_seen = true;
                        match row.try_get::<_, Option<i64>>(0) {
                            Ok(head) => {
                                self.snapshot_head = head
                                    .and_then(|h| u64::try_from(h).ok())
                                    .and_then(Position::new);
                            }
                            Err(e) => {
                                return self.fail(ReadError::Backend(backend_error(
                                    "the read returned an invalid head row",
                                    e,
                                )));
                            }
                        }
                        continue;
                    }
                    return match decode(&row) {
                        Ok(event)
                            if self
                                .recheck
                                .as_ref()
                                .is_some_and(|query| !query.matches(&event.event)) =>
                        {
                            continue;
                        }
                        Ok(event) => {
                            self.yielded += 1;
                            self.last = Some(event.position);
                            Poll::Ready(Some(Ok(event)))
                        }
                        Err(message) => self.fail(ReadError::Backend(BackendError::new(format!(
                            "the read returned an invalid event: {message}"
                        )))),
                    };
                }
            }
        }
    }
}

impl EventStream for PostgresEvents {
    fn head(&self) -> Option<Position> {
        let complete = self.done && !self.failed;
        if self.options.backwards {
            if complete { self.snapshot_head } else { None }
        } else if complete && self.options.limit != Some(self.yielded) {
            self.snapshot_head
        } else {
            self.last
        }
    }
}

impl std::fmt::Debug for PostgresEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEvents")
            .field("options", &self.options)
            .field("yielded", &self.yielded)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
