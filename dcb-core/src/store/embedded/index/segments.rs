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

use super::location::Location;
use super::mapped::Mapped;
use crate::model::error::BackendError;
use crate::store::embedded::log::segment_path;
use crate::store::embedded::record::{self, Format, MAGIC_LEN};
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
    /// segment: checked against the location's CRC-32, then decoded.
    fn decode(
        &self,
        position: Pos,
        location: Location,
        bytes: Bytes,
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
        let event = record::decode_event(bytes, self.format).ok_or_else(damaged)?;
        Ok(SequencedEvent {
            position: Position::new(position).ok_or_else(damaged)?,
            recorded_at: location.recorded_at,
            event,
        })
    }
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
    /// segment — a read in order of position — are read with one `pread`
    /// of up to [`MAX_READ`] bytes.
    pub(super) fn events(
        &self,
        located: &[(Pos, Location)],
        out: &mut Vec<SequencedEvent>,
    ) -> Result<(), BackendError> {
        out.reserve(located.len());
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
            let (group, after) = rest.split_at(count);
            self.read_group(first.segment, first.offset, end, group, out)?;
            rest = after;
        }
        Ok(())
    }

    /// Reads the bytes `start..end` of the segment `first` once and decodes
    /// the events of `group`, which lie within them.
    fn read_group(
        &self,
        first: u64,
        start: u64,
        end: u64,
        group: &[(Pos, Location)],
        out: &mut Vec<SequencedEvent>,
    ) -> Result<(), BackendError> {
        let segment = self.segment(first)?;
        let (position, _) = group[0];
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|err| {
            BackendError::with_source(
                format!("cannot read the event at position {position}: no memory for {len} bytes"),
                err,
            )
        })?;
        bytes.resize(len, 0);
        segment.file.read_at(&mut bytes, start).map_err(|err| {
            BackendError::with_source(
                format!(
                    "cannot read the event at position {position} from the log {} \
                     (offset {start})",
                    segment.path.display()
                ),
                err,
            )
        })?;
        let bytes = Bytes::from(bytes);
        for &(position, location) in group {
            let at = usize::try_from(location.offset - start).unwrap_or(usize::MAX);
            let event_bytes = bytes.slice(at..at + location.len as usize);
            out.push(segment.decode(position, location, event_bytes)?);
        }
        Ok(())
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
