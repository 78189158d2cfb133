//! The segment log: recovery on open, durable appends, rotation.
//!
//! A store directory holds segment files named by the position of their
//! first event (`00000000000000000001.log`), each starting with an 8-byte
//! magic, followed by [records](super::record). Appends go to the last
//! segment; a new segment starts once the last one is over the size limit.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::record::{self, Found};
use super::{OpenError, Recovery};
use crate::Event;

/// The first bytes of every segment.
const MAGIC: &[u8; 8] = b"DCBLOG1\n";

/// The open, last segment that appends go to.
pub(super) struct Log {
    dir: PathBuf,
    active: File,
    active_path: PathBuf,
    active_len: u64,
    segment_limit: u64,
}

/// What recovery read: the events in order, and what it repaired.
pub(super) struct Replayed {
    pub(super) records: Vec<Vec<Event>>,
    pub(super) recovery: Recovery,
}

impl Log {
    /// Opens the log in `dir` (created if missing), reading every segment
    /// and truncating a torn tail. `next` is the position the log continues
    /// at.
    pub(super) fn open(dir: &Path, segment_limit: u64) -> Result<(Log, Replayed), OpenError> {
        let mut segments = list_segments(dir)?;
        let mut records = Vec::new();
        let mut recovery = Recovery::default();
        let mut next = 1u64;
        let count = segments.len();
        for (i, (first, path)) in segments.iter().enumerate() {
            let last_segment = i + 1 == count;
            if *first != next {
                return Err(OpenError::Corrupt {
                    file: path.clone(),
                    offset: 0,
                    reason: format!(
                        "the segment starts at position {first}, but the log continues at {next}"
                    ),
                });
            }
            let bytes = Bytes::from(fs::read(path).map_err(|e| OpenError::io(path, e))?);
            if last_segment && bytes.len() < MAGIC.len() && MAGIC.starts_with(&bytes) {
                // A crash while a new segment was being created: it holds
                // nothing yet, so it is made again below.
                fs::remove_file(path).map_err(|e| OpenError::io(path, e))?;
                sync_dir(dir)?;
                recovery.truncated = Some((path.clone(), 0, bytes.len() as u64));
                continue;
            }
            let end = replay_segment(path, &bytes, last_segment, &mut next, &mut records)?;
            if end < bytes.len() {
                // Only the last segment can end in a torn write (checked above).
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| OpenError::io(path, e))?;
                file.set_len(end as u64)
                    .map_err(|e| OpenError::io(path, e))?;
                file.sync_all().map_err(|e| OpenError::io(path, e))?;
                recovery.truncated = Some((path.clone(), end as u64, (bytes.len() - end) as u64));
            }
        }
        recovery.events = next - 1;
        segments.retain(|(_, path)| path.exists());
        recovery.segments = segments.len();
        let (active_path, active_len) = if let Some((_, path)) = segments.pop() {
            let len = fs::metadata(&path)
                .map_err(|e| OpenError::io(&path, e))?
                .len();
            (path, len)
        } else {
            (create_segment(dir, next)?, MAGIC.len() as u64)
        };
        let active = OpenOptions::new()
            .append(true)
            .open(&active_path)
            .map_err(|e| OpenError::io(&active_path, e))?;
        let log = Log {
            dir: dir.to_owned(),
            active,
            active_path,
            active_len,
            segment_limit,
        };
        Ok((log, Replayed { records, recovery }))
    }

    /// Writes `bytes` (whole records) and makes them durable. On a write
    /// error the segment is cut back to where it was, so the log stays
    /// whole; `Err(Sync)` means durability is unknown and the log must not
    /// be used further.
    pub(super) fn append(&mut self, bytes: &[u8], next: u64) -> Result<(), WriteError> {
        if let Err(err) = self.active.write_all(bytes) {
            return match self.active.set_len(self.active_len) {
                Ok(()) => Err(WriteError::Write(err)),
                Err(_) => Err(WriteError::Sync(err)),
            };
        }
        self.active.sync_data().map_err(WriteError::Sync)?;
        self.active_len += bytes.len() as u64;
        if self.active_len >= self.segment_limit {
            self.rotate(next).map_err(WriteError::Sync)?;
        }
        Ok(())
    }

    /// Starts a new segment for the events from position `next` on.
    fn rotate(&mut self, next: u64) -> std::io::Result<()> {
        let path = create_segment(&self.dir, next).map_err(|e| match e {
            OpenError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        })?;
        self.active = OpenOptions::new().append(true).open(&path)?;
        self.active_path = path;
        self.active_len = MAGIC.len() as u64;
        Ok(())
    }

    /// The segment appends go to.
    pub(super) fn active_path(&self) -> &Path {
        &self.active_path
    }
}

/// Why an append to the log failed.
#[derive(Debug)]
pub(super) enum WriteError {
    /// Nothing was written (the segment was cut back); the log is usable.
    Write(std::io::Error),
    /// Whether the data is durable is unknown.
    Sync(std::io::Error),
}

/// Reads the records of one segment into `records`; returns where its
/// valid data ends.
fn replay_segment(
    path: &Path,
    bytes: &Bytes,
    last_segment: bool,
    next: &mut u64,
    records: &mut Vec<Vec<Event>>,
) -> Result<usize, OpenError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(OpenError::NotAStore {
            file: path.to_owned(),
        });
    }
    let mut offset = MAGIC.len();
    loop {
        match record::decode(bytes, offset) {
            Found::Record { first, events, len } => {
                if first != *next {
                    return Err(OpenError::Corrupt {
                        file: path.to_owned(),
                        offset: offset as u64,
                        reason: format!(
                            "the record is for position {first}, but the log continues at {next}"
                        ),
                    });
                }
                *next += events.len() as u64;
                records.push(events);
                offset += len;
            }
            Found::End => return Ok(offset),
            Found::Damaged(reason) => {
                // A damaged record is a torn write only where a write can
                // tear: at the very end of the last segment. Anywhere else
                // it is corruption of acknowledged data.
                let rest_is_tail = last_segment && !has_record_after(bytes, offset);
                if rest_is_tail {
                    return Ok(offset);
                }
                return Err(OpenError::Corrupt {
                    file: path.to_owned(),
                    offset: offset as u64,
                    reason: reason.to_owned(),
                });
            }
        }
    }
}

/// Whether an intact record starts anywhere after the damaged one at
/// `offset` — proof that the damage is not a torn tail.
fn has_record_after(bytes: &Bytes, offset: usize) -> bool {
    (offset + 1..bytes.len().saturating_sub(record::HEADER_LEN))
        .any(|start| matches!(record::decode(bytes, start), Found::Record { .. }))
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, OpenError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))? {
        let entry = entry.map_err(|e| OpenError::io(dir, e))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log")
            && let Some(first) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
        {
            segments.push((first, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Creates the segment for events from position `first` on, durably.
fn create_segment(dir: &Path, first: u64) -> Result<PathBuf, OpenError> {
    let path = dir.join(format!("{first:020}.log"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| OpenError::io(&path, e))?;
    file.write_all(MAGIC).map_err(|e| OpenError::io(&path, e))?;
    file.sync_all().map_err(|e| OpenError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Makes a new directory entry durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), OpenError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OpenError::io(dir, e))
}
