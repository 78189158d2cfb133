//! [`EmbeddedStore`]: a durable store in one directory, with no server.
//!
//! The store is a checksummed segment log on disk, the source of truth,
//! plus an index on disk derived from it (`DIR/index/`), so that opening
//! takes milliseconds at any size; the events appended since the index
//! last caught up are held in memory and read again from the log after a
//! crash. One writer thread *group-commits*: it takes every append waiting
//! at once, checks each condition against the committed events and the
//! earlier appends of the same batch, writes the batch, and makes it
//! durable with one `fdatasync` before any append of the batch is
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
//! # Disk and memory
//!
//! Events of the shape the benchmarks use (about 70 bytes of data, two
//! tags) take about 230 bytes each on disk: some 140 in the log, the rest
//! in the index. The process's own memory does not grow with the store:
//! it holds the index's block cache ([`EmbeddedOptions::cache_size`], 256
//! MiB by default) and the events not yet in the index (bounded by
//! [`EmbeddedOptions::index_interval`]), about 280 MiB in all after 100k
//! random decision reads of a 100M-event store. The log and the index are
//! read through the operating system's page cache, so a read's speed
//! depends on how much of them it holds. On the benchmarks' 2-core VMs
//! (24 GiB) the median decision read of 10 events takes 17–19 µs at 10M
//! events (2.5 GB) and 22–33 µs at 100M (23 GB, about as much as the page
//! cache holds there); at 100M the slowest percent are reads that fetch a
//! block from the disk (docs/benchmarks.md, "Embedded store").
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
//!
//! # The store's files
//!
//! The store's directory is the store's alone: nothing else may change a
//! file in it. The store reads the log's segments through memory maps, so a program that cuts a
//! segment short while a store has it open makes that process die of
//! `SIGBUS` on its next read there (as with LMDB, or `SQLite`'s
//! memory-mapped reads). A segment damaged while no process has it open is
//! an error on open or on read, never a crash.

mod budget;
mod error;
#[cfg(test)]
mod faults;
mod file_layer;
mod follow;
mod index;
mod lock;
mod log;
mod log_scan;
mod manifest;
mod options;
mod record;
mod recovery;
mod reopen;
mod writer;

pub use self::error::OpenError;
pub use self::options::{EmbeddedOptions, IndexProgress};
pub use self::recovery::{Recovery, Truncation};

use std::future::{Future, ready};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use self::writer::Request;
use crate::model::error::{AppendError, BackendError, ReadError};
use crate::model::read::{ReadOptions, ReadResult};
use crate::store::engine::{Engine, IndexedEvents};
use crate::store::trace;
use crate::{AppendCondition, EventRecord, EventStore, Limits, Position, Query};

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
    /// Opening reads the index on disk and replays only the log written
    /// since the index's last run: milliseconds after a clean close at any
    /// size, at most about four [index
    /// intervals](EmbeddedOptions::index_interval) of log after a crash, and
    /// the whole log once for a store whose index is missing or of another
    /// format. It blocks, so in async code call it from `spawn_blocking`.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedStore, OpenError> {
        EmbeddedStore::open_with(dir, &EmbeddedOptions::default())
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: &EmbeddedOptions,
    ) -> Result<EmbeddedStore, OpenError> {
        EmbeddedStore::open_on(dir.as_ref(), options, file_layer::Disk)
    }

    /// Opens (or creates) the store in `dir`, its appends writing through
    /// `layer`.
    fn open_on<L: file_layer::FileLayer>(
        dir: &Path,
        options: &EmbeddedOptions,
        layer: L,
    ) -> Result<EmbeddedStore, OpenError> {
        let dir = given(dir)?;
        if let Err(err) = std::fs::create_dir_all(dir) {
            return Err(match std::fs::metadata(dir) {
                Ok(found) if !found.is_dir() => OpenError::NotADirectory {
                    path: dir.to_owned(),
                },
                _ => OpenError::io(dir, err),
            });
        }
        let lock = lock::acquire(dir, options.lock_timeout)?;
        let reopen::Reopened {
            log,
            engine,
            index,
            locations,
            unindexed,
            recovery,
        } = reopen::reopen(dir, options, layer)?;
        warn_of_damage(dir, &recovery);
        let (sender, receiver) = mpsc::channel();
        let counters = Arc::new(writer::Counters::default());
        let indexing = writer::Indexing {
            index,
            interval: options.index_interval,
            unindexed,
            kept_on_close: options.tail_kept_on_close,
            locations,
            writing: None,
            handed_down: false,
        };
        let writer = writer::spawn(
            log,
            lock,
            engine.clone(),
            indexing,
            receiver,
            Arc::clone(&counters),
        )
        .map_err(|e| OpenError::io(dir, e))?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                engine,
                limits: options.limits,
                recovery,
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
    /// Opening reads the whole log into memory (about 700 bytes per event):
    /// the index on disk belongs to the writer's process. A store too large
    /// for memory is [`OpenError::OutOfMemory`];
    /// [`open_read_only_scanning`](Self::open_read_only_scanning) reads
    /// beside the writer in small memory at any size, and a store that no
    /// process has open reads faster and in bounded memory with
    /// [`open`](Self::open).
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<EmbeddedStore, OpenError> {
        let dir = given(dir.as_ref())?;
        let (follower, replayed) = follow::Follower::open(dir)?;
        warn_of_damage(dir, &replayed.recovery);
        let engine = Engine::default();
        engine.replay(replayed.records);
        EmbeddedStore::follow(dir, follower, engine, replayed.recovery)
    }

    /// Opens the store in `dir` for reading only, like
    /// [`open_read_only`](Self::open_read_only), but without an index:
    /// opening reads only the last segment of the log, and memory stays
    /// small at any size, while each read scans the log for its events.
    ///
    /// Reading on from where the last read stopped — a subscription, a
    /// listing, a read model catching up — reads each byte of the log once
    /// (the store marks where records start as it reads); a selective read,
    /// such as one tag's events, reads the whole range it covers. So this
    /// suits a process that reads a large store once or follows it (an
    /// inspector, a report, a read model beside the application), and
    /// [`open_read_only`](Self::open_read_only) one that makes many
    /// selective reads of a store that fits in memory. Events appended
    /// after the open are followed and indexed in memory as with
    /// `open_read_only`. Opening reads the last segment of the log, a MiB
    /// at a time, to find the end of its whole records; damage before the
    /// last segment is found when a read reaches it, and fails that read.
    ///
    /// ```
    /// use dcb_core::embedded::EmbeddedStore;
    /// use dcb_core::{EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, Tag};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let writer = EmbeddedStore::open(dir.path())?;
    /// let noted = EventRecord::new(EventType::from_static("Noted"), "{}")
    ///     .with_tags([Tag::new("topic:a")?]);
    /// writer.append(vec![noted], None).await?;
    ///
    /// // Beside the writer, in this process or another:
    /// let reader = EmbeddedStore::open_read_only_scanning(dir.path())?;
    /// let topic = Query::from(QueryItem::new().tags([Tag::new("topic:a")?]));
    /// let read = reader.read_to_end(&topic, ReadOptions::new()).await?;
    /// assert_eq!(read.events.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only_scanning(dir: impl AsRef<Path>) -> Result<EmbeddedStore, OpenError> {
        let dir = given(dir.as_ref())?;
        let follow::AtEnd {
            follower,
            log,
            recovery,
            latest,
        } = follow::Follower::open_at_end(dir)?;
        warn_of_damage(dir, &recovery);
        let end = recovery.events;
        let engine = Engine::on(Arc::new(log), end, latest, crate::Clock::system());
        EmbeddedStore::follow(dir, follower, engine, recovery)
    }

    /// A read-only store on `engine`, which `follower` keeps up with the
    /// log.
    fn follow(
        dir: &Path,
        follower: follow::Follower,
        engine: Engine,
        recovery: Recovery,
    ) -> Result<EmbeddedStore, OpenError> {
        let failure = Arc::new(OnceLock::new());
        let (stop, stopped) = mpsc::channel();
        let worker = follow::spawn(follower, engine.clone(), stopped, Arc::clone(&failure))
            .map_err(|e| OpenError::io(dir, e))?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                engine,
                limits: Limits::default(),
                recovery,
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
    ///
    /// Closing also hands the in-memory tail down to the index (unless it
    /// is under [`EmbeddedOptions::tail_kept_on_close`]), and, if this
    /// store handed runs down while appending, waits up to a minute for the
    /// index's merges to settle, so that the next open finds none to wait
    /// for: after a bulk import of millions of events, closing takes
    /// seconds; after a few appends, milliseconds.
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

/// The store's directory as given, unless the path is empty (which names
/// no directory, though some calls would take it as the current one).
fn given(dir: &Path) -> Result<&Path, OpenError> {
    if dir.as_os_str().is_empty() {
        return Err(OpenError::EmptyPath);
    }
    Ok(dir)
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

/// The store's name in `tracing` spans.
const STORE: &str = "embedded";

/// Warns, through `tracing`, of each damaged end an open cut off or left
/// unread: recovery acted, and an operator may want the kept bytes.
fn warn_of_damage(dir: &Path, recovery: &Recovery) {
    for damage in recovery.damage() {
        tracing::warn!(dir = %dir.display(), "{damage}");
    }
}

impl EventStore for EmbeddedStore {
    type Stream = IndexedEvents;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<IndexedEvents, ReadError>> + Send {
        let span = trace::read(STORE, query, &options);
        ready(span.in_scope(|| self.inner.engine.read(query, options)))
    }

    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        let span = trace::read(STORE, query, &options);
        ready(span.in_scope(|| self.inner.engine.read_to_end(query, options)))
    }

    fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> impl Future<Output = Result<Position, AppendError>> + Send {
        let (count, conditional) = (events.len(), condition.is_some());
        trace::append(STORE, count, conditional, self.submit(events, condition))
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
