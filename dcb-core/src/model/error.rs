//! Errors, one enum per operation.

use std::error::Error as StdError;
use std::fmt;

use uuid::Uuid;

use crate::{EventType, Position};

/// Input that no store accepts. Nothing is written when an append fails
/// with it, and retrying the same input fails the same way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// An append without events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// More events in one append than the store's limit allows.
    #[error("an append of {count} events is over the limit of {limit}; split it")]
    TooManyEvents {
        /// The number of events given.
        count: usize,
        /// The store's limit ([`Limits::max_events_per_append`](crate::Limits)).
        limit: usize,
    },
    /// An event larger than the store's limit.
    #[error(
        "event {index} ({event_type}) is {size} bytes, over the limit of {limit}; \
         store large payloads elsewhere or raise `Limits::max_event_size`"
    )]
    EventTooLarge {
        /// The event's index in the append.
        index: usize,
        /// The event's type.
        event_type: EventType,
        /// Its size ([`EventRecord::size`](crate::EventRecord::size)).
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// An event with more tags than the store's limit allows.
    #[error(
        "event {index} ({event_type}) has {count} tags, over the limit of {limit}; \
         tag it with fewer, or raise `Limits::max_tags_per_event` (at most {})",
        crate::Limits::CEILING.max_tags_per_event
    )]
    TooManyTags {
        /// The event's index in the append.
        index: usize,
        /// The event's type.
        event_type: EventType,
        /// The number of tags it carries.
        count: usize,
        /// The store's limit ([`Limits::max_tags_per_event`](crate::Limits)).
        limit: usize,
    },
    /// An append whose events together are larger than the store's limit.
    #[error(
        "an append of {size} bytes is over the limit of {limit}; split it, or raise \
         `Limits::max_append_size` (at most {})",
        crate::Limits::CEILING.max_append_size
    )]
    AppendTooLarge {
        /// The sum of its events' [`EventRecord::size`](crate::EventRecord::size).
        size: usize,
        /// The store's limit ([`Limits::max_append_size`](crate::Limits)).
        limit: usize,
    },
    /// An event whose metadata is larger than the store's limit.
    #[error(
        "event {index} ({event_type}) carries {size} bytes of metadata, over the limit of \
         {limit}; keep metadata to ids and short values, or raise `Limits::max_metadata_size` \
         (at most {})",
        crate::Limits::CEILING.max_metadata_size
    )]
    MetadataTooLarge {
        /// The event's index in the append.
        index: usize,
        /// The event's type.
        event_type: EventType,
        /// The bytes of its metadata's keys and values ([`Metadata::size`](crate::Metadata::size)).
        size: usize,
        /// The store's limit ([`Limits::max_metadata_size`](crate::Limits)).
        limit: usize,
    },
    /// An event whose metadata has an empty key, or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    #[error(
        "event {index} ({event_type}) has a metadata key of {len} bytes; a key is 1 to {} bytes",
        crate::MAX_NAME_LEN
    )]
    BadMetadataKey {
        /// The event's index in the append.
        index: usize,
        /// The event's type.
        event_type: EventType,
        /// The key's length in bytes.
        len: usize,
    },
    /// An event whose metadata holds a NUL character (U+0000), which
    /// PostgreSQL's text cannot store: every store refuses it, so that all
    /// accept the same input.
    #[error(
        "event {index} ({event_type}) carries a NUL character (U+0000) in its metadata, which \
         PostgreSQL cannot store; remove it, or encode the value (as base64, say)"
    )]
    NulInMetadata {
        /// The event's index in the append.
        index: usize,
        /// The event's type.
        event_type: EventType,
    },
    /// Two events of one append carry the same id.
    #[error("event {index} repeats id {id} of an earlier event in the same append")]
    DuplicateEventIdInAppend {
        /// The repeated id.
        id: Uuid,
        /// The index of the second event carrying it.
        index: usize,
    },
    /// A read with a limit of zero, which could return nothing.
    #[error("a read limit must be at least 1")]
    ZeroLimit,
}

/// A failure inside the store itself (I/O, a lost connection, corruption),
/// as opposed to a problem with the caller's input.
#[derive(Debug)]
pub struct BackendError {
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl BackendError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> BackendError {
        BackendError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure described by `message`, caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> BackendError {
        BackendError {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The read's options are invalid.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The store failed.
    #[error("the store failed to read: {0}")]
    Backend(#[source] BackendError),
}

/// Why an append failed. Whatever the variant, nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The append condition failed: an event matching its query exists after
    /// its `after` position. Read again, decide again, and retry.
    #[error(
        "append condition failed: event {conflicting} matches the condition's query \
         and was appended after the decision's read; read again and retry"
    )]
    ConditionFailed {
        /// The first event that matches the condition's query after its
        /// `after` position.
        conflicting: Position,
    },
    /// An event's id is already in the store, and the append is not an exact
    /// repeat of the append that stored it (which would have succeeded and
    /// returned the original position).
    #[error(
        "event id {id} is already stored at position {position} by a different append; \
         give new events new ids"
    )]
    DuplicateEventId {
        /// The id that is already stored.
        id: Uuid,
        /// Where the event with that id is stored.
        position: Position,
    },
    /// The events are invalid for this store.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The store failed; the append may be retried.
    #[error("the store failed to append: {0}")]
    Backend(#[source] BackendError),
    /// The store was opened for reading only; open it for writing to append.
    #[error("cannot append: {store} is open read-only")]
    ReadOnly {
        /// Which store, such as `the store in /var/lib/app`.
        store: String,
    },
}

impl AppendError {
    /// The first conflicting position, when the append condition failed.
    #[must_use]
    pub fn conflicting_position(&self) -> Option<Position> {
        match self {
            AppendError::ConditionFailed { conflicting } => Some(*conflicting),
            _ => None,
        }
    }
}
