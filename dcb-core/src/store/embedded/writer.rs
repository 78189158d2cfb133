//! The writer thread: group commit.
//!
//! Appends queue up while the previous batch is being synced. The writer
//! takes all of them at once, has the engine decide each in order under its write
//! lock — idempotent repeat, condition, capacity, checked against the
//! committed events *and* the earlier appends of the batch — encodes the
//! accepted ones, writes and syncs the batch once, and only then publishes
//! it to readers and acknowledges every append of the batch.
//!
//! Once the batches since the last time fill the index interval
//! ([`EmbeddedOptions::index_interval`](super::EmbeddedOptions::index_interval))
//! of log, the writer hands the engine's in-memory tail down to the index
//! on disk, between batches. A thread of its own writes the run, while the
//! writer goes on committing batches; once the run is in the index, that
//! thread builds the tail that is left — the events committed since —
//! beside the current one, and the writer, between two batches, adds the
//! few committed after that and swaps the two. One run is written at a
//! time. While one is being written, the writer goes on until the tail has
//! [`WAIT_AT`] intervals of log beyond it, and only then waits for it: a
//! run into a large index can take longer than the appends take to fill
//! one interval. When the store closes, the writer waits for the run
//! being written and hands down what is left (unless it is less than
//! [`EmbeddedOptions::tail_kept_on_close`](super::EmbeddedOptions::tail_kept_on_close)),
//! so that the next open has little or no tail to replay; and if it wrote
//! runs while appending, it waits for the index's compaction to settle
//! (`DiskIndex::settle`), so that the next process does not find a merge
//! to do and wait for it as it closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use super::log::LogPoint;

use tokio::sync::oneshot;

use super::file_layer::FileLayer;
use super::index::{DiskIndex, Location};
use super::lock::Lock;
use super::log::{Log, WriteError};
use super::record::{self, Span};
use crate::model::error::{AppendError, BackendError};
use crate::store::engine::{Engine, Successor, Tail};
use crate::{AppendCondition, EventRecord, Position, Timestamp};

/// The most appends committed in one batch.
const MAX_BATCH: usize = 4096;

/// While a run is being written, how many intervals of log the tail may
/// gain beyond it before the writer waits for it.
const WAIT_AT: u64 = 2;

/// About the most intervals of log the in-memory tail holds, and so an
/// open replays after a crash: a run of up to [`WAIT_AT`] being written,
/// and up to [`WAIT_AT`] more committed meanwhile (each give or take a
/// batch).
pub(super) const TAIL_INTERVALS: u64 = 2 * WAIT_AT;

/// One append waiting for the writer.
pub(super) struct Request {
    pub(super) events: Vec<EventRecord>,
    pub(super) condition: Option<AppendCondition>,
    pub(super) reply: oneshot::Sender<Result<Position, AppendError>>,
}

/// Counters of the writer's work, for [`CommitStats`](super::CommitStats).
#[derive(Default)]
pub(super) struct Counters {
    /// Batches written and synced.
    pub(super) syncs: AtomicU64,
    /// Appends in those batches.
    pub(super) appends: AtomicU64,
}

/// Starts the writer; it runs until every sender is gone, then releases the
/// directory lock by dropping it.
pub(super) fn spawn<L: FileLayer>(
    log: Log<L>,
    lock: Lock,
    engine: Engine,
    index: Indexing,
    requests: Receiver<Request>,
    counters: Arc<Counters>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dcb-embedded-writer".to_owned())
        .spawn(move || {
            let mut writer = Writer {
                log,
                lock,
                engine,
                buffer: Vec::new(),
                spans: Vec::new(),
                record_spans: Vec::new(),
                failed: None,
                counters,
                indexing: index,
            };
            while let Ok(first) = requests.recv() {
                writer.log.layer().batch_starts();
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match requests.try_recv() {
                        Ok(request) => batch.push(request),
                        Err(_) => break,
                    }
                }
                writer.commit(batch);
            }
            writer.trim_log();
            // Runs written while appending (a bulk import), not the one a
            // short process writes as it closes, leave merges to settle.
            let wrote_runs = writer.indexing.handed_down;
            writer.finish_hand_down();
            if writer.indexing.unindexed > writer.indexing.kept_on_close {
                writer.start_hand_down();
                writer.finish_hand_down();
            }
            if wrote_runs && let Some(index) = &writer.indexing.index {
                index.settle();
            }
        })
}

/// The index the writer hands the tail down to, and when.
pub(super) struct Indexing {
    /// `None` when the index could not be opened: the tail is then every
    /// event.
    pub(super) index: Option<Arc<DiskIndex>>,
    /// The log bytes after which the tail is handed down.
    pub(super) interval: u64,
    /// The log bytes of the tail: written (or replayed on open) since the
    /// tail was last handed down.
    pub(super) unindexed: u64,
    /// The most log bytes of tail that closing leaves in the log.
    pub(super) kept_on_close: u64,
    /// Where each event of the engine's tail lies in the log, in order;
    /// kept only with an index.
    pub(super) locations: Vec<Location>,
    /// The run being written to the index, if any.
    pub(super) writing: Option<Writing>,
    /// Whether this writer has started writing a run to the index: one
    /// started while appending makes it wait for the index's compaction
    /// to settle as the store closes.
    pub(super) handed_down: bool,
}

impl Indexing {
    /// Whether the writer hands the tail down now: once the tail has
    /// [`interval`](Self::interval) bytes of log beyond the last run, or,
    /// while that run is still being written, [`WAIT_AT`] times as many —
    /// then the writer waits for it first. Until then it goes on committing: a run
    /// into a large index can take longer than the appends take to fill an
    /// interval, and a writer that waited for it would stall its appends.
    fn hand_down_due(&self) -> bool {
        hand_down_due(self.unindexed, self.interval, self.writing.is_some())
    }
}

/// [`Indexing::hand_down_due`], of the tail's `unindexed` log bytes, the
/// `interval`, and whether a run is being written (`writing`).
fn hand_down_due(unindexed: u64, interval: u64, writing: bool) -> bool {
    let due = if writing {
        interval.saturating_mul(WAIT_AT)
    } else {
        interval
    };
    unindexed >= due
}

/// A run being written to the index by a thread of its own: it yields how
/// many events of the tail, from its start, the index now keeps, and the
/// tail that is left, which the same thread builds once the run is in.
pub(super) struct Writing(JoinHandle<Result<(usize, Successor), BackendError>>);

struct Writer<L: FileLayer> {
    log: Log<L>,
    /// Held while the writer runs; checked before every batch.
    lock: Lock,
    /// The index the batches are decided against and published to.
    engine: Engine,
    /// The encoded records of the batch being committed.
    buffer: Vec<u8>,
    /// Where each event of the batch lies in `buffer`, and its time.
    spans: Vec<(Span, Timestamp)>,
    /// The spans of the record being encoded, from its start.
    record_spans: Vec<Span>,
    /// Set when a sync failed: nothing may be appended any more.
    failed: Option<String>,
    counters: Arc<Counters>,
    indexing: Indexing,
}

impl<L: FileLayer> Writer<L> {
    fn commit(&mut self, batch: Vec<Request>) {
        if self.failed.is_none()
            && let Err(reason) = self.lock.check()
        {
            self.failed = Some(reason);
        }
        if let Some(reason) = &self.failed {
            for request in batch {
                let _ = request.reply.send(Err(poisoned(reason)));
            }
            return;
        }
        self.buffer.clear();
        let (replies, appends): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|request| (request.reply, (request.events, request.condition)))
            .unzip();
        let buffer = &mut self.buffer;
        let spans = &mut self.spans;
        let record_spans = &mut self.record_spans;
        spans.clear();
        let pushed = self.engine.push(appends, |first, at, events| {
            let start = buffer.len() as u64;
            record_spans.clear();
            record::encode(first, at, events, buffer, record_spans).map_err(|err| {
                AppendError::Backend(BackendError::new(format!("{err}; nothing was written")))
            })?;
            spans.extend(record_spans.iter().map(|span| {
                let in_buffer = Span {
                    offset: start + span.offset,
                    ..*span
                };
                (in_buffer, at)
            }));
            Ok(())
        });
        let outcomes = if pushed.is_empty() {
            pushed.outcomes
        } else {
            let written = self.log.append(&self.buffer, pushed.before + 1);
            self.counters.syncs.fetch_add(1, Ordering::Relaxed);
            self.counters
                .appends
                .fetch_add(pushed.outcomes.len() as u64, Ordering::Relaxed);
            match written {
                Ok(()) => {
                    self.indexing.unindexed += self.buffer.len() as u64;
                    self.locate();
                    self.engine.publish(pushed)
                }
                Err(err) => {
                    let message = self.failure(err);
                    let before = pushed.before;
                    let mut outcomes = self.engine.roll_back(pushed);
                    for outcome in &mut outcomes {
                        if rests_on_batch(outcome, before) {
                            *outcome =
                                Err(AppendError::Backend(BackendError::new(message.clone())));
                        }
                    }
                    outcomes
                }
            }
        };
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
        if self
            .indexing
            .writing
            .as_ref()
            .is_some_and(|writing| writing.0.is_finished())
        {
            self.finish_hand_down();
        }
        if self.indexing.hand_down_due() {
            self.finish_hand_down();
            self.start_hand_down();
        }
    }

    /// Adds where each event of the batch just written lies in the log to
    /// the tail's locations: the batch ends where the log does now.
    fn locate(&mut self) {
        if self.indexing.index.is_none() {
            return;
        }
        let end = self.log.point();
        let start = end.offset - self.buffer.len() as u64;
        self.indexing
            .locations
            .extend(self.spans.iter().map(|&(span, at)| Location {
                segment: end.segment,
                offset: start + span.offset,
                len: span.len,
                crc: span.crc,
                recorded_at: Some(at),
            }));
    }

    /// Starts writing the engine's tail to the index, on a thread of its
    /// own; [`finish_hand_down`](Self::finish_hand_down) waits for it. Call
    /// it with no run being written.
    fn start_hand_down(&mut self) {
        debug_assert!(self.indexing.writing.is_none(), "one run at a time");
        let Some(index) = &self.indexing.index else {
            return;
        };
        self.indexing.unindexed = 0;
        let Some(Tail {
            first,
            events,
            latest,
        }) = self.engine.tail()
        else {
            return;
        };
        let point = self.log.point();
        let locations = &self.indexing.locations;
        if events.len() != locations.len() {
            tracing::warn!(
                events = events.len(),
                located = locations.len(),
                "the writer does not know where each event of the tail lies in the log; \
                 the tail stays in memory"
            );
            return;
        }
        let run: Vec<(EventRecord, Location)> = events
            .into_iter()
            .map(|(event, _)| event)
            .zip(locations.iter().copied())
            .collect();
        let index = Arc::clone(index);
        let engine = self.engine.clone();
        let spawned = std::thread::Builder::new()
            .name("dcb-embedded-index".to_owned())
            .spawn(move || {
                let count = write_run(&index, first, &run, point, latest)?;
                drop(run);
                Ok((count, engine.successor(count)))
            });
        match spawned {
            Ok(thread) => {
                self.indexing.writing = Some(Writing(thread));
                self.indexing.handed_down = true;
            }
            Err(err) => tracing::warn!(
                error = %err,
                "cannot start a thread to write the index; the tail stays in memory"
            ),
        }
    }

    /// Waits for the run being written to the index, if any, and drops the
    /// events it holds from the engine's tail. A failure leaves them in
    /// memory — the log has every event — and they are handed down again
    /// with the next run.
    fn finish_hand_down(&mut self) {
        let Some(Writing(thread)) = self.indexing.writing.take() else {
            return;
        };
        let written = thread.join().unwrap_or_else(|_| {
            Err(BackendError::new(
                "the thread writing the index panicked".to_owned(),
            ))
        });
        match written {
            Ok((count, successor)) => {
                self.engine.hand_down(successor);
                self.indexing.locations.drain(..count);
            }
            Err(err) => tracing::warn!(
                error = %err,
                "could not hand the in-memory tail down to the index; it stays in memory"
            ),
        }
    }

    /// Cuts the zeros written ahead off the log as the store closes, so
    /// that a closed store's last segment ends at its last record — unless
    /// the writer stopped (the log's state is then unknown) or another
    /// process may be writing the log.
    fn trim_log(&mut self) {
        if self.failed.is_some() || self.lock.check().is_err() {
            return;
        }
        if let Err(err) = self.log.trim() {
            tracing::warn!(
                log = %self.log.active_path().display(),
                error = %err,
                "cannot cut the zeros written ahead off the log as the store closes; \
                 the next open cuts them"
            );
        }
    }

    /// What a failed write tells the appends of its batch; a failure after
    /// which the log's state is unknown also stops the writer.
    fn failure(&mut self, err: WriteError) -> String {
        match err {
            WriteError::Write(e) => format!(
                "cannot write the log {}: {e}; nothing was written, the store is still usable",
                self.log.active_path().display()
            ),
            WriteError::Sync(e) => {
                let reason = format!(
                    "cannot make the log {} durable: {e}",
                    self.log.active_path().display()
                );
                self.failed = Some(reason.clone());
                reason
            }
            WriteError::Foreign(reason) => {
                self.failed = Some(reason.clone());
                reason
            }
        }
    }
}

/// Whether an append's outcome in a batch that was rolled back (after
/// position `before`) rests on the batch: it was accepted, or refused
/// because of an event accepted earlier in the batch — a failed condition
/// or a duplicate id naming a position that no longer exists. Such an
/// append shares the batch's failure.
fn rests_on_batch(outcome: &Result<Position, AppendError>, before: u64) -> bool {
    match outcome {
        Ok(_) => true,
        Err(AppendError::ConditionFailed { conflicting }) => conflicting.get() > before,
        Err(AppendError::DuplicateEventId { position, .. }) => position.get() > before,
        Err(_) => false,
    }
}

/// Writes `run`, the events from position `first` on with their
/// locations, to `index` as one run reaching `point` of the log; returns
/// how many events it holds.
fn write_run(
    index: &DiskIndex,
    first: crate::store::engine::Pos,
    run: &[(EventRecord, Location)],
    point: LogPoint,
    latest: Option<Timestamp>,
) -> Result<usize, BackendError> {
    let span = tracing::debug_span!("index.hand_down", first, events = run.len());
    let _entered = span.enter();
    index.write(
        first,
        run.iter().map(|(event, location)| (event, *location)),
        point,
        latest,
    )?;
    Ok(run.len())
}

fn poisoned(reason: &str) -> AppendError {
    AppendError::Backend(BackendError::new(format!(
        "{reason}; the store stopped appending to protect the log: open it again"
    )))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::embedded::{EmbeddedOptions, EmbeddedStore};
    use crate::store::embedded::index::held;
    use crate::{EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, Tag};

    /// An event of about 450 bytes of log, tagged with its parity.
    fn event(n: u64) -> EventRecord {
        let parity = if n.is_multiple_of(2) { "even" } else { "odd" };
        EventRecord::new(EventType::from_static("Counted"), vec![b'x'; 400])
            .with_tags([Tag::new(format!("parity:{parity}")).unwrap()])
    }

    async fn append(store: &EmbeddedStore, numbers: std::ops::Range<u64>) {
        for n in numbers {
            // Not a measurement: only a writer blocked on the index would
            // take this long.
            tokio::time::timeout(Duration::from_secs(30), store.append(vec![event(n)], None))
                .await
                .expect("the writer committed the append while the index was being written")
                .unwrap();
        }
    }

    async fn count(store: &EmbeddedStore, query: &Query) -> usize {
        store
            .read_to_end(query, ReadOptions::new())
            .await
            .unwrap()
            .events
            .len()
    }

    /// A hand-down falls due one interval of log after the last run
    /// started, or two while that run is still being written.
    #[test]
    fn a_hand_down_falls_due_later_while_a_run_is_written() {
        assert!(!super::hand_down_due(4095, 4096, false));
        assert!(super::hand_down_due(4096, 4096, false));
        assert!(!super::hand_down_due(8191, 4096, true));
        assert!(super::hand_down_due(8192, 4096, true));
        assert!(super::hand_down_due(u64::MAX, u64::MAX, true));
    }

    /// While a run is written to the index, the writer goes on committing
    /// batches, and reads see every event — those in the run being written
    /// once, not twice. Once the run is in, the writer keeps only the
    /// events after it in memory, and a clean close leaves nothing to
    /// replay.
    #[test]
    fn the_writer_commits_while_a_run_is_written_to_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default()
            .index_interval(4096)
            .tail_kept_on_close(0);
        let even = Query::from(QueryItem::new().tags([Tag::new("parity:even").unwrap()]));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
            let held = held::hold(dir.path());
            // Ten appends of 450 bytes fill the interval: a run starts, and
            // waits. Fifteen more fill another interval, but not two: the
            // hand-down they make due does not wait for the run.
            append(&store, 0..25).await;
            assert_eq!(count(&store, &Query::all()).await, 25);
            assert_eq!(count(&store, &even).await, 13);
            drop(held);
            append(&store, 25..35).await;
            assert_eq!(count(&store, &Query::all()).await, 35);
            assert_eq!(count(&store, &even).await, 18);
            store.close();

            let store = EmbeddedStore::open_with(dir.path(), &options).unwrap();
            assert_eq!(store.recovery().replayed, 0);
            assert_eq!(count(&store, &Query::all()).await, 35);
            assert_eq!(count(&store, &even).await, 18);
            store.close();
        });
    }
}
