//! Opening a store for writing: its index on disk, then the log after the
//! index's reach — into the index in chunks while there is much of it
//! (a store written before the index existed, or a long tail after a
//! crash), the rest into the engine's in-memory tail.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::budget::Budget;
use super::file_layer::FileLayer;
use super::index::{DiskIndex, Location};
use super::log::{DAMAGED, Log, LogPoint, Record, ReplayFrom};
use super::options::ProgressFn;
use super::record::{self, Format, MAGIC_LEN, Span};
use super::writer::TAIL_INTERVALS;
use super::{EmbeddedOptions, IndexProgress, OpenError, Recovery};
use crate::Timestamp;
use crate::store::engine::{Engine, Pos};

/// The directory of a store's index, in the store's directory.
pub(super) const INDEX_DIR: &str = "index";

/// A store opened for writing: its log, its engine on the index, and what
/// recovery found.
pub(super) struct Reopened<L: FileLayer> {
    pub(super) log: Log<L>,
    pub(super) engine: Engine,
    /// `None` when the index could not be opened: the store then holds
    /// every event in memory, as it did before it had an index.
    pub(super) index: Option<Arc<DiskIndex>>,
    /// Where each event of the engine's tail lies in the log, in order
    /// (empty without an index).
    pub(super) locations: Vec<Location>,
    /// The log bytes of the engine's tail.
    pub(super) unindexed: u64,
    pub(super) recovery: Recovery,
}

/// Opens the index and the log in `dir`; see the [module](self).
pub(super) fn reopen<L: FileLayer>(
    dir: &Path,
    options: &EmbeddedOptions,
    layer: L,
) -> Result<Reopened<L>, OpenError> {
    let path = dir.join(INDEX_DIR);
    let made = !path.exists();
    let reopened = match reopen_once(dir, options, layer.clone()) {
        Err(OpenError::IndexMismatch { reason, .. }) => {
            tracing::warn!(
                dir = %dir.display(),
                %reason,
                "the index does not match the log; rebuilding it from the log"
            );
            std::fs::remove_dir_all(&path).map_err(|e| OpenError::io(&path, e))?;
            reopen_once(dir, options, layer)
        }
        other => other,
    };
    if reopened.is_err() && made {
        // An open that fails leaves the directory as it found it: without
        // the index it began.
        let _ = std::fs::remove_dir_all(&path);
    }
    reopened
}

/// Opens the index in `path`, setting one that is damaged aside (see
/// [`set_aside`]) and making it anew; returns where it was set aside.
fn open_index(
    dir: &Path,
    path: &Path,
    cache: u64,
) -> (
    Result<(DiskIndex, super::index::Reach), fjall::Error>,
    Option<PathBuf>,
) {
    let mut index_set_aside = None;
    let opened = DiskIndex::open(path, dir.to_owned(), cache).or_else(|err| {
        // The index is derived from the log: one that is damaged is made
        // again. Not one that the system cannot open now (permissions, no
        // file descriptors left): the store then does without it. The
        // damaged one is kept aside, not deleted: the folder may hold
        // what the store did not put there.
        if !is_damage(&err) {
            return Err(err);
        }
        let kept = set_aside(dir, path).map_err(fjall::Error::Io)?;
        tracing::warn!(
            dir = %dir.display(),
            error = %err,
            kept = %kept.display(),
            "cannot open the index; moved it aside and rebuilding it from the log"
        );
        index_set_aside = Some(kept);
        DiskIndex::open(path, dir.to_owned(), cache)
    });
    (opened, index_set_aside)
}

/// Whether `name` is one that fjall gives a file or folder in its
/// database's folder.
fn is_index_entry(name: &str) -> bool {
    matches!(name, "version" | "lock" | "keyspaces")
        || Path::new(name).extension().is_some_and(|e| e == "jnl")
        || name.starts_with(".tmp")
}

/// Refuses an `index/` folder at `path` that the store did not make
/// ([`OpenError::ForeignIndex`]): one that is not a fjall database yet (no
/// `version` file) and holds anything such a database does not.
fn check_index_folder(path: &Path) -> Result<(), OpenError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(OpenError::io(path, err)),
    };
    if path.join("version").exists() {
        return Ok(());
    }
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::io(path, e))?;
        if !entry.file_name().to_str().is_some_and(is_index_entry) {
            return Err(OpenError::ForeignIndex {
                folder: path.to_owned(),
                entry: entry.path(),
            });
        }
    }
    Ok(())
}

/// Moves the index folder at `path`, which cannot be opened, into the
/// store's `damaged/` folder, so that the index is rebuilt from the log
/// without deleting anything that was in that folder; returns where it
/// went.
fn set_aside(dir: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let folder = dir.join(DAMAGED);
    std::fs::create_dir_all(&folder)?;
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let mut kept = folder.join(format!("index.{seconds}"));
    let mut n = 1;
    while kept.exists() {
        kept = folder.join(format!("index.{seconds}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &kept)?;
    Ok(kept)
}

fn reopen_once<L: FileLayer>(
    dir: &Path,
    options: &EmbeddedOptions,
    layer: L,
) -> Result<Reopened<L>, OpenError> {
    let path = dir.join(INDEX_DIR);
    check_index_folder(&path)?;
    let (opened, index_set_aside) = open_index(dir, &path, options.cache_size);
    let (index, reach) = match opened {
        Ok((index, reach)) => (Some(Arc::new(index)), reach),
        Err(err) => {
            tracing::warn!(
                dir = %dir.display(),
                error = %err,
                "cannot open the index; the store holds every event in memory instead"
            );
            (None, super::index::Reach::default())
        }
    };
    let from = reach.log.map(|point| ReplayFrom {
        end: reach.end,
        point,
    });
    let mut catch_up = CatchUp {
        dir,
        progress: options.index_progress.clone(),
        bytes_read: 0,
        total_bytes: super::log::bytes_after(dir, from),
        index: index.as_deref(),
        chunk: Vec::new(),
        locations: Vec::new(),
        scratch: Vec::new(),
        spans: Vec::new(),
        chunk_bytes: 0,
        base: if from.is_some() { reach.end } else { 0 },
        latest: reach.latest,
        point: from.map(|from| from.point),
        limit: if index.is_some() {
            options.index_interval
        } else {
            u64::MAX
        },
        handed: 0,
        runs: 0,
        replayed: 0,
        next_report: PROGRESS,
        started: Instant::now(),
    };
    let (log, mut recovery) = Log::open(
        dir,
        options.segment_size,
        options.memory_limit,
        from,
        layer,
        &mut |record, point, budget| catch_up.take(record, point, budget),
    )?;
    recovery.replayed = catch_up.replayed;
    recovery.index_set_aside = index_set_aside;
    if catch_up.chunk_bytes >= catch_up.limit {
        // A long tail: into the index as well, so that the engine starts
        // empty (its events would hold whole segments' buffers).
        catch_up.hand_down()?;
    }
    if catch_up.handed > 0 {
        tracing::info!(
            dir = %dir.display(),
            events = catch_up.handed,
            seconds = catch_up.started.elapsed().as_secs_f64(),
            "indexed the log's events"
        );
    }
    let CatchUp {
        chunk,
        chunk_bytes,
        locations,
        base,
        latest,
        ..
    } = catch_up;
    let engine = match &index {
        Some(index) => Engine::on(
            Arc::clone(index) as Arc<dyn crate::store::engine::Below>,
            base,
            latest,
            options.clock.clone(),
        ),
        None => Engine::default().with_clock(options.clock.clone()),
    };
    engine.replay(chunk);
    Ok(Reopened {
        log,
        engine,
        index,
        locations,
        unindexed: chunk_bytes,
        recovery,
    })
}

/// Whether `err`, from opening the index, says that its files are
/// damaged, rather than that the system cannot open them now.
fn is_damage(err: &fjall::Error) -> bool {
    match err {
        fjall::Error::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        fjall::Error::Locked | fjall::Error::Poisoned => false,
        _ => true,
    }
}

/// The records replayed and not indexed yet.
struct CatchUp<'i> {
    dir: &'i Path,
    /// Told of each chunk indexed.
    progress: Option<ProgressFn>,
    /// The log bytes replayed so far, and in all.
    bytes_read: u64,
    total_bytes: u64,
    index: Option<&'i DiskIndex>,
    chunk: Vec<Record>,
    /// Where each event of `chunk` lies in the log (none without an
    /// index).
    locations: Vec<Location>,
    /// A record encoded again, to find its events' spans.
    scratch: Vec<u8>,
    spans: Vec<Span>,
    /// The log bytes of `chunk`.
    chunk_bytes: u64,
    /// The last position the index holds.
    base: Pos,
    /// The latest time recorded up to the last record replayed.
    latest: Option<Timestamp>,
    /// The point after the last record replayed.
    point: Option<LogPoint>,
    /// The log bytes after which the chunk goes into the index.
    limit: u64,
    /// The events put into the index by this open.
    handed: u64,
    /// The runs this open wrote to the index.
    runs: u32,
    /// The events read from the log by this open.
    replayed: u64,
    /// The count of `handed` at which to report progress next.
    next_report: u64,
    started: Instant,
}

impl CatchUp<'_> {
    fn take(
        &mut self,
        record: Record,
        point: LogPoint,
        budget: &mut Budget,
    ) -> Result<(), OpenError> {
        let (start, len) = match self.point {
            Some(before) if before.segment == point.segment => {
                (before.offset, point.offset - before.offset)
            }
            _ => (MAGIC_LEN as u64, point.offset),
        };
        if self.index.is_some() {
            self.locate(&record, point.segment, start, point.offset - start)?;
        }
        self.point = Some(point);
        self.chunk_bytes += len;
        self.bytes_read += len;
        self.replayed += record.1.len() as u64;
        if record.0 > self.latest {
            self.latest = record.0;
        }
        self.chunk.push(record);
        if self.chunk_bytes >= self.limit.max(CHUNK) {
            let events: u64 = self
                .chunk
                .iter()
                .map(|(_, events)| events.len() as u64)
                .sum();
            self.hand_down()?;
            // What the index holds is no longer held in memory.
            budget.release(events);
        }
        Ok(())
    }

    /// Adds where each event of `record` lies to `locations`: the record
    /// is `len` bytes at `start` of the segment `segment`. Encoding it
    /// again in its format gives back its bytes, and so its events' spans.
    fn locate(
        &mut self,
        record: &Record,
        segment: u64,
        start: u64,
        len: u64,
    ) -> Result<(), OpenError> {
        let (recorded_at, events) = record;
        // Only format 1 records have no time.
        let format = if recorded_at.is_some() {
            Format::V2
        } else {
            Format::V1
        };
        let first = self.base + 1 + self.locations.len() as u64;
        self.scratch.clear();
        self.spans.clear();
        let encoded = record::encode_as(
            format,
            first,
            *recorded_at,
            events,
            &mut self.scratch,
            &mut self.spans,
        );
        if encoded.is_err() || self.scratch.len() as u64 != len {
            return Err(OpenError::Index {
                dir: self.dir.to_owned(),
                message: format!(
                    "cannot find the events of the record at offset {start} of segment \
                     {segment} (position {first}) for the index"
                ),
            });
        }
        self.locations
            .extend(self.spans.iter().map(|span| Location {
                segment,
                offset: start + span.offset,
                len: span.len,
                crc: span.crc,
                recorded_at: *recorded_at,
            }));
        Ok(())
    }

    /// Writes the chunk into the index.
    fn hand_down(&mut self) -> Result<(), OpenError> {
        let (Some(point), Some(index)) = (self.point, self.index) else {
            return Ok(());
        };
        let events = self
            .chunk
            .iter()
            .flat_map(|(_, events)| events.iter())
            .zip(self.locations.iter().copied());
        // The first runs go in at once: after a crash they are the whole
        // tail (at most about `TAIL_INTERVALS` runs of an interval each),
        // and compaction may be behind with the crashed process's runs.
        // Later runs (a long log indexed on open) wait for it as the
        // writer's do.
        self.runs += 1;
        let written = if u64::from(self.runs) <= TAIL_INTERVALS {
            index.write_now(self.base + 1, events, point, self.latest)
        } else {
            index.write(self.base + 1, events, point, self.latest)
        };
        let end = written.map_err(|err| OpenError::Index {
            dir: self.dir.to_owned(),
            message: err.to_string(),
        })?;
        self.handed += end - self.base;
        if let Some(ProgressFn(report)) = &self.progress {
            report(IndexProgress {
                events: self.handed,
                bytes: self.bytes_read,
                total_bytes: self.total_bytes.max(self.bytes_read),
            });
        }
        if self.handed >= self.next_report {
            self.next_report = self.handed + PROGRESS;
            tracing::info!(dir = %self.dir.display(), events = self.handed, "indexing the log");
        }
        self.base = end;
        self.chunk.clear();
        self.locations.clear();
        self.chunk_bytes = 0;
        Ok(())
    }
}

/// The least log bytes a chunk of a catch-up holds before it is indexed.
const CHUNK: u64 = 4 << 20;

/// How often (in events) a catch-up reports its progress.
const PROGRESS: u64 = 1_000_000;
