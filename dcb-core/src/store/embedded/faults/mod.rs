//! A [`FileLayer`] that fails, lies and tears on a test's plan, and
//! simulates a crash in the process: [`Faulty`].
//!
//! It writes to real files but never syncs them; instead it keeps, for
//! each segment it has open, how many of its first bytes are *durable* —
//! those a sync has made durable for real, up to the first written since
//! — and the length a sync made durable. A [crash](Faulty::crash), once
//! the store is dropped, keeps every file's durable bytes plus a chosen
//! prefix of those that were not (a write torn at that byte), and zeros
//! after them: up to its durable length (the zeros a writer wrote ahead of
//! its records, and synced, are there again), or further (a file whose
//! size reached the disk before its data). That is what a machine that
//! lost power could leave.
//!
//! Faults are armed relative to what the store has done so far: the
//! `n`-th write or sync from now.
//!
//! - **A failed write** (`EIO`): `written` bytes of it reach the file, then
//!   it fails; optionally the store's cut back of the segment fails too.
//! - **A full disk** (`ENOSPC`): once `free` more bytes are written, a
//!   write writes what fits and fails; cutting a file back frees space.
//! - **A failed sync** (`EIO`): nothing becomes durable.
//! - **A lying sync**: it returns `Ok`, but nothing becomes durable.
//!
//! What it does not model: directory entries (a file created or removed is
//! durable at once), the manifest (replaced atomically and durably, or not
//! at all when its write fails), and faults while a store opens (the plan
//! is cleared at each crash).
//!
//! The tests of the store over it are in [`tests`].

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::file_layer::{FileLayer, SegmentFile};
use super::log::list_segments;

/// Faults injected so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Injected {
    /// Writes failed with `EIO`.
    pub(super) failed_writes: u64,
    /// Cuts back of a segment after a failed write, failed with `EIO`.
    pub(super) failed_cut_backs: u64,
    /// Writes failed with `ENOSPC`.
    pub(super) full_disk: u64,
    /// Syncs failed with `EIO`.
    pub(super) failed_syncs: u64,
    /// Syncs that returned `Ok` and made nothing durable.
    pub(super) lying_syncs: u64,
    /// Crashes that kept some, but not all, of a file's bytes that were
    /// not durable: a torn write.
    pub(super) torn_crashes: u64,
    /// Crashes that left zeros after a file's data.
    pub(super) zeroed_crashes: u64,
}

impl Injected {
    /// The faults that make an operation fail or lie (not the crashes).
    pub(super) fn operations(&self) -> u64 {
        self.failed_writes
            + self.failed_cut_backs
            + self.full_disk
            + self.failed_syncs
            + self.lying_syncs
    }

    pub(super) fn add(&mut self, other: &Injected) {
        self.failed_writes += other.failed_writes;
        self.failed_cut_backs += other.failed_cut_backs;
        self.full_disk += other.full_disk;
        self.failed_syncs += other.failed_syncs;
        self.lying_syncs += other.lying_syncs;
        self.torn_crashes += other.torn_crashes;
        self.zeroed_crashes += other.zeroed_crashes;
    }
}

/// A write armed to fail.
#[derive(Clone, Copy, Debug)]
struct FailedWrite {
    /// The bytes of it that reach the file before it fails.
    written: u64,
    /// Whether the cut back that follows fails too.
    cut_back_fails: bool,
}

/// What a segment holds, as the layer sees it.
#[derive(Clone, Copy, Debug)]
struct Tracked {
    len: u64,
    /// The first bytes, durable: up to the first byte written since the
    /// last real sync.
    durable: u64,
    /// The length the last real sync made durable (or less, once cut).
    synced_len: u64,
    /// Whether the next cut back of this file fails.
    cut_back_fails: bool,
}

#[derive(Default)]
struct State {
    /// Writes so far (segment writes and manifest replacements).
    writes: u64,
    /// Syncs of files so far.
    syncs: u64,
    /// By the number of the write they fail.
    failing_writes: BTreeMap<u64, FailedWrite>,
    failing_syncs: BTreeSet<u64>,
    lying_syncs: BTreeSet<u64>,
    /// The bytes that may still be written, when the disk is to fill up.
    free: Option<u64>,
    files: BTreeMap<PathBuf, Tracked>,
    injected: Injected,
}

impl State {
    /// Counts a write of `len` bytes, whose last `grows` go past the
    /// file's end (only those take space), and says how many of them to
    /// write and with which error to fail, if any.
    fn admit_write(&mut self, len: u64, grows: u64) -> (u64, Option<(io::Error, bool)>) {
        self.writes += 1;
        let over = len - grows;
        if let Some(failed) = self.failing_writes.remove(&self.writes) {
            self.injected.failed_writes += 1;
            let written = failed.written.min(len);
            self.take_space(written.saturating_sub(over));
            return (written, Some((eio("write"), failed.cut_back_fails)));
        }
        if let Some(free) = self.free
            && free < grows
        {
            self.injected.full_disk += 1;
            self.free = Some(0);
            return (over + free, Some((enospc(), false)));
        }
        self.take_space(grows);
        (len, None)
    }

    fn take_space(&mut self, len: u64) {
        if let Some(free) = &mut self.free {
            *free = free.saturating_sub(len);
        }
    }

    /// Counts a sync and says whether it is real (`Ok(true)`), lies
    /// (`Ok(false)`) or fails.
    fn admit_sync(&mut self) -> io::Result<bool> {
        self.syncs += 1;
        if self.failing_syncs.remove(&self.syncs) {
            self.injected.failed_syncs += 1;
            return Err(eio("sync"));
        }
        if self.lying_syncs.remove(&self.syncs) {
            self.injected.lying_syncs += 1;
            return Ok(false);
        }
        Ok(true)
    }
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure (EIO)"))
}

fn enospc() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "injected full disk (ENOSPC)")
}

/// What a [crash](Faulty::crash) did.
#[derive(Debug, Default)]
pub(super) struct Crash {
    /// Bytes written but not durable that the crash dropped (zeros that
    /// took their place count as dropped).
    pub(super) lost: u64,
    /// Whether a segment before the last one lost bytes: the store can no
    /// longer open to a consistent log, and must refuse to.
    pub(super) earlier_segment_damaged: bool,
    /// The last segment and its bytes after the crash, if there is one.
    pub(super) last_segment: Option<(PathBuf, Vec<u8>)>,
}

/// The faulty file layer; clones share their plan and files. See the
/// [module](self).
#[derive(Clone, Default)]
pub(super) struct Faulty {
    state: Arc<Mutex<State>>,
    gate: Arc<Gate>,
}

/// Where the writer can be held before it takes a batch.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default, PartialEq, Eq)]
enum GateState {
    #[default]
    Open,
    /// The writer is to be held at its next batch.
    Armed,
    Holding,
}

impl Faulty {
    /// Holds the writer when its next batch starts, until
    /// [`release`](Self::release): the appends that come meanwhile are in
    /// that batch.
    pub(super) fn hold_next_batch(&self) {
        *self.gate.state.lock() = GateState::Armed;
    }

    /// Waits until the writer is held; `false` if it did not come.
    pub(super) fn wait_until_held(&self) -> bool {
        let mut state = self.gate.state.lock();
        let deadline = Instant::now() + Duration::from_secs(30);
        while *state == GateState::Armed {
            if self
                .gate
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return false;
            }
        }
        true
    }

    /// Lets the writer take its batch.
    pub(super) fn release(&self) {
        *self.gate.state.lock() = GateState::Open;
        self.gate.changed.notify_all();
    }

    /// Fails the `after + 1`-th write from now with `EIO`, after `written`
    /// of its bytes reached the file; then, if `cut_back_fails`, the cut
    /// back of that file too.
    pub(super) fn fail_write(&self, after: u64, written: u64, cut_back_fails: bool) {
        let mut state = self.state.lock();
        let at = state.writes + after + 1;
        state.failing_writes.insert(
            at,
            FailedWrite {
                written,
                cut_back_fails,
            },
        );
    }

    /// Fails the `after + 1`-th sync from now with `EIO`.
    pub(super) fn fail_sync(&self, after: u64) {
        let mut state = self.state.lock();
        let at = state.syncs + after + 1;
        state.failing_syncs.insert(at);
    }

    /// Makes the `after + 1`-th sync from now return `Ok` without making
    /// anything durable.
    pub(super) fn lie_on_sync(&self, after: u64) {
        let mut state = self.state.lock();
        let at = state.syncs + after + 1;
        state.lying_syncs.insert(at);
    }

    /// Lets only `free` more bytes be written.
    pub(super) fn fill_disk(&self, free: u64) {
        self.state.lock().free = Some(free);
    }

    /// Whether the disk is to fill up (or has).
    pub(super) fn disk_is_full(&self) -> bool {
        self.state.lock().free.is_some()
    }

    /// Makes the disk's space unlimited again.
    pub(super) fn free_disk(&self) {
        self.state.lock().free = None;
    }

    /// Whether every byte written to a segment is durable.
    pub(super) fn all_durable(&self) -> bool {
        self.state
            .lock()
            .files
            .values()
            .all(|file| file.len == file.durable)
    }

    /// The faults injected so far.
    pub(super) fn injected(&self) -> Injected {
        self.state.lock().injected
    }

    /// A crash of the machine, once the store in `dir` is dropped: cuts
    /// each segment back to its durable bytes plus the first `torn` of
    /// those that were not, then up to `zeros` zero bytes; clears the plan
    /// but the full disk, and forgets the files (what a crash leaves is
    /// durable). The index on disk is not written through this layer: a
    /// crash that loses bytes of the log (syncs that lied, or writes not
    /// synced) loses the index too — it is never synced but on close, and
    /// a disk that lies about the log's syncs lies about its own — so it
    /// is removed, and the open rebuilds it from what the log kept.
    pub(super) fn crash(&self, dir: &Path, torn: u64, zeros: u64) -> io::Result<Crash> {
        let mut state = self.state.lock();
        state.failing_writes.clear();
        state.failing_syncs.clear();
        state.lying_syncs.clear();
        let files = std::mem::take(&mut state.files);
        let segments = list_segments(dir).map_err(|e| io::Error::other(e.to_string()))?;
        let last = segments.last().map(|(_, path)| path.clone());
        let mut crash = Crash::default();
        for (path, file) in files {
            if file.len <= file.durable || !path.exists() {
                continue;
            }
            let kept = file.durable + torn.min(file.len - file.durable);
            let zeroed = zeros.min(file.len - kept);
            if kept > file.durable && kept < file.len {
                state.injected.torn_crashes += 1;
            }
            if zeroed > 0 {
                state.injected.zeroed_crashes += 1;
            }
            let cut = OpenOptions::new().read(true).write(true).open(&path)?;
            let new_len = (kept + zeroed).max(file.synced_len.min(file.len));
            // What the crash turns to zeros: bytes that were zeros already
            // (a record may end in some) are not lost.
            let mut replaced = vec![0; usize::try_from(new_len - kept).unwrap_or(0)];
            cut.read_exact_at(&mut replaced, kept)?;
            let changed = new_len < file.len || replaced.iter().any(|&b| b != 0);
            cut.set_len(kept)?;
            cut.set_len(new_len)?;
            crash.lost += file.len - kept;
            if changed && last.as_ref() != Some(&path) {
                crash.earlier_segment_damaged = true;
            }
        }
        if crash.lost > 0 {
            let index = dir.join("index");
            if index.exists() {
                fs::remove_dir_all(index)?;
            }
        }
        if let Some(path) = last {
            let bytes = fs::read(&path)?;
            crash.last_segment = Some((path, bytes));
        }
        Ok(crash)
    }

    fn track(&self, path: &Path, len: u64) {
        let mut state = self.state.lock();
        let file = state.files.entry(path.to_owned()).or_insert(Tracked {
            len,
            durable: len,
            synced_len: len,
            cut_back_fails: false,
        });
        file.len = len;
        file.durable = file.durable.min(len);
        file.synced_len = file.synced_len.min(len);
    }
}

impl FileLayer for Faulty {
    type File = FaultyFile;

    fn create_new(&self, path: &Path) -> io::Result<FaultyFile> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        self.track(path, 0);
        Ok(FaultyFile {
            layer: self.clone(),
            path: path.to_owned(),
            file,
        })
    }

    fn open_write(&self, path: &Path) -> io::Result<FaultyFile> {
        let file = OpenOptions::new().write(true).open(path)?;
        self.track(path, file.metadata()?.len());
        Ok(FaultyFile {
            layer: self.clone(),
            path: path.to_owned(),
            file,
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state.lock().files.remove(path);
        fs::remove_file(path)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn batch_starts(&self) {
        let mut state = self.gate.state.lock();
        if *state == GateState::Armed {
            *state = GateState::Holding;
            self.gate.changed.notify_all();
            while *state == GateState::Holding {
                self.gate.changed.wait(&mut state);
            }
        }
    }

    fn replace(&self, path: &Path, temporary: &Path, contents: &[u8]) -> io::Result<()> {
        let len = contents.len() as u64;
        let (_, failure) = self.state.lock().admit_write(len, len);
        if let Some((error, _)) = failure {
            return Err(error);
        }
        fs::write(temporary, contents)?;
        fs::rename(temporary, path)
    }
}

/// A segment file of [`Faulty`].
pub(super) struct FaultyFile {
    layer: Faulty,
    path: PathBuf,
    file: File,
}

impl FaultyFile {
    fn with_tracked<T>(&self, f: impl FnOnce(&mut Tracked, &mut State) -> T) -> T {
        let mut state = self.layer.state.lock();
        let mut tracked = state
            .files
            .get(&self.path)
            .copied()
            .expect("a file the layer opened is tracked");
        let result = f(&mut tracked, &mut state);
        state.files.insert(self.path.clone(), tracked);
        result
    }
}

impl SegmentFile for FaultyFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let file = &mut self.file;
        let path = &self.path;
        let mut state = self.layer.state.lock();
        let len = bytes.len() as u64;
        let before = state
            .files
            .get(path)
            .expect("a file the layer opened is tracked")
            .len;
        let grows = (offset + len).saturating_sub(before).min(len);
        let (written, failure) = state.admit_write(len, grows);
        let written_bytes = &bytes[..usize::try_from(written).expect("written fits")];
        file.write_all_at(written_bytes, offset)?;
        let tracked = state
            .files
            .get_mut(path)
            .expect("a file the layer opened is tracked");
        if written > 0 {
            tracked.durable = tracked.durable.min(offset);
            tracked.len = tracked.len.max(offset + written);
        }
        match failure {
            Some((error, cut_back_fails)) => {
                tracked.cut_back_fails = cut_back_fails;
                Err(error)
            }
            None => Ok(()),
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.with_tracked(|tracked, state| {
            if state.admit_sync()? {
                tracked.durable = tracked.len;
                tracked.synced_len = tracked.len;
            }
            Ok(())
        })
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let file = &self.file;
        self.with_tracked(|tracked, state| {
            if std::mem::take(&mut tracked.cut_back_fails) {
                state.injected.failed_cut_backs += 1;
                return Err(eio("truncate"));
            }
            file.set_len(len)?;
            if let Some(free) = &mut state.free {
                *free += tracked.len.saturating_sub(len);
            }
            tracked.len = len;
            tracked.durable = tracked.durable.min(len);
            tracked.synced_len = tracked.synced_len.min(len);
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}
