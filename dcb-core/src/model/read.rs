//! Reading: [`ReadOptions`], the [`EventStream`] a read returns, and the
//! collected [`ReadResult`].

use futures_core::Stream;

use crate::model::error::{InvalidInput, ReadError};
use crate::{Position, SequencedEvent};

/// Where a read starts, how far it goes, and in which direction.
///
/// ```
/// use dcb_core::{Position, ReadOptions};
///
/// let latest_ten = ReadOptions::new().backwards().limit(10);
/// let next_page = ReadOptions::new().after(Position::new(500)).limit(100);
/// assert!(latest_ten.backwards && !next_page.backwards);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadOptions {
    /// Only events after this position (exclusive); `None` reads from the
    /// first event.
    pub after: Option<Position>,
    /// At most this many events; `None` reads all. Zero is invalid.
    pub limit: Option<usize>,
    /// Newest first instead of oldest first.
    pub backwards: bool,
}

impl ReadOptions {
    /// Read every matching event, oldest first.
    #[must_use]
    pub fn new() -> ReadOptions {
        ReadOptions::default()
    }

    /// Only events after `position` (exclusive).
    #[must_use]
    pub fn after(mut self, position: Option<Position>) -> ReadOptions {
        self.after = position;
        self
    }

    /// At most `limit` events.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> ReadOptions {
        self.limit = Some(limit);
        self
    }

    /// Newest first.
    #[must_use]
    pub fn backwards(mut self) -> ReadOptions {
        self.backwards = true;
        self
    }

    /// Checks the options every store rejects: a limit of zero.
    pub fn check(&self) -> Result<(), InvalidInput> {
        if self.limit == Some(0) {
            return Err(InvalidInput::ZeroLimit);
        }
        Ok(())
    }
}

/// The events of one read, streamed in position order (reversed for a
/// backwards read), and the read's head.
///
/// Reading a million events through a stream holds one batch at a time, not
/// the million.
///
/// # Contract for implementors
///
/// - The stream yields exactly the events matching the read's query in the
///   snapshot the read observed, respecting `after`, `limit` and direction.
///   Events appended after the read began are not yielded.
/// - [`head`](EventStream::head) never claims more than the stream has shown:
///   - once the stream has ended (yielded `None`), it is the last position of
///     the snapshot (`None` for an empty store), except for a forward read
///     that stopped at its limit, whose head is the position of the last event
///     yielded;
///   - before the end, a forward read reports the position of the last event
///     yielded so far (everything matching up to there has been shown), and a
///     backwards read reports `None`.
///
///   `None` is always safe: as the `after` of an append condition it means
///   "no matching event may exist at all".
/// - After an error item the stream ends.
pub trait EventStream: Stream<Item = Result<SequencedEvent, ReadError>> + Send + Unpin {
    /// The position up to which this read has shown every matching event;
    /// see the trait's contract.
    fn head(&self) -> Option<Position>;
}

/// A read collected into memory: the events and the head.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReadResult {
    /// The matching events, in the read's order.
    pub events: Vec<SequencedEvent>,
    /// The position up to which the read saw every matching event; use it as
    /// the `after` of the append condition.
    pub head: Option<Position>,
}

/// Collects a stream into a [`ReadResult`].
pub(crate) async fn collect<S: EventStream>(mut stream: S) -> Result<ReadResult, ReadError> {
    use futures_util::StreamExt;

    let mut events = Vec::with_capacity(stream.size_hint().0);
    while let Some(event) = stream.next().await {
        events.push(event?);
    }
    Ok(ReadResult {
        events,
        head: stream.head(),
    })
}
