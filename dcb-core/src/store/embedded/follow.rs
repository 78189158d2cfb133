//! The read-only open: following a log that another process writes.
//!
//! A read-only store takes no lock and changes no file. Opening replays the
//! segments as a normal open does, except that a damaged tail of the last
//! segment is left alone — a writer may be in the middle of writing it.
//! Then a follower thread looks, every [`FOLLOW_INTERVAL`], for records
//! completed since: the rest of the segment it is reading, and the next
//! segment once the writer has started one. It takes whole, checksummed
//! records only, so a reader never sees part of an append.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;

use super::budget::{self, Budget};
use super::file_layer;
use super::log::{self, Record, Replayed};
use super::log_scan::{self, Chunks, LogScan};
use super::record::{self, Format, Found, MAGIC_LEN};
use super::{OpenError, Recovery, Truncation, manifest};
use crate::Timestamp;
use crate::store::engine::Engine;

/// How often a read-only store looks for records another process appended.
pub(super) const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// Where a read-only store is in the log.
pub(super) struct Follower {
    dir: PathBuf,
    /// The segment being read, the offset its whole records end at (at
    /// most [`MAGIC_LEN`] while none is read: its magic is read again, as
    /// a writer makes an empty segment of an older format one of the
    /// current format), and its format; `None` while the store has no
    /// segment.
    segment: Option<(PathBuf, u64, Format)>,
    /// The position of the next event.
    next: u64,
}

/// A log opened at its end ([`Follower::open_at_end`]): the follower, the
/// log up to there for reading by scanning, what the open found, and the
/// time of the last record read.
pub(super) struct AtEnd {
    pub(super) follower: Follower,
    pub(super) log: LogScan,
    pub(super) recovery: Recovery,
    pub(super) latest: Option<Timestamp>,
}

/// The segments of the store in `dir`, in order, checked to be a store's.
fn store_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, OpenError> {
    let no_store = |reason| OpenError::NoStore {
        dir: dir.to_owned(),
        reason,
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(no_store("it is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(no_store("the directory does not exist"));
        }
        Err(e) => return Err(OpenError::io(dir, e)),
    }
    let recorded = manifest::read(dir)?;
    let segments = log::list_segments(dir)?;
    if let Some(file) = manifest::missing(dir, recorded, &segments) {
        return Err(OpenError::MissingSegment { file });
    }
    if segments.is_empty() && !dir.join("LOCK").exists() {
        return Err(no_store(
            "the directory has no segment files and no LOCK file",
        ));
    }
    Ok(segments)
}

/// The damaged end after `tail` of the last segment at `path`, holding
/// `bytes`, that a read-only open leaves in place: `None` when only zeros
/// follow its whole records.
fn left_in_place(path: &Path, bytes: &[u8], tail: &log::Tail) -> Option<Truncation> {
    let rest = &bytes[tail.end..];
    (!rest.iter().all(|&b| b == 0)).then(|| {
        Truncation::left_in_place(
            path.to_owned(),
            tail.end as u64,
            rest.len() as u64,
            tail.damage,
        )
    })
}

/// What reading the last segment found: its format, the offset its whole
/// records end at, the time of the last of them, and a damaged end left
/// in place.
struct LastSegment {
    format: Format,
    end: u64,
    latest: Option<Timestamp>,
    skipped: Option<Truncation>,
}

/// Reads the last segment at `path`, whose records continue the log at
/// `next`, to the end of its whole records, a chunk at a time, moving
/// `next` past them; `None` for a segment being made. A damaged end is
/// judged as a read-only open judges it ([`log::replay_segment`]): left in
/// place where a write may tear, [`OpenError::Corrupt`] before intact
/// records.
fn last_segment(dir: &Path, path: &Path, next: &mut u64) -> Result<Option<LastSegment>, OpenError> {
    let io = |e| OpenError::io(path, e);
    let file = match File::open(path) {
        Ok(file) => file,
        // A writer's recovery removed a segment it found half made.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file_layer::len_of(&file).map_err(io)?;
    // What is there: the writer may cut the zeros after its records
    // meanwhile.
    let read = |offset: u64, want: u64| -> Result<Bytes, OpenError> {
        let mut buffer = vec![0; usize::try_from(want.min(len - offset)).unwrap_or(0)];
        let read = log_scan::read_up_to(&file, &mut buffer, offset).map_err(io)?;
        buffer.truncate(read);
        Ok(Bytes::from(buffer))
    };
    let magic = read(0, MAGIC_LEN as u64)?;
    if log::cut_short(&magic) {
        return Ok(None);
    }
    let format = Format::of(&magic).ok_or_else(|| OpenError::NotAStore {
        file: path.to_owned(),
    })?;
    let mut latest = None;
    // Whole, intact records, as long as they come.
    let mut chunks = Chunks::new(&file, MAGIC_LEN as u64, len);
    while let Some((chunk, at)) = chunks.record().map_err(io)? {
        match record::decode(chunk, at, format) {
            Found::Record {
                first,
                recorded_at,
                events,
                len: record_len,
            } if first == *next => {
                *next += events.len() as u64;
                latest = recorded_at.or(latest);
                chunks.advance(record_len);
            }
            _ => break,
        }
    }
    let offset = chunks.offset();
    if offset >= len {
        return Ok(Some(LastSegment {
            format,
            end: offset,
            latest,
            skipped: None,
        }));
    }
    // The rest, from the first byte that is not a whole record: zeros, a
    // torn write, or damage before intact records.
    let mut rest = magic.to_vec();
    rest.extend_from_slice(&read(offset, len - offset)?);
    let rest = Bytes::from(rest);
    let shift = offset - MAGIC_LEN as u64;
    let mut budget = Budget::new(dir, Some(u64::MAX), rest.len() as u64);
    let tail = log::replay_segment(
        path,
        &rest,
        shift,
        true,
        next,
        &mut budget,
        &mut |(recorded_at, events), _, budget| {
            latest = recorded_at.or(latest);
            budget.release(events.len() as u64);
            Ok(())
        },
    )?;
    let left = &rest[tail.end..];
    let skipped = (!left.iter().all(|&b| b == 0)).then(|| {
        Truncation::left_in_place(
            path.to_owned(),
            shift + tail.end as u64,
            left.len() as u64,
            tail.damage,
        )
    });
    Ok(Some(LastSegment {
        format,
        end: shift + tail.end as u64,
        latest,
        skipped,
    }))
}

impl Follower {
    /// Finds the end of the log in `dir` by reading its last segment only,
    /// changing nothing; the log before the end is left to be read by
    /// scanning.
    pub(super) fn open_at_end(dir: &Path) -> Result<AtEnd, OpenError> {
        let segments = store_segments(dir)?;
        let count = segments.len();
        let mut scanned = Vec::with_capacity(count);
        let mut next = 1u64;
        let mut latest = None;
        let mut skipped = None;
        let mut replayed = 0;
        let mut segment = None;
        for (i, (first, path)) in segments.into_iter().enumerate() {
            if i + 1 < count {
                let file = File::open(&path).map_err(|e| OpenError::io(&path, e))?;
                let mut magic = [0; MAGIC_LEN];
                file.read_exact_at(&mut magic, 0)
                    .map_err(|e| OpenError::io(&path, e))?;
                let format = Format::of(&magic)
                    .ok_or_else(|| OpenError::NotAStore { file: path.clone() })?;
                let len = file.metadata().map_err(|e| OpenError::io(&path, e))?.len();
                scanned.push(log_scan::Segment::new(first, path, file, format, len));
                next = first;
                continue;
            }
            // The last segment: read to the end of its whole records.
            next = first;
            let Some(last) = last_segment(dir, &path, &mut next)? else {
                // A segment being made: nothing in it yet.
                segment = Some((path, 0, Format::CURRENT));
                break;
            };
            replayed = next - first;
            latest = last.latest;
            skipped = last.skipped;
            let (format, at) = (last.format, last.end);
            let file = File::open(&path).map_err(|e| OpenError::io(&path, e))?;
            scanned.push(log_scan::Segment::new(
                first,
                path.clone(),
                file,
                format,
                at,
            ));
            segment = Some((path, at, format));
        }
        let recovery = Recovery {
            events: next - 1,
            segments: count,
            replayed,
            truncated: None,
            skipped,
            index_set_aside: None,
        };
        Ok(AtEnd {
            follower: Follower {
                dir: dir.to_owned(),
                segment,
                next,
            },
            log: LogScan::new(scanned, next - 1),
            recovery,
            latest,
        })
    }

    /// Reads every whole record in `dir`, changing nothing.
    pub(super) fn open(dir: &Path) -> Result<(Follower, Replayed), OpenError> {
        let segments = store_segments(dir)?;
        let mut budget = Budget::new(dir, None, log::total_size(&segments));
        let mut records = Vec::new();
        let mut next = 1u64;
        let mut segment = None;
        let mut skipped = None;
        let count = segments.len();
        for (i, (first, path)) in segments.into_iter().enumerate() {
            let last_segment = i + 1 == count;
            if first != next {
                return Err(OpenError::Corrupt {
                    file: path,
                    offset: 0,
                    reason: format!(
                        "the segment starts at position {first}, but the log continues at {next}"
                    ),
                });
            }
            let bytes = match budget::read_segment(&path, &mut budget) {
                Ok(bytes) => bytes,
                // A writer's recovery removed a segment it found half made.
                Err(OpenError::Io { source, .. })
                    if last_segment && source.kind() == ErrorKind::NotFound =>
                {
                    Bytes::new()
                }
                Err(e) => return Err(e),
            };
            if last_segment && log::cut_short(&bytes) {
                // A segment being made: nothing in it yet.
                segment = Some((path, 0, Format::CURRENT));
                break;
            }
            let tail = log::replay_segment(
                &path,
                &bytes,
                0,
                last_segment,
                &mut next,
                &mut budget,
                &mut |record, _, budget| {
                    records.try_reserve(1).map_err(|_| budget.exhausted())?;
                    records.push(record);
                    Ok(())
                },
            )?;
            skipped = left_in_place(&path, &bytes, &tail).or(skipped);
            let format = Format::of(&bytes).unwrap_or(Format::CURRENT);
            segment = Some((path, tail.end as u64, format));
        }
        let recovery = Recovery {
            events: next - 1,
            segments: count,
            replayed: next - 1,
            truncated: None,
            skipped,
            index_set_aside: None,
        };
        let follower = Follower {
            dir: dir.to_owned(),
            segment,
            next,
        };
        Ok((follower, Replayed { records, recovery }))
    }

    /// Reads the whole records completed since the last call into
    /// `records`, in order. An error is final.
    pub(super) fn poll(&mut self, records: &mut Vec<Record>) -> Result<(), OpenError> {
        loop {
            let Some((path, _, _)) = self.segment.clone() else {
                let first = log::segment_path(&self.dir, 1);
                if !first.exists() {
                    return Ok(());
                }
                self.segment = Some((first, 0, Format::CURRENT));
                continue;
            };
            self.read_segment(records)?;
            let candidate = log::segment_path(&self.dir, self.next);
            if path == candidate || !candidate.exists() {
                return Ok(());
            }
            // The writer has started the next segment, which it does only
            // once its last write to this one has returned: this one must
            // now read to its end. Read it again, since the first read may
            // have raced with that last write.
            let before = self.next;
            let damaged = self.read_segment(records)?;
            if self.next != before {
                continue;
            }
            if damaged {
                return Err(OpenError::Corrupt {
                    file: path,
                    offset: self.segment.as_ref().map_or(0, |(_, offset, _)| *offset),
                    reason: "the segment ends in a damaged record, but the log continues in \
                             the next segment"
                        .to_owned(),
                });
            }
            self.segment = Some((candidate, 0, Format::CURRENT));
        }
    }

    /// Reads the whole records after the current offset of the current
    /// segment; returns whether bytes that are not (yet) a whole record
    /// follow them.
    fn read_segment(&mut self, records: &mut Vec<Record>) -> Result<bool, OpenError> {
        let Some((path, offset, format)) = &mut self.segment else {
            return Ok(false);
        };
        if *offset <= MAGIC_LEN as u64 {
            *offset = 0;
        }
        let mut file = match File::open(&*path) {
            Ok(file) => file,
            // A half-made segment that a writer's recovery removed; it
            // makes it again.
            Err(e) if e.kind() == ErrorKind::NotFound && *offset == 0 => return Ok(false),
            Err(e) => return Err(OpenError::io(path, e)),
        };
        let len = file_layer::len_of(&file).map_err(|e| OpenError::io(path, e))?;
        if len < *offset {
            return Err(OpenError::Corrupt {
                file: path.clone(),
                offset: len,
                reason: format!(
                    "the segment was cut back to {len} bytes after {offset} bytes had been read \
                     (a writer rolled back a failed write); open the store again"
                ),
            });
        }
        if len == *offset {
            return Ok(false);
        }
        let mut buffer = Vec::with_capacity(usize::try_from(len - *offset).unwrap_or(0));
        file.seek(SeekFrom::Start(*offset))
            .and_then(|_| file.read_to_end(&mut buffer))
            .map_err(|e| OpenError::io(path, e))?;
        let bytes = Bytes::from(buffer);
        let mut at = 0;
        if *offset == 0 {
            if log::cut_short(&bytes) {
                return Ok(true);
            }
            *format =
                Format::of(&bytes).ok_or_else(|| OpenError::NotAStore { file: path.clone() })?;
            at = MAGIC_LEN;
        }
        loop {
            match record::decode(&bytes, at, *format) {
                Found::Record {
                    first,
                    recorded_at,
                    events,
                    len,
                } => {
                    if first != self.next {
                        return Err(OpenError::Corrupt {
                            file: path.clone(),
                            offset: *offset + at as u64,
                            reason: format!(
                                "the record is for position {first}, but the log continues at {}",
                                self.next
                            ),
                        });
                    }
                    self.next += events.len() as u64;
                    records.push((recorded_at, events));
                    at += len;
                }
                Found::End => {
                    *offset += at as u64;
                    return Ok(false);
                }
                Found::Damaged(_) => {
                    *offset += at as u64;
                    return Ok(true);
                }
            }
        }
    }
}

/// Starts the follower thread: every [`FOLLOW_INTERVAL`] it adds the new
/// records to the index, publishes them and wakes subscriptions, until the
/// sender of `stop` is dropped. An error stops it; it is kept in `failure`.
pub(super) fn spawn(
    mut follower: Follower,
    engine: Engine,
    stop: Receiver<()>,
    failure: Arc<OnceLock<String>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dcb-embedded-follower".to_owned())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(FOLLOW_INTERVAL) {
                let mut records = Vec::new();
                let polled = follower.poll(&mut records);
                engine.replay(records);
                if let Err(err) = polled {
                    let _ = failure.set(err.to_string());
                    return;
                }
            }
        })
}
