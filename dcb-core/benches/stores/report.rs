//! Measurements and how they are printed: one JSON object per line on
//! stdout (docs/spec.md §5) and a table on stderr.

use std::fmt::Write as _;
use std::time::Duration;

/// What a run measured, with its baseline.
pub struct Measurement {
    pub store: &'static str,
    pub workload: &'static str,
    pub clients: usize,
    pub events_per_append: usize,
    pub stored_events: u64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// The baseline's name and rate, when the workload has one.
    pub baseline: Option<(&'static str, f64)>,
}

/// One measurement as docs/spec.md §5 prints it: a JSON object per line.
/// Figures are rounded as the table shows them; a figure that is not a
/// number (a rate of nothing) is `null`, as `serde_json` writes it.
/// The optional fields after `ratio` appear only on the lines that measure
/// them.
#[derive(serde::Serialize, Default)]
pub struct Line<'a> {
    pub store: &'a str,
    pub workload: &'a str,
    pub clients: usize,
    pub events_per_append: usize,
    pub stored_events: u64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub baseline: &'a str,
    pub baseline_ops_per_sec: Option<f64>,
    pub ratio: Option<f64>,
    /// How long opening the store took, in milliseconds (`open`,
    /// `open_after_kill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<f64>,
    /// Anonymous resident memory (`RssAnon` of `/proc/self/status`: file
    /// pages the kernel may drop do not count) right before the open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib_before_open: Option<f64>,
    /// The same right after the open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<f64>,
    /// The same after `reads` decision reads on the opened store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib_after_reads: Option<f64>,
    /// The decision reads behind `rss_mib_after_reads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<u64>,
    /// The size of the store's directory (every file in it, apparent
    /// size), after a clean close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
    /// `disk_bytes` per stored event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes_per_event: Option<f64>,
    /// Events this run appended to fill the store (`fill`), or that the
    /// killed process appended and the reopened store holds
    /// (`open_after_kill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_appended: Option<u64>,
    /// Events whose appends the killed process saw acknowledged before the
    /// kill (`open_after_kill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_acknowledged: Option<u64>,
    /// Seconds the workload took as a whole (`fill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The metadata entries on each appended event (`--metadata N`).
    #[serde(skip_serializing_if = "is_zero")]
    pub metadata_entries: usize,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Line<'_> {
    /// Prints the line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(err) => eprintln!("cannot write the measurement as JSON: {err}"),
        }
    }
}

/// The process's anonymous resident memory in MiB: `RssAnon` of
/// `/proc/self/status` (`None` where there is no such file). Unlike
/// `VmRSS` it leaves out the file pages of a mapped store, which the kernel
/// may drop at any time.
#[allow(clippy::cast_precision_loss)]
pub fn rss_anon_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line
        .trim_start_matches("RssAnon:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(round(kib as f64 / 1024.0, 1))
}

/// `x` rounded to `decimals` places.
pub fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (x * scale).round() / scale
}

impl Measurement {
    pub fn print(&self) {
        Line {
            store: self.store,
            workload: self.workload,
            clients: self.clients,
            events_per_append: self.events_per_append,
            stored_events: self.stored_events,
            ops_per_sec: round(self.ops_per_sec, 1),
            p50_us: round(self.p50_us, 3),
            p99_us: round(self.p99_us, 3),
            baseline: self.baseline.map_or("none", |(name, _)| name),
            baseline_ops_per_sec: self.baseline.map(|(_, rate)| round(rate, 1)),
            ratio: self
                .baseline
                .map(|(_, rate)| round(self.ops_per_sec / rate, 3)),
            metadata_entries: crate::workloads::metadata_entries(),
            ..Line::default()
        }
        .print();
        let mut row = format!(
            "{:<9} {:<20} {:>7} {:>6} {:>10} {:>14.0} {:>10.3} {:>10.3}",
            self.store,
            self.workload,
            self.clients,
            self.events_per_append,
            self.stored_events,
            self.ops_per_sec,
            self.p50_us,
            self.p99_us,
        );
        if let Some((name, rate)) = self.baseline {
            let _ = write!(
                row,
                "   {:.2}x {name} ({rate:.0}/s)",
                self.ops_per_sec / rate
            );
        }
        eprintln!("{row}");
    }
}

pub fn print_header() {
    eprintln!(
        "{:<9} {:<20} {:>7} {:>6} {:>10} {:>14} {:>10} {:>10}   ratio",
        "store", "workload", "clients", "ev/app", "stored", "ops/s", "p50 µs", "p99 µs"
    );
}

/// Latencies of individual operations, for percentiles.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn with_capacity(n: usize) -> Latencies {
        Latencies(Vec::with_capacity(n))
    }

    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    /// How many operations took longer than `limit`, and their share of
    /// the total time (0 to 1).
    pub fn slower_than(&self, limit: Duration) -> (usize, f64) {
        let total = self.total().as_secs_f64();
        let (count, slow) = self
            .0
            .iter()
            .filter(|&&d| d > limit)
            .fold((0, Duration::ZERO), |(n, sum), &d| (n + 1, sum + d));
        let share = if total > 0.0 {
            slow.as_secs_f64() / total
        } else {
            0.0
        };
        (count, share)
    }

    /// Prints, under a measurement, how much of the time went to the
    /// operations slower than `limit`: a rate far below `1 / p50` comes
    /// from those.
    #[allow(clippy::cast_precision_loss)]
    pub fn print_slow_share(&self, limit: Duration) {
        let (count, share) = self.slower_than(limit);
        let all = self.0.len().max(1);
        eprintln!(
            "    ({:.0} % of the time went to the {count} operations ({:.2} %) slower than {} µs)",
            share * 100.0,
            count as f64 * 100.0 / all as f64,
            limit.as_micros(),
        );
    }

    /// The sum of the latencies.
    pub fn total(&self) -> Duration {
        self.0.iter().sum()
    }

    /// The latencies of the operations in `range`, in the order they ran.
    pub fn window(&self, range: std::ops::Range<usize>) -> Latencies {
        Latencies(self.0[range].to_vec())
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `p`-th percentile in microseconds (`p` in 0..=100).
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((self.0.len() - 1) as f64 * p / 100.0).round() as usize;
        self.0[index].as_secs_f64() * 1e6
    }
}
