//! The embedded store's workloads, each against `F`: the rate of 4 KiB
//! appends followed by `fdatasync` on the same filesystem, measured in the
//! same run.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dcb_core::embedded::EmbeddedStore;

use crate::report::{Latencies, Line, Measurement, round};
use crate::workloads::{appends_for, decision_reads, fill};

/// How long each timed workload runs.
pub struct Durations {
    pub baseline: Duration,
    pub workload: Duration,
    pub reads: u64,
    pub stored: u64,
}

/// `F`: 4 KiB appends, each followed by `fdatasync`, per second.
pub fn raw_sync_rate(dir: &Path, duration: Duration) -> f64 {
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
    let rate = rate(n, start.elapsed());
    drop(file);
    let _ = std::fs::remove_file(path);
    rate
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
    }
    if runs("read") || runs("open") || runs("conditional_append_large") {
        stored_workloads(parent, durations, &runs).await;
    }
}

/// The workloads on a store of `durations.stored` events: decision reads,
/// reopening, and appending into the large store.
async fn stored_workloads(parent: &Path, durations: &Durations, runs: &impl Fn(&str) -> bool) {
    let store_dir = tempfile::tempdir_in(parent).expect("store dir");
    let stored = durations.stored;
    {
        let store = EmbeddedStore::open(store_dir.path()).expect("open");
        let start = Instant::now();
        fill(&store, stored, |n| eprintln!("    (filled {n} events)")).await;
        eprintln!(
            "(filled {stored} events in {:.1} s)",
            start.elapsed().as_secs_f64()
        );
        store.close();
    }
    let rss_before = resident_bytes();
    let start = Instant::now();
    let store = EmbeddedStore::open(store_dir.path()).expect("reopen");
    let open_time = start.elapsed();
    let rss_after = resident_bytes();
    #[allow(clippy::cast_precision_loss)]
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    eprintln!(
        "(opened a store of {stored} events in {:.2} s; resident memory grew by {:.0} MiB, to {:.0} MiB)",
        open_time.as_secs_f64(),
        mib(rss_after.saturating_sub(rss_before)),
        mib(rss_after)
    );
    Line {
        store: "embedded",
        workload: "open",
        clients: 1,
        events_per_append: 0,
        stored_events: stored,
        ops_per_sec: round(1.0 / open_time.as_secs_f64(), 3),
        p50_us: round(open_time.as_secs_f64() * 1e6, 0),
        p99_us: round(open_time.as_secs_f64() * 1e6, 0),
        baseline: "none",
        baseline_ops_per_sec: None,
        ratio: None,
        resident_mib: Some(round(mib(rss_after), 0)),
        metadata_entries: crate::workloads::metadata_entries(),
    }
    .print();
    if runs("read") {
        let (mut latencies, total, mean) =
            decision_reads(&store, durations.reads, stored, 11).await;
        eprintln!("(a decision read returns {mean:.1} events on average)");
        let ops = rate(durations.reads, total);
        let mut m = measurement("read", 1, 0, stored, ops, &mut latencies, 0.0);
        m.baseline = None;
        m.print();
    }
    if runs("conditional_append_large") || runs("conditional_append") {
        // The large store against an empty one in the same run, alternating
        // so that both meet the same disk.
        let empty_dir = tempfile::tempdir_in(parent).expect("store dir");
        let empty = Arc::new(EmbeddedStore::open(empty_dir.path()).expect("open"));
        let large = Arc::new(store);
        let half = durations.workload / 2;
        let mut totals = [
            (Latencies::default(), 0u64, Duration::ZERO),
            (Latencies::default(), 0, Duration::ZERO),
        ];
        for round in 0..4 {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for slot in order {
                let store = if slot == 0 { &empty } else { &large };
                let (latencies, appends, elapsed) = appends_for(store, 0, 1, 1, half / 2).await;
                totals[slot].0.extend(latencies);
                totals[slot].1 += appends;
                totals[slot].2 += elapsed;
            }
        }
        let f = baseline(parent, durations);
        let [
            (mut empty_lat, empty_n, empty_t),
            (mut large_lat, large_n, large_t),
        ] = totals;
        let empty_ops = rate(empty_n, empty_t);
        let large_ops = rate(large_n, large_t);
        measurement("conditional_append", 1, 1, 0, empty_ops, &mut empty_lat, f).print();
        measurement(
            "conditional_append",
            1,
            1,
            stored,
            large_ops,
            &mut large_lat,
            f,
        )
        .print();
        eprintln!(
            "    (with {stored} events stored: {:.2}x the empty store's rate, measured alternately in this run)",
            large_ops / empty_ops
        );
    }
}

/// The process's resident memory, from `/proc/self/statm`.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
