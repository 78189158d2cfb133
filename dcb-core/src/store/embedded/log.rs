//! The segment log: recovery on open, durable appends, rotation.
//!
//! A store directory holds segment files named by the position of their
//! first event (`00000000000000000001.log`), each starting with an 8-byte
//! magic that names its [record format](super::record::Format), followed
//! by records. Appends go to the last segment; once it is over the size
//! limit — or written in an older format, since a segment holds one
//! format — the next append starts a new segment before writing, so that
//! a segment that cannot be created fails that append cleanly instead of
//! an append that is already durable.
//!
//! While a writer has the log open, the active segment's records are
//! followed by zeros that it wrote ahead of them ([`AHEAD`]): a sync of
//! records written over zeros that are already on disk does not change
//! the file's size, so it is cheaper than one that does. Zeros after the
//! last record hold nothing; the writer cuts them off as it closes the
//! segment (a new segment, or the store closing), and the next open cuts
//! them off after a crash.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::budget::{self, Budget};
use super::file_layer::{Disk, FileLayer, SegmentFile};
use super::record::{self, Format, Found, MAGIC_LEN};
use super::{OpenError, Recovery, Truncation, manifest};
use crate::{EventRecord, Timestamp};

/// One append read from the log: when it was recorded (`None` in format
/// 1) and its events.
pub(super) type Record = (Option<Timestamp>, Vec<EventRecord>);

/// The open, last segment that appends go to, on the files of `L`.
pub(super) struct Log<L: FileLayer = Disk> {
    layer: L,
    dir: PathBuf,
    active: L::File,
    active_path: PathBuf,
    /// Where the active segment's records end: the next record's offset.
    end: u64,
    /// The active segment's length: its records, then zeros.
    len: u64,
    /// Whether the active segment is in an older format: the next append
    /// starts a new segment, whatever the size.
    active_is_old: bool,
    segment_limit: u64,
}

/// How far past the records' end a writer writes zeros, at least, when a
/// batch goes past the zeros written before: 1 MiB, so that one batch in
/// about a mebibyte of log changes the file's size.
pub(super) const AHEAD: u64 = 1 << 20;

/// The zeros written ahead end on a multiple of this: a page.
const PAGE: u64 = 4096;

/// What recovery read: the appends in order, and what it repaired.
pub(super) struct Replayed {
    pub(super) records: Vec<Record>,
    pub(super) recovery: Recovery,
}

/// A point of the log: a segment (named by its first position) and a byte
/// offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LogPoint {
    pub(super) segment: u64,
    pub(super) offset: u64,
}

/// Where to start replaying: after position `end`, which the log
/// continues at `point` (the reach of the store's index).
#[derive(Clone, Copy, Debug)]
pub(super) struct ReplayFrom {
    pub(super) end: u64,
    pub(super) point: LogPoint,
}

/// What receives each record replayed: the record, the point after it,
/// and the open's memory budget.
pub(super) type Sink<'s> = dyn FnMut(Record, LogPoint, &mut Budget) -> Result<(), OpenError> + 's;

impl<L: FileLayer> Log<L> {
    /// Opens the log in `dir` (created if missing), reading every segment
    /// and cutting a damaged tail off the last one — after keeping its
    /// bytes in `damaged/` — and checking against the manifest that no
    /// segment is missing. Appends then go through `layer`.
    ///
    /// With `from`, the records up to its `end` are not read: replay
    /// starts at its point, and the segments before that point's are only
    /// checked to be there; a point the log does not have is
    /// [`OpenError::IndexMismatch`]. Each record replayed goes to `sink`.
    pub(super) fn open(
        dir: &Path,
        segment_limit: u64,
        memory_limit: Option<u64>,
        from: Option<ReplayFrom>,
        layer: L,
        sink: &mut Sink<'_>,
    ) -> Result<(Log<L>, Recovery), OpenError> {
        let mut segments = list_segments(dir)?;
        let mut recorded = manifest::read(dir).map_err(|err| match err {
            // A MANIFEST beside no segment was never this store's: the
            // directory is another program's, not a damaged store.
            OpenError::Corrupt { file, .. } if segments.is_empty() => OpenError::NotAStore { file },
            err => err,
        })?;
        if let Some(file) = manifest::missing(dir, recorded, &segments) {
            return Err(OpenError::MissingSegment { file });
        }
        let unread = check_from(dir, &segments, from)?;
        let mut budget = Budget::new(dir, memory_limit, unread);
        let mut recovery = Recovery::default();
        let mut next = 1u64;
        let count = segments.len();
        for (i, (first, path)) in segments.iter().enumerate() {
            let last_segment = i + 1 == count;
            if *first != next {
                return Err(gap(path, *first, next));
            }
            let start = match from {
                // Every event of this segment is indexed.
                Some(from) if *first < from.point.segment => {
                    next = segments[i + 1].0;
                    continue;
                }
                Some(from) if *first == from.point.segment => {
                    next = from.end + 1;
                    from.point.offset.max(MAGIC_LEN as u64)
                }
                _ => MAGIC_LEN as u64,
            };
            let (bytes, shift) = budget::read_segment_from(path, start, &mut budget)?;
            if last_segment && shift == 0 && cut_short(&bytes) {
                // A crash while a new segment was being created: it holds
                // nothing yet. Each step leaves a log that the next open
                // repairs the same way, should this one fail (a full disk).
                if let Some(i) = i.checked_sub(1) {
                    let previous = segments[i].0;
                    if recorded == Some(*first) {
                        // Once it is gone, a manifest that still records
                        // it would say a segment is missing.
                        manifest::write(&layer, dir, previous)?;
                        recorded = Some(previous);
                    }
                    fs::remove_file(path).map_err(|e| OpenError::io(path, e))?;
                    sync_dir(dir)?;
                } else {
                    // The log's only segment: made whole where it is.
                    remake_segment(path)?;
                }
                recovery.truncated = Some(Truncation::cut(
                    path.clone(),
                    0,
                    bytes.len() as u64,
                    "a segment whose creation was cut short, holding no record",
                    None,
                ));
                continue;
            }
            let segment = *first;
            let tail = replay_segment(
                path,
                &bytes,
                shift,
                last_segment,
                &mut next,
                &mut budget,
                &mut |record, end, budget| {
                    let point = LogPoint {
                        segment,
                        offset: end as u64 + shift,
                    };
                    sink(record, point, budget)
                },
            )?;
            if tail.end < bytes.len() {
                // Only the last segment can end in a torn write (checked
                // above); zeros after the last record are a writer's, written
                // ahead, and cut without a report.
                if let Some(cut) = cut_tail(dir, path, &bytes, shift, &tail)? {
                    recovery.truncated = Some(cut);
                }
            }
        }
        recovery.events = next - 1;
        segments.retain(|(_, path)| path.exists());
        recovery.segments = segments.len();
        let (active_path, end, active_is_old) =
            active_segment(&layer, dir, segments.pop(), recorded, next)?;
        let active = layer
            .open_write(&active_path)
            .map_err(|e| OpenError::io(&active_path, e))?;
        let log = Log {
            layer,
            dir: dir.to_owned(),
            active,
            active_path,
            end,
            len: end,
            active_is_old,
            segment_limit,
        };
        Ok((log, recovery))
    }

    /// Where the log continues: the end of the segment appends go to.
    pub(super) fn point(&self) -> LogPoint {
        LogPoint {
            segment: segment_first(&self.active_path).unwrap_or(0),
            offset: self.end,
        }
    }

    /// Writes `bytes` (whole records, the first one for position `first`)
    /// and makes them durable, starting a new segment first when the last
    /// one is over the size limit. When they go past the zeros written
    /// ahead, zeros follow them up to [`AHEAD`] past their end, made
    /// durable by the same sync (unless they do not fit). When the new
    /// segment cannot be created, or on a write error (the segment is then
    /// cut back to its records), nothing was written and the log stays
    /// whole: `Err(Write)`.
    /// `Err(Sync)` means durability is unknown and the log must not be used
    /// further.
    pub(super) fn append(&mut self, bytes: &[u8], first: u64) -> Result<(), WriteError> {
        if self.end >= self.segment_limit || self.active_is_old {
            self.rotate(first).map_err(WriteError::Write)?;
        }
        self.check_length("nothing was written")?;
        let end = self.end + bytes.len() as u64;
        if let Err(err) = self.active.write_at(self.end, bytes) {
            return Err(self.cut_back(err));
        }
        if end > self.len {
            // Past the zeros: zeros after the batch, for the batches to come.
            let len = (end + AHEAD).next_multiple_of(PAGE);
            let zeros = vec![0; usize::try_from(len - end).expect("a length in memory")];
            if self.active.write_at(end, &zeros).is_ok() {
                self.len = len;
            } else {
                // No room for them (a disk nearly full, a limit on the
                // file's size): the batch is all the same written.
                self.active.set_len(end).map_err(WriteError::Sync)?;
                self.len = end;
            }
        }
        self.active.sync_data().map_err(WriteError::Sync)?;
        self.end = end;
        self.check_length("this batch is in the log, unacknowledged")
    }

    /// Cuts the segment back to its records after the write that failed
    /// with `err`: `Write` if that worked, else `Sync` (what the file holds
    /// is then unknown).
    fn cut_back(&mut self, err: std::io::Error) -> WriteError {
        match self.active.set_len(self.end) {
            Ok(()) => {
                self.len = self.end;
                WriteError::Write(err)
            }
            Err(_) => WriteError::Sync(err),
        }
    }

    /// Cuts the zeros written ahead off the active segment, durably, so
    /// that it ends at its last record: before a new segment is started,
    /// and as the store closes.
    pub(super) fn trim(&mut self) -> std::io::Result<()> {
        if self.len > self.end {
            self.active.set_len(self.end)?;
            self.len = self.end;
            self.active.sync_all()?;
        }
        Ok(())
    }

    /// Whether the segment is as long as this writer made it: if it is
    /// not, another process wrote to (or cut) the log, and this one must
    /// stop before it writes over that process's records.
    fn check_length(&self, outcome: &str) -> Result<(), WriteError> {
        let found = self.active.len().map_err(WriteError::Sync)?;
        if found == self.len {
            return Ok(());
        }
        Err(WriteError::Foreign(format!(
            "the log {} is {found} bytes, but this store made it {}: another process changed it \
             while the store was open ({outcome})",
            self.active_path.display(),
            self.len
        )))
    }

    /// Starts a new segment for the events from position `first` on, after
    /// cutting the zeros off the last one.
    fn rotate(&mut self, first: u64) -> std::io::Result<()> {
        self.trim().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot cut the segment {} to its records: {e}",
                    self.active_path.display()
                ),
            )
        })?;
        let path = create_segment(&self.layer, &self.dir, first).map_err(|e| match e {
            OpenError::Io { path, source } => std::io::Error::new(
                source.kind(),
                format!("cannot create the segment {}: {source}", path.display()),
            ),
            other => std::io::Error::other(other.to_string()),
        })?;
        self.active = self
            .layer
            .open_write(&path)
            .map_err(|e| OpenError::io(&path, e))
            .and_then(|file| manifest::write(&self.layer, &self.dir, first).map(|()| file))
            .map_err(|e| {
                // Nothing was written to it: let a later attempt make it again.
                let _ = self.layer.remove_file(&path);
                std::io::Error::other(e.to_string())
            })?;
        self.active_path = path;
        self.end = MAGIC_LEN as u64;
        self.len = MAGIC_LEN as u64;
        self.active_is_old = false;
        Ok(())
    }

    /// The files appends go through.
    pub(super) fn layer(&self) -> &L {
        &self.layer
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
    /// Another process changed the log: nothing more may be written.
    Foreign(String),
}

/// Where a segment's valid data ends, and what follows it.
pub(super) struct Tail {
    /// The offset the last whole record ends at.
    pub(super) end: usize,
    /// What is wrong with the bytes after `end`, if there are any: a
    /// damaged record, or zeros.
    pub(super) damage: &'static str,
}

/// Reads the records of one segment, in the format its magic names, into
/// `records`; returns where its valid data ends.
///
/// `bytes` are the segment's magic followed by its bytes from offset
/// `shift + MAGIC_LEN` on (`shift` is 0 for a whole segment); offsets in
/// errors are the file's. `sink` receives each record with the offset in
/// `bytes` its record ends at.
pub(super) fn replay_segment(
    path: &Path,
    bytes: &Bytes,
    shift: u64,
    last_segment: bool,
    next: &mut u64,
    budget: &mut Budget,
    sink: &mut dyn FnMut(Record, usize, &mut Budget) -> Result<(), OpenError>,
) -> Result<Tail, OpenError> {
    let Some(format) = Format::of(bytes) else {
        return Err(OpenError::NotAStore {
            file: path.to_owned(),
        });
    };
    let mut offset = MAGIC_LEN;
    loop {
        match record::decode(bytes, offset, format) {
            Found::Record {
                first,
                recorded_at,
                events,
                len,
            } => {
                if first != *next {
                    return Err(OpenError::Corrupt {
                        file: path.to_owned(),
                        offset: offset as u64 + shift,
                        reason: format!(
                            "the record is for position {first}, but the log continues at {next}"
                        ),
                    });
                }
                *next += events.len() as u64;
                budget.charge_record(len as u64, events.len() as u64)?;
                offset += len;
                sink((recorded_at, events), offset, budget)?;
            }
            Found::End => {
                return Ok(Tail {
                    end: offset,
                    damage: "zeros after the last record",
                });
            }
            Found::Damaged(reason) => {
                // A damaged record is a torn write only where a write can
                // tear: at the very end of the last segment. Anywhere else
                // it is corruption of acknowledged data.
                let rest_is_tail = last_segment && !has_record_after(bytes, offset, *next, format);
                if rest_is_tail {
                    return Ok(Tail {
                        end: offset,
                        damage: reason,
                    });
                }
                return Err(OpenError::Corrupt {
                    file: path.to_owned(),
                    offset: offset as u64 + shift,
                    reason: reason.to_owned(),
                });
            }
        }
    }
}

/// Whether an intact record starts anywhere after the damaged one at
/// `offset`, which holds position `next` — proof that the damage is not a
/// torn tail.
///
/// Such a record continues the positions: its first position is after
/// `next`, by at most its distance in bytes from `offset` (every event
/// takes more than a byte). Checking that before decoding keeps the scan
/// linear: decoding at every offset costs, inside a run of zeros, a scan
/// to the run's end, and elsewhere possibly a checksum over up to the rest
/// of the segment — hours for a torn tail of a few megabytes of zeros.
fn has_record_after(bytes: &Bytes, offset: usize, next: u64, format: Format) -> bool {
    let first_position = |start: usize| {
        let at = start + record::HEADER_LEN;
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    (offset + 1..bytes.len().saturating_sub(record::HEADER_LEN)).any(|start| {
        first_position(start)
            .is_some_and(|first| first > next && first - next <= (start - offset) as u64)
            && matches!(record::decode(bytes, start, format), Found::Record { .. })
    })
}

/// The total size of `segments`, as far as it can be told.
pub(super) fn total_size(segments: &[(u64, PathBuf)]) -> u64 {
    segments
        .iter()
        .filter_map(|(_, path)| fs::metadata(path).ok())
        .map(|found| found.len())
        .sum()
}

pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, OpenError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))? {
        let entry = entry.map_err(|e| OpenError::io(dir, e))?;
        let path = entry.path();
        if let Some(first) = segment_first(&path) {
            segments.push((first, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// The first position of the segment at `path`, or `None` if its name is
/// not a segment's: twenty digits and `.log`. Other files in the directory
/// are not the store's, and are left alone.
pub(super) fn segment_first(path: &Path) -> Option<u64> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Cuts the tail of the last segment at `tail.end`, durably: zeros, which
/// hold nothing (those a writer writes ahead of its records), or a damaged
/// tail, whose bytes are first copied to `damaged/` in the store's
/// directory, durably, and reported.
fn cut_tail(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    shift: u64,
    tail: &Tail,
) -> Result<Option<Truncation>, OpenError> {
    let cut = &bytes[tail.end..];
    let end = tail.end as u64 + shift;
    let zeros = cut.iter().all(|&b| b == 0);
    let kept = if zeros {
        None
    } else {
        let folder = dir.join(DAMAGED);
        fs::create_dir_all(&folder).map_err(|e| OpenError::io(&folder, e))?;
        let name = path
            .file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy());
        let kept = folder.join(format!("{name}.from-byte-{end}"));
        File::create(&kept)
            .and_then(|mut file| {
                file.write_all(cut)?;
                file.sync_all()
            })
            .map_err(|e| OpenError::io(&kept, e))?;
        sync_dir(&folder)?;
        sync_dir(dir)?;
        Some(kept)
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| OpenError::io(path, e))?;
    file.set_len(end).map_err(|e| OpenError::io(path, e))?;
    file.sync_all().map_err(|e| OpenError::io(path, e))?;
    if zeros {
        tracing::debug!(
            segment = %path.display(),
            offset = end,
            bytes = cut.len(),
            "cut the zeros after the last record"
        );
        return Ok(None);
    }
    Ok(Some(Truncation::cut(
        path.to_owned(),
        end,
        cut.len() as u64,
        tail.damage,
        kept,
    )))
}

/// The folder of a store's directory where recovery keeps what it cuts.
pub(super) const DAMAGED: &str = "damaged";

/// The path of the segment whose first event is at position `first`.
pub(super) fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Creates the segment for events from position `first` on, durably.
fn create_segment(layer: &impl FileLayer, dir: &Path, first: u64) -> Result<PathBuf, OpenError> {
    let path = segment_path(dir, first);
    let mut file = layer
        .create_new(&path)
        .map_err(|e| OpenError::io(&path, e))?;
    let made = file
        .write_at(0, Format::CURRENT.magic())
        .and_then(|()| file.sync_all())
        .and_then(|()| layer.sync_dir(dir))
        .map_err(|e| OpenError::io(&path, e));
    if made.is_err() {
        // Leave no half-made segment behind, so that a later attempt can
        // make it again. (If this fails too, recovery removes a segment
        // cut short, and a whole segment without records is harmless.)
        drop(file);
        let _ = layer.remove_file(&path);
    }
    made.map(|()| path)
}

/// Whether a segment's bytes are what a crash while it was being created
/// can leave, holding nothing: a part of a magic, perhaps with zeros in
/// place of some of its bytes or after it (a size that reached the disk
/// before the data). A whole magic followed by zeros is a segment, whose
/// zeros replay reads as its end.
pub(super) fn cut_short(bytes: &[u8]) -> bool {
    let (head, rest) = bytes.split_at(bytes.len().min(MAGIC_LEN));
    let part_of = |magic: &[u8; MAGIC_LEN]| {
        head != magic && head.iter().zip(magic).all(|(&b, &m)| b == m || b == 0)
    };
    (part_of(Format::CURRENT.magic()) || part_of(Format::V1.magic()))
        && rest.iter().all(|&b| b == 0)
}

/// The format of the segment at `path`, as its magic names it.
fn segment_format(path: &Path) -> Result<Format, OpenError> {
    let mut magic = [0u8; MAGIC_LEN];
    File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic))
        .map_err(|e| OpenError::io(path, e))?;
    Format::of(&magic).ok_or_else(|| OpenError::NotAStore {
        file: path.to_owned(),
    })
}

/// Writes the current format's magic over a segment that holds no record
/// — one whose creation was cut short, or an empty one of an older format
/// — durably.
fn remake_segment(path: &Path) -> Result<(), OpenError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| {
            file.write_all(Format::CURRENT.magic())?;
            file.set_len(MAGIC_LEN as u64)?;
            file.sync_all()
        })
        .map_err(|e| OpenError::io(path, e))
}

/// Makes a new directory entry durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), OpenError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OpenError::io(dir, e))
}

/// The segment appends go to, its length, and whether it is in an older
/// format: the last segment (recorded in the manifest if it is not yet),
/// or a new one at position `next` when there is none.
fn active_segment(
    layer: &impl FileLayer,
    dir: &Path,
    last: Option<(u64, PathBuf)>,
    recorded: Option<u64>,
    next: u64,
) -> Result<(PathBuf, u64, bool), OpenError> {
    let Some((first, path)) = last else {
        let path = create_segment(layer, dir, next)?;
        manifest::write(layer, dir, next)?;
        return Ok((path, MAGIC_LEN as u64, false));
    };
    if recorded != Some(first) {
        // A store made before manifests, or a crash between making a
        // segment and recording it.
        manifest::write(layer, dir, first)?;
    }
    let len = fs::metadata(&path)
        .map_err(|e| OpenError::io(&path, e))?
        .len();
    let old = segment_format(&path)? != Format::CURRENT;
    if old && len == MAGIC_LEN as u64 {
        // No record yet: it becomes a segment of the current format.
        remake_segment(&path)?;
        return Ok((path, len, false));
    }
    Ok((path, len, old))
}

/// The bytes of log after `from` (all of them without), as far as they
/// can be told: what an open replays.
pub(super) fn bytes_after(dir: &Path, from: Option<ReplayFrom>) -> u64 {
    let segments = list_segments(dir).unwrap_or_default();
    segments
        .iter()
        .filter(|(first, _)| from.is_none_or(|from| *first >= from.point.segment))
        .filter_map(|(_, path)| fs::metadata(path).ok())
        .map(|m| m.len())
        .sum::<u64>()
        .saturating_sub(from.map_or(0, |from| from.point.offset))
}

/// Checks that the log has the point replay is to start `from`, and
/// returns the bytes to replay from there.
fn check_from(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    from: Option<ReplayFrom>,
) -> Result<u64, OpenError> {
    if let Some(from) = from {
        let found = segments
            .iter()
            .find(|(first, _)| *first == from.point.segment);
        let fits = found.is_some_and(|(first, path)| {
            *first <= from.end + 1 && fs::metadata(path).is_ok_and(|m| m.len() >= from.point.offset)
        });
        if !fits {
            return Err(OpenError::IndexMismatch {
                dir: dir.to_owned(),
                reason: format!(
                    "the index reaches position {} at byte {} of the segment starting at {}, \
                     which the log does not have",
                    from.end, from.point.offset, from.point.segment
                ),
            });
        }
    }
    Ok(bytes_after(dir, from))
}

/// The error for a segment that does not start where the log continues.
fn gap(path: &Path, first: u64, next: u64) -> OpenError {
    OpenError::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason: format!("the segment starts at position {first}, but the log continues at {next}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::{EventStore, EventType};

    fn event() -> EventRecord {
        EventRecord::new(EventType::from_static("Opened"), "{}")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// Where the whole records of the segment at `path` end.
    fn records_end(path: &Path) -> usize {
        let bytes = Bytes::from(fs::read(path).unwrap());
        let mut offset = MAGIC_LEN;
        while let Found::Record { len, .. } = record::decode(&bytes, offset, Format::CURRENT) {
            offset += len;
        }
        offset
    }

    /// While a writer has the log open, zeros it made durable follow the
    /// records, so that a sync over them does not change the file's size;
    /// a segment it is done with — the store closed, or a new segment
    /// started — ends at its last record.
    #[test]
    fn zeros_are_written_ahead_and_cut_when_a_segment_is_done() {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let options = crate::embedded::EmbeddedOptions::default().segment_size(4096);
        let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
        let first = segment_path(dir.path(), 1);
        runtime.block_on(store.append(vec![event()], None)).unwrap();
        let (len, end) = (fs::metadata(&first).unwrap().len(), records_end(&first));
        assert!(
            len >= end as u64 + AHEAD,
            "{len} bytes, the records end at {end}"
        );
        while list_segments(dir.path()).unwrap().len() < 2 {
            runtime.block_on(store.append(vec![event()], None)).unwrap();
        }
        assert_eq!(
            fs::metadata(&first).unwrap().len(),
            records_end(&first) as u64,
            "the segment before the last ends at its last record"
        );
        let events = store.len();
        store.close();
        for (_, path) in list_segments(dir.path()).unwrap() {
            assert_eq!(
                fs::metadata(&path).unwrap().len(),
                records_end(&path) as u64
            );
        }
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            (reopened.len(), &reopened.recovery().truncated),
            (events, &None)
        );
    }

    /// A writer that stops without closing (a crash) leaves its zeros after
    /// the records: the next open cuts them without reporting a cut, as
    /// they held nothing, and appends go on where the records end.
    #[test]
    fn zeros_left_by_a_crash_are_cut_without_a_report() {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        runtime.block_on(store.append(vec![event()], None)).unwrap();
        store.close();
        let first = segment_path(dir.path(), 1);
        let end = fs::metadata(&first).unwrap().len();
        let file = OpenOptions::new().write(true).open(&first).unwrap();
        file.set_len(end + AHEAD).unwrap();
        drop(file);

        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.recovery().truncated, None);
        assert_eq!(fs::metadata(&first).unwrap().len(), end);
        let position = runtime.block_on(store.append(vec![event()], None)).unwrap();
        assert_eq!(position.get(), 2);
        store.close();
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!((reopened.len(), &reopened.recovery().truncated), (2, &None));
    }

    /// A crash while a segment is being made can leave its size without its
    /// data: zeros where the magic was to be (and after it, if the sync of
    /// the magic lied). Opening refused such a store as not a store (it took
    /// only a prefix of the magic for a segment cut short); it is now
    /// repaired like any segment cut short.
    #[test]
    fn a_new_segment_left_as_zeros_by_a_crash_is_repaired() {
        let runtime = runtime();
        for left in [
            &[0u8; 8][..],
            &[0; 3],
            b"DCB\0\0\0\0\0",
            b"DCBLOG1\0",
            &[0; 9],
            b"DC\0\0\0\0\0\0\0\0\0\0",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = EmbeddedStore::open(dir.path()).unwrap();
            runtime.block_on(store.append(vec![event()], None)).unwrap();
            store.close();
            let next = segment_path(dir.path(), 2);
            fs::write(&next, left).unwrap();

            let store = EmbeddedStore::open(dir.path()).unwrap();
            let cut = store.recovery().truncated.clone().expect("a cut");
            assert_eq!(
                (cut.file, cut.offset, cut.bytes),
                (next.clone(), 0, left.len() as u64)
            );
            assert!(!next.exists(), "{left:?}: the segment is removed");
            let position = runtime.block_on(store.append(vec![event()], None)).unwrap();
            assert_eq!(position.get(), 2, "{left:?}");
        }
    }

    /// The same for the only segment of a new store, which is made whole in
    /// place.
    #[test]
    fn a_first_segment_left_as_zeros_by_a_crash_is_made_again() {
        let runtime = runtime();
        for zeros in [8, 20] {
            let dir = tempfile::tempdir().unwrap();
            let first = segment_path(dir.path(), 1);
            fs::write(&first, vec![0u8; zeros]).unwrap();
            let store = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!(
                store.recovery().truncated.as_ref().map(|c| c.bytes),
                Some(zeros as u64)
            );
            assert_eq!(fs::read(&first).unwrap(), Format::CURRENT.magic());
            let position = runtime.block_on(store.append(vec![event()], None)).unwrap();
            assert_eq!(position.get(), 1);
            store.close();
            let reopened = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!((reopened.len(), &reopened.recovery().truncated), (1, &None));
        }
    }

    /// A store of format 1 whose last segment holds no record yet (made
    /// just before a crash, or when the store was made) is opened as it
    /// is: that segment becomes one of the current format in place, as
    /// there is no record to keep in the old one.
    #[test]
    fn an_empty_segment_of_format_1_becomes_one_of_format_2() {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let first = segment_path(dir.path(), 1);
        fs::write(&first, Format::V1.magic()).unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.recovery().truncated, None);
        let position = runtime.block_on(store.append(vec![event()], None)).unwrap();
        assert_eq!(position.get(), 1);
        store.close();
        let bytes = fs::read(&first).unwrap();
        assert_eq!(&bytes[..MAGIC_LEN], Format::V2.magic());
        assert_eq!(
            list_segments(dir.path()).unwrap().len(),
            1,
            "no new segment"
        );
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.len(), 1);
    }
}
