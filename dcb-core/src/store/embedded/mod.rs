//! [`EmbeddedStore`]: a durable store in one directory, with no server.
//!
//! The store is a checksummed segment log on disk plus the in-memory index
//! of the [`InMemoryStore`](crate::InMemoryStore), rebuilt from the log when
//! the store opens. One writer thread *group-commits*: it takes every
//! append waiting at once, checks each condition against the committed
//! events and the earlier appends of the same batch, writes the batch, and
//! makes it durable with one `fdatasync` before any append of the batch is
//! acknowledged or becomes visible to reads. See `docs/design.md` for the
//! file format and the recovery rules.
//!
//! ```
//! use dcb_core::embedded::EmbeddedStore;
//! use dcb_core::{EventRecord, EventStore, EventType, Query, ReadOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("dcb-doc-{}", dcb_core::Uuid::new_v4()));
//! {
//!     let store = EmbeddedStore::open(&dir)?;
//!     store.append(vec![EventRecord::new(EventType::from_static("Opened"), "{}")], None).await?;
//! }
//! let store = EmbeddedStore::open(&dir)?; // the event survived
//! assert_eq!(store.read_to_end(&Query::all(), ReadOptions::new()).await?.events.len(), 1);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Reading a store another process has open
//!
//! [`EmbeddedStore::open_read_only`] opens a store without its lock and
//! without changing any file, so a tool can read a store while the
//! application that owns it is running. It follows that application's
//! appends: reads and subscriptions see them within about 50 ms.
//!
//! ```
//! use dcb_core::embedded::EmbeddedStore;
//! use dcb_core::{EventRecord, EventStore, EventType, Query};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("dcb-doc-{}", dcb_core::Uuid::new_v4()));
//! let store = EmbeddedStore::open(&dir)?;
//! let reader = EmbeddedStore::open_read_only(&dir)?;
//! let mut new_events = reader.subscribe(Query::all(), None);
//! store.append(vec![EventRecord::new(EventType::from_static("Opened"), "{}")], None).await?;
//! assert_eq!(new_events.next().await?.position.get(), 1);
//! assert!(reader.append(vec![EventRecord::new(EventType::from_static("Opened"), "{}")], None).await.is_err());
//! # drop((store, reader, new_events));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod follow;
mod lock;
mod log;
mod manifest;
mod memory;
mod record;
mod writer;

use std::future::{Future, ready};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use self::writer::Request;
use crate::model::error::{AppendError, BackendError, ReadError};
use crate::model::read::{ReadOptions, ReadResult};
use crate::store::engine::{Engine, IndexedEvents};
use crate::{AppendCondition, EventRecord, EventStore, Limits, Position, Query};

/// How to open an [`EmbeddedStore`].
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
    /// fails to open with [`OpenError::OutOfMemory`].
    pub memory_limit: Option<u64>,
}

impl Default for EmbeddedOptions {
    fn default() -> EmbeddedOptions {
        EmbeddedOptions {
            lock_timeout: Duration::from_secs(30),
            segment_size: 256 << 20,
            limits: Limits::default(),
            memory_limit: None,
        }
    }
}

impl EmbeddedOptions {
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

/// What opening the store found and repaired.
///
/// ```
/// use dcb_core::embedded::EmbeddedStore;
///
/// # let dir = tempfile::tempdir()?;
/// let store = EmbeddedStore::open(dir.path())?;
/// if let Some(cut) = &store.recovery().truncated {
///     eprintln!("warning: {cut}"); // tell the operator what was cut, and where it was kept
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The number of events in the store.
    pub events: u64,
    /// The number of segment files.
    pub segments: usize,
    /// The damaged end of the log that opening cut off, if any.
    pub truncated: Option<Truncation>,
    /// For a [read-only](EmbeddedStore::open_read_only) open, which changes
    /// no file: a damaged end of the log it left in place and did not read.
    /// A writer may be in the middle of writing it; if not, the next
    /// writable open cuts it off and keeps it.
    pub skipped: Option<Truncation>,
}

/// A damaged end of the log, cut off when the store was opened.
///
/// Where a write can tear — at the very end of the last segment — a
/// damaged record is most likely an append that never completed, and such
/// an append was never acknowledged: an append is acknowledged only once
/// it is durable. But a bit flipped in the last record looks the same, so
/// the bytes cut are kept in [`kept`](Self::kept) (unless they were all
/// zeros): if the last append was acknowledged, it can be recovered from
/// there. Damage anywhere else is refused as [`OpenError::Corrupt`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// The segment file cut.
    pub file: PathBuf,
    /// The offset its valid data ends at, and where it was cut.
    pub offset: u64,
    /// The number of bytes cut.
    pub bytes: u64,
    /// What was wrong with them.
    pub reason: String,
    /// The file holding the bytes cut (in the store's `damaged/` folder),
    /// or `None` when there was nothing to keep: zeros, or a segment whose
    /// creation was cut short.
    pub kept: Option<PathBuf>,
    /// Whether the bytes were left in the file ([`Recovery::skipped`]).
    left_in_place: bool,
}

impl Truncation {
    /// A damaged end that opening cut off.
    fn cut(
        file: PathBuf,
        offset: u64,
        bytes: u64,
        reason: &str,
        kept: Option<PathBuf>,
    ) -> Truncation {
        Truncation {
            file,
            offset,
            bytes,
            reason: reason.to_owned(),
            kept,
            left_in_place: false,
        }
    }

    /// A damaged end that a read-only open left in place.
    fn left_in_place(file: PathBuf, offset: u64, bytes: u64, reason: &str) -> Truncation {
        Truncation {
            left_in_place: true,
            ..Truncation::cut(file, offset, bytes, reason, None)
        }
    }
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.left_in_place {
            return write!(
                f,
                "did not read the last {} bytes of {} from byte {} ({}): a writer may be in the \
                 middle of writing them; if none is, the next writable open cuts them off and \
                 keeps them",
                self.bytes,
                self.file.display(),
                self.offset,
                self.reason
            );
        }
        write!(
            f,
            "cut {} bytes off the end of {} at byte {} ({}), most likely a write that was never \
             acknowledged",
            self.bytes,
            self.file.display(),
            self.offset,
            self.reason
        )?;
        match &self.kept {
            Some(kept) => write!(f, "; the bytes cut are kept in {}", kept.display()),
            None => write!(f, "; they held no data"),
        }
    }
}

/// How the writer has grouped appends since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Batches written, each made durable with one sync.
    pub syncs: u64,
    /// Appends in those batches.
    pub appends: u64,
}

impl CommitStats {
    /// Appends per sync.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn mean_batch(&self) -> f64 {
        if self.syncs == 0 {
            0.0
        } else {
            self.appends as f64 / self.syncs as f64
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process has the store open and did not close it in time.
    #[error(
        "the store in {} is in use by another process (waited {waited:?}); \
         close it or raise the lock timeout",
        dir.display()
    )]
    Locked {
        /// The store's directory.
        dir: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The log is damaged before its end: acknowledged data is unreadable.
    #[error(
        "the store's log is damaged in {} at byte {offset}: {reason}; \
         restore the file from a backup (nothing was changed)",
        file.display()
    )]
    Corrupt {
        /// The damaged segment file.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment the store's manifest records is missing: the log would
    /// open shorter than it is.
    #[error(
        "the segment {} is missing, although the store's manifest says the log continues \
         there; restore it from a backup (nothing was changed)",
        file.display()
    )]
    MissingSegment {
        /// The missing segment file.
        file: PathBuf,
    },
    /// The store's index would not fit in the memory at hand.
    #[error(
        "opening the store in {} needs about {} of memory for its index, over {} \
         available under {limited_by}; free memory or raise that limit",
        dir.display(),
        memory::mib(*needed),
        memory::mib(*available)
    )]
    OutOfMemory {
        /// The store's directory.
        dir: PathBuf,
        /// The memory the open would take, estimated.
        needed: u64,
        /// The memory at hand.
        available: u64,
        /// What limits it.
        limited_by: &'static str,
    },
    /// The path given is not a directory.
    #[error("{} is not a directory; give the directory that holds (or will hold) the store", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file in the directory is not a segment of this format.
    #[error("{} is not a segment of a dcb store; is this the right directory?", file.display())]
    NotAStore {
        /// The file.
        file: PathBuf,
    },
    /// A read-only open found no store to read.
    #[error("there is no dcb store in {}: {reason}", dir.display())]
    NoStore {
        /// The directory given.
        dir: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// An I/O error on a file of the store.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl OpenError {
    fn io(path: &Path, source: std::io::Error) -> OpenError {
        OpenError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A durable event store in one directory; see the [module](self).
///
/// - Positions are gap-free.
/// - An append returns only once its events are durable (`fdatasync`);
///   concurrent appends share one sync.
/// - Reads are served from memory and never wait for a sync.
/// - One process at a time: a second one waits for the directory's lock.
///   Any number of others may [open it read-only](Self::open_read_only).
/// - Clones share the same store; the last one to be dropped waits for the
///   writer to finish what was submitted.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    engine: Engine,
    limits: Limits,
    recovery: Recovery,
    role: Role,
    /// The writer thread, or a read-only store's follower thread.
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// What the store's thread does: write this process's appends, or follow
/// the log another process writes.
enum Role {
    Writer {
        /// Where appends go; `None` once closed.
        requests: Mutex<Option<mpsc::Sender<Request>>>,
        counters: Arc<writer::Counters>,
    },
    Follower {
        /// The follower stops when this is dropped.
        stop: Mutex<Option<mpsc::Sender<()>>>,
        /// Why the follower stopped, if it did.
        failure: Arc<OnceLock<String>>,
    },
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir` with the default options.
    ///
    /// Opening reads the whole log to rebuild the index; it blocks, so in
    /// async code call it from `spawn_blocking`.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedStore, OpenError> {
        EmbeddedStore::open_with(dir, &EmbeddedOptions::default())
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: &EmbeddedOptions,
    ) -> Result<EmbeddedStore, OpenError> {
        let dir = dir.as_ref();
        if let Err(err) = std::fs::create_dir_all(dir) {
            return Err(match std::fs::metadata(dir) {
                Ok(found) if !found.is_dir() => OpenError::NotADirectory {
                    path: dir.to_owned(),
                },
                _ => OpenError::io(dir, err),
            });
        }
        let lock = lock::acquire(dir, options.lock_timeout)?;
        let (log, replayed) = log::Log::open(dir, options.segment_size, options.memory_limit)?;
        let engine = Engine::default();
        engine.replay(replayed.records);
        let (sender, receiver) = mpsc::channel();
        let counters = Arc::new(writer::Counters::default());
        let writer = writer::spawn(log, lock, engine.clone(), receiver, Arc::clone(&counters))
            .map_err(|e| OpenError::io(dir, e))?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                engine,
                limits: options.limits,
                recovery: replayed.recovery,
                role: Role::Writer {
                    requests: Mutex::new(Some(sender)),
                    counters,
                },
                worker: Mutex::new(Some(writer)),
            }),
        })
    }

    /// Opens the store in `dir` for reading only, while another process may
    /// have it open for writing.
    ///
    /// It takes no lock and changes no file: a damaged record at the end of
    /// the log is skipped rather than cut off, since a writer may be in the
    /// middle of writing it (damage anywhere else is still
    /// [`OpenError::Corrupt`]). A thread then follows the log, reading
    /// every 50 ms the records another process completed, so reads and
    /// subscriptions see its appends. Appends fail with
    /// [`AppendError::ReadOnly`]. A missing directory, or one without
    /// segment files or a `LOCK` file, is [`OpenError::NoStore`].
    ///
    /// Opening reads the whole log, like [`open`](Self::open).
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<EmbeddedStore, OpenError> {
        let dir = dir.as_ref();
        let (follower, replayed) = follow::Follower::open(dir)?;
        let engine = Engine::default();
        engine.replay(replayed.records);
        let failure = Arc::new(OnceLock::new());
        let (stop, stopped) = mpsc::channel();
        let worker = follow::spawn(follower, engine.clone(), stopped, Arc::clone(&failure))
            .map_err(|e| OpenError::io(dir, e))?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                engine,
                limits: Limits::default(),
                recovery: replayed.recovery,
                role: Role::Follower {
                    stop: Mutex::new(Some(stop)),
                    failure,
                },
                worker: Mutex::new(Some(worker)),
            }),
        })
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        matches!(self.inner.role, Role::Follower { .. })
    }

    /// The store's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What opening the store found and repaired.
    #[must_use]
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// How the writer has grouped appends so far (nothing for a read-only
    /// store).
    #[must_use]
    pub fn commit_stats(&self) -> CommitStats {
        use std::sync::atomic::Ordering::Relaxed;
        match &self.inner.role {
            Role::Writer { counters, .. } => CommitStats {
                syncs: counters.syncs.load(Relaxed),
                appends: counters.appends.load(Relaxed),
            },
            Role::Follower { .. } => CommitStats::default(),
        }
    }

    /// The number of stored events.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.inner.engine.last()).unwrap_or(usize::MAX)
    }

    /// Whether no event is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the writer to finish every submitted append and releases
    /// the directory's lock (for a read-only store: stops following the
    /// log). Appends on clones made before fail afterwards.
    pub fn close(self) {
        self.inner.shut_down();
    }

    fn submit(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send + use<> {
        let checked = self
            .inner
            .limits
            .check_append(&events)
            .map_err(AppendError::from)
            .and_then(|()| {
                let Role::Writer { requests, .. } = &self.inner.role else {
                    return Err(AppendError::ReadOnly {
                        store: format!("the store in {}", self.inner.dir.display()),
                    });
                };
                let (reply, outcome) = tokio::sync::oneshot::channel();
                let requests = requests.lock();
                let sender = requests.as_ref().ok_or_else(closed)?;
                sender
                    .send(Request {
                        events,
                        condition,
                        reply,
                    })
                    .map_err(|_| closed())?;
                Ok(outcome)
            });
        async move {
            match checked {
                Ok(outcome) => outcome.await.unwrap_or_else(|_| Err(closed())),
                Err(err) => Err(err),
            }
        }
    }
}

fn closed() -> AppendError {
    AppendError::Backend(BackendError::new(
        "the store is closed (or its writer stopped after an I/O error); open it again",
    ))
}

impl Inner {
    fn shut_down(&self) {
        match &self.role {
            Role::Writer { requests, .. } => drop(requests.lock().take()),
            Role::Follower { stop, .. } => drop(stop.lock().take()),
        }
        if let Some(worker) = self.worker.lock().take() {
            let _ = worker.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl EventStore for EmbeddedStore {
    type Stream = IndexedEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<IndexedEvents, ReadError>> + Send {
        ready(
            options
                .check()
                .map_err(ReadError::from)
                .map(|()| self.inner.engine.read(query, options)),
        )
    }

    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        ready(
            options
                .check()
                .map_err(ReadError::from)
                .map(|()| self.inner.engine.read_to_end(query, options)),
        )
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        self.submit(events, condition)
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        ready(Ok(self.inner.engine.head()))
    }

    async fn wait_for_append(&self, after: Option<Position>) -> Result<(), ReadError> {
        let Role::Follower { failure, .. } = &self.inner.role else {
            self.inner.engine.wait_past(after).await;
            return Ok(());
        };
        // The follower wakes the signal too, but it may also stop on an
        // error, which the signal cannot carry: look for that now and then.
        loop {
            if let Some(reason) = failure.get() {
                return Err(ReadError::Backend(BackendError::new(format!(
                    "the read-only store in {} stopped following the log: {reason}",
                    self.inner.dir.display()
                ))));
            }
            let wait = self.inner.engine.wait_past(after);
            if tokio::time::timeout(follow::FOLLOW_INTERVAL * 4, wait)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.inner.dir)
            .field("events", &self.len())
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}
