//! The embedded store's workloads, each against `F`: the rate of 4 KiB
//! appends followed by `fdatasync` on the same filesystem, measured in the
//! same run.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};

use crate::child;
use crate::report::{Latencies, Line, Measurement, round, rss_anon_mib};
use crate::workloads::{APPENDED_TAGS, appends_for, decision_reads};

/// How long each timed workload runs.
pub struct Durations {
    pub baseline: Duration,
    pub workload: Duration,
    /// Decision reads on the large store (`read`, and `open`'s memory
    /// after reads).
    pub reads: u64,
    /// Events in the large store.
    pub stored: u64,
    /// Keep the large store in `DIR/store-N` for later runs (`--keep`)
    /// rather than in a temporary directory.
    pub keep: bool,
    /// `open_after_kill`: the events the killed process appends first.
    pub kill_after: u64,
}

impl Durations {
    /// The sizes of a run (`--quick` or not), with those the command line
    /// sets.
    pub fn new(
        quick: bool,
        stored: Option<u64>,
        reads: Option<u64>,
        keep: bool,
        kill_after: Option<u64>,
    ) -> Durations {
        Durations {
            baseline: Duration::from_secs(if quick { 2 } else { 5 }),
            workload: Duration::from_secs(if quick { 3 } else { 10 }),
            reads: reads.unwrap_or(if quick { 20_000 } else { 100_000 }),
            stored: stored.unwrap_or(1_000_000),
            keep,
            kill_after: kill_after.unwrap_or(if quick { 100_000 } else { 1_000_000 }),
        }
    }
}

/// `F`: 4 KiB appends, each followed by `fdatasync`, per second.
pub fn raw_sync_rate(dir: &Path, duration: Duration) -> f64 {
    let (n, elapsed) = raw_syncs(dir, duration);
    rate(n, elapsed)
}

/// 4 KiB appends, each followed by `fdatasync`, for `duration`: how many,
/// and the time they took.
fn raw_syncs(dir: &Path, duration: Duration) -> (u64, Duration) {
    let path = dir.join("baseline.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("baseline file");
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        file.write_all(&block).expect("baseline write");
        file.sync_data().expect("baseline sync");
        n += 1;
    }
    let elapsed = start.elapsed();
    drop(file);
    let _ = std::fs::remove_file(path);
    (n, elapsed)
}

#[allow(clippy::cast_precision_loss)]
fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn measurement(
    workload: &'static str,
    clients: usize,
    events_per_append: usize,
    stored_events: u64,
    ops_per_sec: f64,
    latencies: &mut Latencies,
    f: f64,
) -> Measurement {
    Measurement {
        store: "embedded",
        workload,
        clients,
        events_per_append,
        stored_events,
        ops_per_sec,
        p50_us: latencies.percentile_us(50.0),
        p99_us: latencies.percentile_us(99.0),
        baseline: Some(("F", f)),
    }
}

/// `F` measured right before a workload, so that both meet the same disk:
/// on a shared machine the sync rate drifts from minute to minute.
fn baseline(parent: &Path, durations: &Durations) -> f64 {
    let f = raw_sync_rate(parent, durations.baseline);
    eprintln!("    (F = {f:.0} appends of 4 KiB + fdatasync per second)");
    f
}

/// Runs every embedded workload in a temporary directory under `parent`.
pub async fn run(parent: &Path, durations: &Durations, runs: impl Fn(&str) -> bool) {
    eprintln!("(stores and the F baseline in {})", parent.display());
    // The large store first, so that its open is measured in a process
    // that has not yet held other stores.
    if runs("read") || runs("open") || runs("conditional_append_large") || runs("open_after_kill") {
        stored_workloads(parent, durations, &runs).await;
    }
    if runs("conditional_append") {
        for clients in [1, 8, 32] {
            let f = baseline(parent, durations);
            let store_dir = tempfile::tempdir_in(parent).expect("store dir");
            let store = Arc::new(EmbeddedStore::open(store_dir.path()).expect("open"));
            let (mut latencies, appends, elapsed) =
                appends_for(&store, 0, clients, 1, durations.workload).await;
            let stats = store.commit_stats();
            let ops = rate(appends, elapsed);
            let clients = usize::try_from(clients).unwrap_or(0);
            measurement("conditional_append", clients, 1, 0, ops, &mut latencies, f).print();
            eprintln!(
                "    (mean batch: {:.1} appends per sync)",
                stats.mean_batch()
            );
        }
    }
    if runs("batch_append") {
        let f = baseline(parent, durations);
        let store_dir = tempfile::tempdir_in(parent).expect("store dir");
        let store = Arc::new(EmbeddedStore::open(store_dir.path()).expect("open"));
        let (mut latencies, appends, elapsed) =
            appends_for(&store, 0, 1, 100, durations.workload).await;
        // Events per second of append time, against F: the one client
        // spends a tenth of its time making the next 100 events, which is
        // not the store's cost. Wall-clock figures are printed beside.
        let in_appends = latencies.total();
        let events = rate(appends * 100, in_appends);
        eprintln!(
            "    (wall clock, with the client making its events: {:.0} events/s)",
            rate(appends * 100, elapsed)
        );
        measurement("batch_append_events", 1, 100, 0, events, &mut latencies, f).print();
        latencies.print_slow_share(SLOW_BATCH);
    }
}

/// The workloads on a store of `durations.stored` events: reopening it
/// (time, memory, size on disk), decision reads, appending into it, and
/// reopening it after a process appending to it was killed.
///
/// A child process fills the store and closes it (see [`child`]); with
/// `keep`, a store a former run filled is reused, and one it left short
/// (interrupted) is topped up.
async fn stored_workloads(parent: &Path, durations: &Durations, runs: &impl Fn(&str) -> bool) {
    let stored = durations.stored;
    let (dir, _temporary) = if durations.keep {
        (parent.join(format!("store-{stored}")), None)
    } else {
        let temporary = tempfile::tempdir_in(parent).expect("store dir");
        (temporary.path().to_owned(), Some(temporary))
    };
    let prepared = match child::prepare(&dir, stored) {
        Ok(prepared) => prepared,
        Err(err) => {
            eprintln!("cannot fill the store in {}: {err}", dir.display());
            return;
        }
    };
    let events = prepared.found.max(stored);
    let disk = dir_bytes(&dir);
    #[allow(clippy::cast_precision_loss)]
    let per_event = round(disk as f64 / events.max(1) as f64, 1);
    match prepared.filled {
        Some((appended, seconds)) => {
            let rate = rate(appended, Duration::from_secs_f64(seconds));
            eprintln!(
                "(filled {appended} events in {seconds:.1} s, {rate:.0} events/s, in {}; \
                 closed in {:.2} s; {disk} bytes on disk, {per_event} per event)",
                dir.display(),
                prepared.close_seconds,
            );
            Line {
                store: "embedded",
                workload: "fill",
                clients: 1,
                events_per_append: 1_000,
                stored_events: events,
                ops_per_sec: round(rate, 1),
                baseline: "none",
                events_appended: Some(appended),
                seconds: Some(round(seconds, 3)),
                disk_bytes: Some(disk),
                disk_bytes_per_event: Some(per_event),
                ..Line::default()
            }
            .print();
        }
        None => eprintln!(
            "(reusing the {events} events in {}: opened and closed in {:.2} s + {:.2} s; \
             {disk} bytes on disk, {per_event} per event)",
            dir.display(),
            prepared.open_seconds,
            prepared.close_seconds,
        ),
    }
    if runs("read") || runs("open") || runs("conditional_append_large") {
        let store = open_and_read(&dir, durations, runs, (disk, per_event)).await;
        if runs("conditional_append_large") {
            let large = Arc::new(store.clone());
            appends_into_large(parent, durations, &large, store.len() as u64).await;
        }
        store.close();
    }
    if runs("open_after_kill") {
        open_after_kill(&dir, durations.kill_after);
    }
}

/// A batch of 100 events slower than this waited for something besides
/// its write and sync (about 0.2–0.3 ms on the benchmarks' VMs); the
/// share of time such batches take is printed under the batch figures.
const SLOW_BATCH: Duration = Duration::from_millis(1);

/// The index's block cache of the stores reopened for reads, if
/// `--cache-mib` set one (else the store's default).
static CACHE_MIB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Sets the block cache of the stores reopened for reads (`--cache-mib`).
pub fn set_cache_mib(mib: u64) {
    let _ = CACHE_MIB.set(mib);
}

/// The options of a store reopened for reads.
fn options() -> EmbeddedOptions {
    match CACHE_MIB.get() {
        Some(&mib) => EmbeddedOptions::default().cache_size(mib << 20),
        None => EmbeddedOptions::default(),
    }
}

/// Opens the closed store in `dir` and makes decision reads on it; prints
/// `open` (time, resident memory after the open and after the reads, size
/// on disk) and `read`.
async fn open_and_read(
    dir: &Path,
    durations: &Durations,
    runs: &impl Fn(&str) -> bool,
    (disk, per_event): (u64, f64),
) -> EmbeddedStore {
    let rss_before = rss_anon_mib();
    let start = Instant::now();
    let store = EmbeddedStore::open_with(dir, &options()).expect("reopen");
    let open_time = start.elapsed();
    let rss_open = rss_anon_mib();
    let stored = store.len() as u64;
    let show = |mib: Option<f64>| mib.map_or_else(|| "?".to_owned(), |m| format!("{m:.0}"));
    eprintln!(
        "(opened a store of {stored} events in {:.1} ms; anonymous resident memory {} MiB before, {} MiB after)",
        open_time.as_secs_f64() * 1e3,
        show(rss_before),
        show(rss_open),
    );
    let mut reads = None;
    let mut rss_reads = None;
    if runs("read") || runs("open") {
        // The reads pick their courses among the filled ones.
        let (mut latencies, total, mean) =
            decision_reads(&store, durations.reads, durations.stored, 11).await;
        rss_reads = rss_anon_mib();
        reads = Some(durations.reads);
        eprintln!(
            "(a decision read returns {mean:.1} events on average; {} MiB after {} reads)",
            show(rss_reads),
            durations.reads
        );
        if runs("read") {
            let ops = rate(durations.reads, total);
            let mut m = measurement("read", 1, 0, stored, ops, &mut latencies, 0.0);
            m.baseline = None;
            m.print();
        }
    }
    let seconds = open_time.as_secs_f64();
    Line {
        store: "embedded",
        workload: "open",
        clients: 1,
        events_per_append: 0,
        stored_events: stored,
        ops_per_sec: round(1.0 / seconds, 3),
        p50_us: round(seconds * 1e6, 0),
        p99_us: round(seconds * 1e6, 0),
        baseline: "none",
        open_ms: Some(round(seconds * 1e3, 1)),
        rss_mib_before_open: rss_before,
        rss_mib: rss_open,
        rss_mib_after_reads: rss_reads,
        reads,
        disk_bytes: Some(disk),
        disk_bytes_per_event: Some(per_event),
        ..Line::default()
    }
    .print();
    store
}

/// Appends into the large store against an empty one and `F`, in rounds
/// that alternate them so that all three meet the same disk (whose sync
/// rate drifts within a minute): one writer, 32 writers, and one writer of
/// 100-event appends.
async fn appends_into_large(
    parent: &Path,
    durations: &Durations,
    large: &Arc<EmbeddedStore>,
    stored: u64,
) {
    for (variant, clients, events) in [(1u64, 1u64, 1u64), (2, 32, 1), (3, 1, 100)] {
        // Boundaries of their own, apart from the filled ones, from those
        // of the other variants and from those an earlier process appended
        // to the same store (`process`): every run appends to fresh
        // boundaries, and runs on one store stay comparable.
        let run = APPENDED_TAGS | process_bits() | (variant << 52);
        let empty_dir = tempfile::tempdir_in(parent).expect("store dir");
        let empty = Arc::new(EmbeddedStore::open(empty_dir.path()).expect("open"));
        let slice = durations.workload / 4;
        let mut totals = [
            (Latencies::default(), 0u64, Duration::ZERO),
            (Latencies::default(), 0, Duration::ZERO),
        ];
        let (mut syncs, mut sync_time) = (0, Duration::ZERO);
        let (mut f_low, mut f_high) = (f64::INFINITY, 0.0_f64);
        for round in 0..4 {
            let (n, elapsed) = raw_syncs(parent, durations.baseline / 4);
            (syncs, sync_time) = (syncs + n, sync_time + elapsed);
            let f = rate(n, elapsed);
            (f_low, f_high) = (f_low.min(f), f_high.max(f));
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for slot in order {
                let store = if slot == 0 { &empty } else { large };
                // Each round on boundaries of its own too.
                let run = run | (round << 45);
                let (latencies, appends, elapsed) =
                    appends_for(store, run, clients, events, slice).await;
                totals[slot].0.extend(latencies);
                totals[slot].1 += appends;
                totals[slot].2 += elapsed;
            }
        }
        drop(empty);
        let f = rate(syncs, sync_time);
        eprintln!(
            "    (F = {f:.0} appends of 4 KiB + fdatasync per second, measured between \
             the rounds: {f_low:.0} to {f_high:.0})"
        );
        let [
            (mut empty_lat, empty_n, empty_t),
            (mut large_lat, large_n, large_t),
        ] = totals;
        let clients = usize::try_from(clients).unwrap_or(0);
        let (workload, empty_ops, large_ops) = if events == 1 {
            (
                "conditional_append",
                rate(empty_n, empty_t),
                rate(large_n, large_t),
            )
        } else {
            // Events per second of append time, as `batch_append` counts.
            (
                "batch_append_events",
                rate(empty_n * events, empty_lat.total()),
                rate(large_n * events, large_lat.total()),
            )
        };
        let events = usize::try_from(events).unwrap_or(0);
        measurement(workload, clients, events, 0, empty_ops, &mut empty_lat, f).print();
        measurement(
            workload,
            clients,
            events,
            stored,
            large_ops,
            &mut large_lat,
            f,
        )
        .print();
        if events > 1 {
            empty_lat.print_slow_share(SLOW_BATCH);
            large_lat.print_slow_share(SLOW_BATCH);
        }
        eprintln!(
            "    (with {stored} events stored: {:.2}x the empty store's rate, measured alternately in this run)",
            large_ops / empty_ops
        );
    }
}

/// A child appends to the closed store in `dir` and is killed (SIGKILL) once it
/// has `kill_after` events acknowledged; the reopen is timed. Prints
/// `open_after_kill`, and closes the store cleanly again.
fn open_after_kill(dir: &Path, kill_after: u64) {
    let killed = match child::append_then_kill(dir, kill_after) {
        Ok(killed) => killed,
        Err(err) => {
            eprintln!("open_after_kill: {err}");
            return;
        }
    };
    let start = Instant::now();
    let store = EmbeddedStore::open(dir).expect("reopen after the kill");
    let open_time = start.elapsed();
    let stored = store.len() as u64;
    let appended = stored.saturating_sub(killed.found);
    eprintln!(
        "(a process appended {} events in {:.1} s to the {} stored and was killed; \
         the store reopened in {:.1} ms with {appended} of them, {stored} events in all)",
        killed.acknowledged,
        killed.seconds,
        killed.found,
        open_time.as_secs_f64() * 1e3,
    );
    let seconds = open_time.as_secs_f64();
    Line {
        store: "embedded",
        workload: "open_after_kill",
        clients: 1,
        events_per_append: usize::try_from(child::TAIL_BATCH).unwrap_or(0),
        stored_events: stored,
        ops_per_sec: round(1.0 / seconds, 3),
        p50_us: round(seconds * 1e6, 0),
        p99_us: round(seconds * 1e6, 0),
        baseline: "none",
        open_ms: Some(round(seconds * 1e3, 1)),
        events_appended: Some(appended),
        events_acknowledged: Some(killed.acknowledged),
        ..Line::default()
    }
    .print();
    store.close();
}

/// The bytes of every file under `dir` (apparent sizes).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bits 54–62 of the tags a process appends into the large store: nine bits
/// of the clock, so that two runs on one kept store meet each other's
/// boundaries once in 512 pairs at most.
fn process_bits() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::from(since.subsec_nanos()));
    (nanos & 0x1ff) << 54
}
