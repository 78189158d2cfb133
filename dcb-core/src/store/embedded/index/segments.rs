//! Reading one indexed event from the log: the bytes its
//! [`Location`] names, copied from the segment's mapping (see [`mapped`]),
//! checked against the CRC-32 the index took of them, decoded in the format
//! of their segment.
//!
//! [`mapped`]: super::mapped

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use smallvec::SmallVec;

use super::location::Location;
use super::mapped::Mapped;
use crate::model::error::BackendError;
use crate::store::embedded::log::segment_path;
use crate::store::embedded::record::{self, Format, MAGIC_LEN, Names};
use crate::store::engine::Pos;
use crate::{Position, SequencedEvent};

/// The store's segments, each opened for reading on its first use.
pub(super) struct Segments {
    dir: PathBuf,
    open: RwLock<HashMap<u64, Arc<Segment>>>,
}

struct Segment {
    path: PathBuf,
    file: Mapped,
    format: Format,
}

impl Segment {
    /// The event at `position`, from `bytes`, read at `location` of this
    /// segment: checked against the location's CRC-32, then decoded,
    /// sharing the `names` of the events decoded before it.
    fn decode(
        &self,
        position: Pos,
        location: Location,
        bytes: Bytes,
        names: &mut Names,
    ) -> Result<SequencedEvent, BackendError> {
        let damaged = || {
            BackendError::new(format!(
                "the event at position {position} in the log {} (offset {}) does not match \
                 the index: the log is damaged, or the index is not this log's; delete the \
                 store's index/ directory to rebuild it from the log",
                self.path.display(),
                location.offset
            ))
        };
        if crc32fast::hash(&bytes) != location.crc {
            return Err(damaged());
        }
        let event = record::decode_event(bytes, self.format, names).ok_or_else(damaged)?;
        Ok(SequencedEvent {
            position: Position::new(position).ok_or_else(damaged)?,
            recorded_at: location.recorded_at,
            event,
        })
    }
}

/// Events of one segment read at once: `len` bytes from `start`, which
/// hold the events of `located`, copied to `at` in the read's buffer.
struct Piece<'l> {
    segment: Arc<Segment>,
    start: u64,
    len: usize,
    at: usize,
    located: &'l [(Pos, Location)],
}

/// The most bytes between two events that one read takes in: a record's
/// header and the start of its payload lie between the last event of a
/// record and the first of the next.
const MAX_GAP: u64 = 64;

/// The most bytes one read of several events takes in.
const MAX_READ: u64 = 1 << 20;

impl Segments {
    /// The store's directory, which holds the segments.
    #[cfg(test)]
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The segments of the store in `dir`.
    pub(super) fn new(dir: PathBuf) -> Segments {
        Segments {
            dir,
            open: RwLock::default(),
        }
    }

    /// The events at `located` (positions and their locations), appended
    /// to `out` in that order. Events that lie close together in one
    /// segment — a read in order of position — are read as one piece of up
    /// to [`MAX_READ`] bytes.
    ///
    /// The pieces are touched first, then copied into one buffer, then
    /// decoded: the memory under the pieces of a decision's read lies
    /// anywhere in the log, and touched together its fetches overlap,
    /// where one piece after another, each decoded before the next is
    /// copied, waits for each in turn.
    pub(super) fn events(
        &self,
        located: &[(Pos, Location)],
        out: &mut Vec<SequencedEvent>,
    ) -> Result<(), BackendError> {
        let pieces = self.pieces(located)?;
        if pieces.len() > 1 {
            // Every lock first: taking one waits for the loads before it.
            let held: SmallVec<[_; 16]> = pieces
                .iter()
                .map(|piece| piece.segment.file.hold())
                .collect();
            for (piece, held) in pieces.iter().zip(&held) {
                held.touch(piece.start);
            }
        }
        let len = pieces.last().map_or(0, |piece| piece.at + piece.len);
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|err| {
            BackendError::with_source(
                format!(
                    "cannot read {} events: no memory for {len} bytes",
                    located.len()
                ),
                err,
            )
        })?;
        bytes.resize(len, 0);
        for piece in &pieces {
            let (position, _) = piece.located[0];
            let segment = &piece.segment;
            segment
                .file
                .read_at(&mut bytes[piece.at..piece.at + piece.len], piece.start)
                .map_err(|err| {
                    BackendError::with_source(
                        format!(
                            "cannot read the event at position {position} from the log {} \
                             (offset {})",
                            segment.path.display(),
                            piece.start
                        ),
                        err,
                    )
                })?;
        }
        let bytes = Bytes::from(bytes);
        out.reserve(located.len());
        let mut names = Names::default();
        for piece in &pieces {
            for &(position, location) in piece.located {
                let from =
                    piece.at + usize::try_from(location.offset - piece.start).unwrap_or(usize::MAX);
                let event_bytes = bytes.slice(from..from + location.len as usize);
                out.push(
                    piece
                        .segment
                        .decode(position, location, event_bytes, &mut names)?,
                );
            }
        }
        Ok(())
    }

    /// `located` in pieces: runs of events that lie close together in one
    /// segment, each to be read at once.
    fn pieces<'l>(
        &self,
        located: &'l [(Pos, Location)],
    ) -> Result<SmallVec<[Piece<'l>; 16]>, BackendError> {
        let mut pieces: SmallVec<[Piece<'l>; 16]> = SmallVec::new();
        let mut rest = located;
        while let Some(&(_, first)) = rest.first() {
            let mut end = first.offset + u64::from(first.len);
            let mut count = 1;
            for &(_, next) in &rest[1..] {
                let next_end = next.offset + u64::from(next.len);
                let near = next.segment == first.segment
                    && next.offset >= end
                    && next.offset - end <= MAX_GAP
                    && next_end - first.offset <= MAX_READ;
                if !near {
                    break;
                }
                end = next_end;
                count += 1;
            }
            let (piece, after) = rest.split_at(count);
            let at = pieces.last().map_or(0, |last| last.at + last.len);
            pieces.push(Piece {
                segment: self.segment(first.segment)?,
                start: first.offset,
                len: usize::try_from(end - first.offset).unwrap_or(usize::MAX),
                at,
                located: piece,
            });
            rest = after;
        }
        Ok(pieces)
    }

    /// The segment starting at position `first`, opened if it is not yet.
    fn segment(&self, first: u64) -> Result<Arc<Segment>, BackendError> {
        if let Some(segment) = self.open.read().get(&first) {
            return Ok(Arc::clone(segment));
        }
        let path = segment_path(&self.dir, first);
        let cannot = |err: std::io::Error| {
            BackendError::with_source(
                format!("cannot open the log {} to read from it", path.display()),
                err,
            )
        };
        let file = Mapped::new(File::open(&path).map_err(cannot)?);
        let mut magic = [0; MAGIC_LEN];
        file.read_at(&mut magic, 0).map_err(cannot)?;
        let format = Format::of(&magic).ok_or_else(|| {
            BackendError::new(format!(
                "the log {} does not start as a segment of this store's log",
                path.display()
            ))
        })?;
        let segment = Arc::new(Segment { path, file, format });
        self.open.write().insert(first, Arc::clone(&segment));
        Ok(segment)
    }
}
