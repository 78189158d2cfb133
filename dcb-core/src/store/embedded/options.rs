//! [`EmbeddedOptions`]: how to open an [`EmbeddedStore`](super::EmbeddedStore).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Clock, Limits};

/// How far an open has come in indexing a long stretch of log: a store
/// written before the index existed, or one whose index was deleted. See
/// [`EmbeddedOptions::on_index_progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexProgress {
    /// The events indexed so far by this open.
    pub events: u64,
    /// The bytes of log read so far.
    pub bytes: u64,
    /// The bytes of log the open reads in all.
    pub total_bytes: u64,
}

/// A callback of [`EmbeddedOptions::on_index_progress`].
#[derive(Clone)]
pub(super) struct ProgressFn(pub(super) Arc<dyn Fn(IndexProgress) + Send + Sync>);

impl fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressFn(..)")
    }
}

/// How to open an [`EmbeddedStore`](super::EmbeddedStore).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// How long to wait for another process that has the store open.
    pub lock_timeout: Duration,
    /// The size after which appends go to a new segment file.
    pub segment_size: u64,
    /// The input limits appends are checked against.
    pub limits: Limits,
    /// The most memory opening may take for the index, which is held in
    /// memory; `None` (the default): what the process can get — the least
    /// of the system's available memory, the room under its address-space
    /// limit and under its cgroup's memory limit. A store that needs more
    /// fails to open with [`OpenError::OutOfMemory`](super::OpenError::OutOfMemory).
    pub memory_limit: Option<u64>,
    /// How much log (in bytes) the in-memory tail may hold before it is
    /// handed down to the index on disk. The tail holds at most about four
    /// intervals (two while a run is written to the index, two more
    /// committed meanwhile), which bounds its memory (an event takes about
    /// 700 bytes in memory) and what an open after a crash replays.
    /// 8 MiB by default.
    pub index_interval: u64,
    /// The most log bytes of tail that closing leaves in the log, for the
    /// next open to replay, rather than writing them into the index as a
    /// run of their own; see [`tail_kept_on_close`](Self::tail_kept_on_close).
    /// 256 KiB by default.
    pub tail_kept_on_close: u64,
    /// The memory (in bytes) of the index's block cache. 256 MiB by
    /// default.
    pub cache_size: u64,
    /// Called as an open indexes a long stretch of log, after each chunk
    /// (about every 4 MiB of log); see [`on_index_progress`](Self::on_index_progress).
    pub(super) index_progress: Option<ProgressFn>,
    /// The clock appends are recorded by: the system clock unless set. An
    /// append is never recorded before the latest time in the log, so
    /// times never decrease along positions, even across a restart with a
    /// clock set back.
    pub clock: Clock,
}

impl Default for EmbeddedOptions {
    fn default() -> EmbeddedOptions {
        EmbeddedOptions {
            lock_timeout: Duration::from_secs(30),
            segment_size: 256 << 20,
            limits: Limits::default(),
            memory_limit: None,
            index_interval: 8 << 20,
            tail_kept_on_close: 256 << 10,
            cache_size: 256 << 20,
            index_progress: None,
            clock: Clock::system(),
        }
    }
}

impl EmbeddedOptions {
    /// Sets the clock appends are recorded by.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> EmbeddedOptions {
        self.clock = clock;
        self
    }

    /// Sets how long to wait for another process that has the store open.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> EmbeddedOptions {
        self.lock_timeout = timeout;
        self
    }

    /// Sets the size after which appends go to a new segment file.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> EmbeddedOptions {
        self.segment_size = bytes.max(4096);
        self
    }

    /// Sets how much log the in-memory tail may hold before it is handed
    /// down to the index on disk (at least 1 byte: every batch).
    #[must_use]
    pub fn index_interval(mut self, bytes: u64) -> EmbeddedOptions {
        self.index_interval = bytes.max(1);
        self
    }

    /// Sets the most log bytes of tail that closing leaves in the log. The
    /// next open replays them (256 KiB, the default, in a few
    /// milliseconds); a larger tail goes into the index on close. Each run
    /// written into the index is merged by compaction later, and a process
    /// that closes waits for a merge under way: a command-line tool that
    /// opens, appends an event and closes would otherwise add a run each
    /// time and wait for a merge every few commands. 0 writes every tail
    /// into the index on close.
    #[must_use]
    pub fn tail_kept_on_close(mut self, bytes: u64) -> EmbeddedOptions {
        self.tail_kept_on_close = bytes;
        self
    }

    /// Calls `report` as an open indexes a long stretch of log — once per
    /// chunk of about 4 MiB — for a progress bar: a store written before
    /// the index existed, or whose index was deleted, is indexed once, in
    /// about a second per million events.
    ///
    /// ```
    /// use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let options = EmbeddedOptions::default().on_index_progress(|progress| {
    ///     eprintln!("indexed {} events ({} of {} bytes)", progress.events, progress.bytes, progress.total_bytes);
    /// });
    /// let store = EmbeddedStore::open_with(dir.path(), &options)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn on_index_progress(
        mut self,
        report: impl Fn(IndexProgress) + Send + Sync + 'static,
    ) -> EmbeddedOptions {
        self.index_progress = Some(ProgressFn(Arc::new(report)));
        self
    }

    /// Sets the memory of the index's block cache.
    #[must_use]
    pub fn cache_size(mut self, bytes: u64) -> EmbeddedOptions {
        self.cache_size = bytes;
        self
    }

    /// Sets the most memory opening may take for the index.
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> EmbeddedOptions {
        self.memory_limit = Some(bytes);
        self
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> EmbeddedOptions {
        self.limits = limits;
        self
    }
}
