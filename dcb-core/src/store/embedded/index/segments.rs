//! Reading one indexed event from the log: the bytes its
//! [`Location`] names, checked against the CRC-32 the index took of them,
//! decoded in the format of their segment.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::location::Location;
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
    file: File,
    format: Format,
}

impl Segments {
    /// The segments of the store in `dir`.
    pub(super) fn new(dir: PathBuf) -> Segments {
        Segments {
            dir,
            open: RwLock::default(),
        }
    }

    /// The event at `position`, which lies at `location`.
    pub(super) fn event(
        &self,
        position: Pos,
        location: Location,
    ) -> Result<SequencedEvent, BackendError> {
        let segment = self.segment(location.segment)?;
        let mut bytes = vec![0; location.len as usize];
        read_at(&segment.file, &mut bytes, location.offset).map_err(|err| {
            BackendError::with_source(
                format!(
                    "cannot read the event at position {position} from the log {} \
                     (offset {})",
                    segment.path.display(),
                    location.offset
                ),
                err,
            )
        })?;
        let damaged = || {
            BackendError::new(format!(
                "the event at position {position} in the log {} (offset {}) does not match \
                 the index: the log is damaged, or the index is not this log's; delete the \
                 store's index/ directory to rebuild it from the log",
                segment.path.display(),
                location.offset
            ))
        };
        if crc32fast::hash(&bytes) != location.crc {
            return Err(damaged());
        }
        let event = record::decode_event(Bytes::from(bytes), segment.format).ok_or_else(damaged)?;
        Ok(SequencedEvent {
            position: Position::new(position).ok_or_else(damaged)?,
            recorded_at: location.recorded_at,
            event,
        })
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
        let file = File::open(&path).map_err(cannot)?;
        let mut magic = [0; MAGIC_LEN];
        read_at(&file, &mut magic, 0).map_err(cannot)?;
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

/// Fills `buf` from `file` at `offset`, leaving the file's cursor alone.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`.
#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
