//! [`LogScan`]: the events of a log found by reading the log itself, for a
//! read-only store that holds no index.
//!
//! A read-only store cannot use the index on disk (fjall admits one
//! process per database, and the writer holds it). Holding an index of
//! every event in memory instead costs about 700 bytes per event, and
//! reading the whole log to build it costs seconds per million events. A
//! store opened with
//! [`open_read_only_scanning`](super::EmbeddedStore::open_read_only_scanning)
//! does neither: the log up to its end at the open is kept below the
//! engine as a `LogScan`, which answers each question by reading the
//! segments in order, from the nearest *mark* before the position asked
//! for. Marks (a record's first position and offset, one per
//! [`MARK_SPACING`] of log) are taken as scans pass, so reading on from
//! where the last read stopped — a subscription, a listing, a read model
//! catching up — reads each byte once; a selective query reads the whole
//! range it covers.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;
use parking_lot::Mutex;
use uuid::Uuid;

use super::record::{self, Format, Found, HEADER_LEN};
use crate::model::error::BackendError;
use crate::store::engine::{Below, Pos};
use crate::{EventRecord, Position, Query, SequencedEvent, Timestamp};

/// The log bytes between two marks of a segment, at least.
const MARK_SPACING: u64 = 1 << 20;

/// The bytes read from a segment at once, unless a record is longer.
const CHUNK: u64 = 1 << 20;

/// The log up to a position, read by scanning; see the [module](self).
pub(super) struct LogScan {
    segments: Vec<Segment>,
    /// The last position kept: events after it are not read.
    end: Pos,
}

/// One segment of the log.
pub(super) struct Segment {
    /// The position of its first event.
    first: Pos,
    path: PathBuf,
    file: File,
    format: Format,
    /// The offset its whole records end at, as far as they are kept.
    limit: u64,
    /// Record starts (first position, offset), in order, one per
    /// [`MARK_SPACING`] at most.
    marks: Mutex<Vec<(Pos, u64)>>,
}

impl Segment {
    /// The segment at `path`, whose first event is at `first`, in `format`,
    /// its records kept up to offset `limit`.
    pub(super) fn new(
        first: Pos,
        path: PathBuf,
        file: File,
        format: Format,
        limit: u64,
    ) -> Segment {
        Segment {
            first,
            path,
            file,
            format,
            limit,
            marks: Mutex::new(vec![(first, record::MAGIC_LEN as u64)]),
        }
    }

    /// The last mark at or before position `from`.
    fn mark_before(&self, from: Pos) -> (Pos, u64) {
        let marks = self.marks.lock();
        let after = marks.partition_point(|&(position, _)| position <= from);
        marks[after.saturating_sub(1)]
    }

    /// Notes that a record starting with `position` is at `offset`.
    fn mark(&self, position: Pos, offset: u64) {
        let mut marks = self.marks.lock();
        if marks
            .last()
            .is_some_and(|&(_, last)| offset >= last + MARK_SPACING)
        {
            marks.push((position, offset));
        }
    }

    fn damaged(&self, offset: u64, reason: &str) -> BackendError {
        BackendError::new(format!(
            "the log {} is damaged at byte {offset} ({reason}); open the store for writing to \
             recover it",
            self.path.display()
        ))
    }

    /// Calls `visit` with each event from position `from` to `upto`, in
    /// order, until it returns `false`; returns whether it did.
    fn scan(
        &self,
        from: Pos,
        upto: Pos,
        visit: &mut dyn FnMut(Pos, &EventRecord, Option<Timestamp>) -> bool,
    ) -> Result<bool, BackendError> {
        let (mut next, offset) = self.mark_before(from);
        let mut chunks = Chunks::new(&self.file, offset, self.limit);
        while next <= upto {
            let offset = chunks.offset();
            let Some((chunk, at)) = chunks.record().map_err(|e| {
                BackendError::new(format!(
                    "cannot read the log {} at byte {offset}: {e}",
                    self.path.display()
                ))
            })?
            else {
                if offset < self.limit {
                    return Err(self.damaged(offset, "the record is cut short"));
                }
                break;
            };
            match record::decode(chunk, at, self.format) {
                Found::Record {
                    first,
                    recorded_at,
                    events,
                    len,
                } => {
                    if first != next {
                        return Err(self.damaged(
                            offset,
                            &format!("a record for position {first} where {next} was expected"),
                        ));
                    }
                    self.mark(first, offset);
                    for (event, position) in events.iter().zip(first..) {
                        if position > upto {
                            return Ok(false);
                        }
                        if position >= from && !visit(position, event, recorded_at) {
                            return Ok(true);
                        }
                    }
                    next = first + events.len() as Pos;
                    chunks.advance(len);
                }
                Found::End => break,
                Found::Damaged(reason) => return Err(self.damaged(offset, reason)),
            }
        }
        Ok(false)
    }
}

/// A segment's records read a chunk at a time, up to a limit: each call
/// to [`record`](Self::record) gives a chunk holding the whole record at
/// the reader's offset (whole by its header's length; the caller decodes
/// and checks it).
pub(super) struct Chunks<'f> {
    file: &'f File,
    limit: u64,
    offset: u64,
    chunk: Bytes,
    /// Where `offset` is in `chunk`.
    at: usize,
}

impl<'f> Chunks<'f> {
    /// The records of `file` from `offset` up to `limit`.
    pub(super) fn new(file: &'f File, offset: u64, limit: u64) -> Chunks<'f> {
        Chunks {
            file,
            limit,
            offset,
            chunk: Bytes::new(),
            at: 0,
        }
    }

    /// The offset of the next record.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// A chunk holding the whole record at the offset, and where in it
    /// the record starts; `None` when the bytes up to the limit hold no
    /// whole record there.
    pub(super) fn record(&mut self) -> std::io::Result<Option<(&Bytes, usize)>> {
        let mut fresh = false;
        while self.offset < self.limit {
            let (chunk, at) = (&self.chunk, self.at);
            let avail = chunk.len() - at;
            let need = if avail >= HEADER_LEN {
                let n =
                    u32::from_le_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]]);
                HEADER_LEN + n as usize
            } else {
                HEADER_LEN
            };
            if avail >= need {
                return Ok(Some((&self.chunk, self.at)));
            }
            if fresh && self.offset + chunk.len() as u64 >= self.limit {
                // The bytes end before the record does.
                break;
            }
            let want = CHUNK.max(need as u64).min(self.limit - self.offset);
            let mut buffer = vec![0; usize::try_from(want).unwrap_or(usize::MAX)];
            let read = read_up_to(self.file, &mut buffer, self.offset)?;
            if read < buffer.len() {
                // The file ends before the limit: a writer cut off the
                // zeros it wrote ahead of its records.
                buffer.truncate(read);
                self.limit = self.offset + read as u64;
            }
            self.chunk = Bytes::from(buffer);
            self.at = 0;
            fresh = true;
        }
        Ok(None)
    }

    /// Moves past the record of `len` bytes that [`record`](Self::record)
    /// gave.
    pub(super) fn advance(&mut self, len: usize) {
        self.offset += len as u64;
        self.at += len;
    }
}

/// Reads `buffer.len()` bytes of `file` at `offset`, or fewer where the
/// file ends first; returns how many. The last segment can end sooner than
/// its length said a moment ago: the writer cuts the zeros it wrote ahead
/// of its records when it is done with the segment, and an open after a
/// crash cuts those left.
pub(super) fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

impl LogScan {
    /// The log of `segments`, in order, up to position `end`.
    pub(super) fn new(segments: Vec<Segment>, end: Pos) -> LogScan {
        LogScan { segments, end }
    }

    /// The index in `segments` of the segment holding `position`.
    fn segment_of(&self, position: Pos) -> usize {
        self.segments
            .partition_point(|segment| segment.first <= position)
            .saturating_sub(1)
    }

    /// Calls `visit` with each event from position `from` to `upto` (at
    /// most the end), in order, until it returns `false`.
    fn scan(
        &self,
        from: Pos,
        upto: Pos,
        visit: &mut dyn FnMut(Pos, &EventRecord, Option<Timestamp>) -> bool,
    ) -> Result<(), BackendError> {
        let upto = upto.min(self.end);
        if from > upto {
            return Ok(());
        }
        for segment in &self.segments[self.segment_of(from)..] {
            if segment.first > upto || segment.scan(from, upto, visit)? {
                break;
            }
        }
        Ok(())
    }
}

fn sequenced(position: Pos, event: &EventRecord, recorded_at: Option<Timestamp>) -> SequencedEvent {
    SequencedEvent {
        position: Position::new(position).unwrap_or(Position::FIRST),
        recorded_at,
        event: event.clone(),
    }
}

impl Below for LogScan {
    fn first_match(
        &self,
        query: &Query,
        after: Pos,
        upto: Pos,
    ) -> Result<Option<Pos>, BackendError> {
        let mut found = None;
        self.scan(after + 1, upto, &mut |position, event, _| {
            if query.matches(event) {
                found = Some(position);
            }
            found.is_none()
        })?;
        Ok(found)
    }

    fn read(
        &self,
        query: &Query,
        range: (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<SequencedEvent>,
    ) -> Result<bool, BackendError> {
        let (after, upto) = (range.0, range.1.min(self.end));
        if after >= upto || max == 0 {
            return Ok(after >= upto);
        }
        if !backwards {
            let mut kept = 0;
            self.scan(after + 1, upto, &mut |position, event, at| {
                if query.matches(event) {
                    out.push(sequenced(position, event, at));
                    kept += 1;
                }
                kept < max
            })?;
            return Ok(kept < max);
        }
        // Newest first: each segment from the last, keeping its last
        // matches, until `max` are kept.
        let mut wanted = max;
        let mut hi = upto;
        for segment in self.segments[self.segment_of(after + 1)..=self.segment_of(upto)]
            .iter()
            .rev()
        {
            let lo = segment.first.max(after + 1);
            let mut last: VecDeque<SequencedEvent> = VecDeque::new();
            let mut more = false;
            segment.scan(lo, hi, &mut |position, event, at| {
                if query.matches(event) {
                    if last.len() == wanted {
                        last.pop_front();
                        more = true;
                    }
                    last.push_back(sequenced(position, event, at));
                }
                true
            })?;
            wanted -= last.len();
            out.extend(last.into_iter().rev());
            if wanted == 0 {
                return Ok(!more && lo == after + 1);
            }
            hi = segment.first.saturating_sub(1);
        }
        Ok(true)
    }

    fn position_of_id(&self, id: &Uuid) -> Result<Option<Pos>, BackendError> {
        let mut found = None;
        self.scan(1, self.end, &mut |position, event, _| {
            if event.id() == Some(*id) {
                found = Some(position);
            }
            found.is_none()
        })?;
        Ok(found)
    }

    fn event(&self, position: Pos) -> Result<Option<EventRecord>, BackendError> {
        let mut found = None;
        self.scan(position, position, &mut |_, event, _| {
            found = Some(event.clone());
            false
        })?;
        Ok(found)
    }

    fn has_ids(&self) -> bool {
        // Unknown without a scan; only appends ask, and a read-only store
        // takes none.
        true
    }
}
