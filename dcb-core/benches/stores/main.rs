//! The store benchmarks (docs/spec.md §5): `cargo bench -p dcb-core --bench stores --
//! --store memory [--quick]`; the PostgreSQL store needs the feature:
//! `cargo bench -p dcb-core --features postgres --bench stores -- --store
//! postgres [--quick]` (server from `DCB_POSTGRES_URL`).
//!
//! Prints one JSON object per measurement on stdout and a table on stderr.

mod child;
mod decide;
mod embedded;
mod invoices;
#[cfg(feature = "postgres")]
mod postgres;
mod report;
mod workloads;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use dcb_core::InMemoryStore;

use crate::report::{Measurement, print_header};
use crate::workloads::{
    concurrent_conditional_appends, conditional_appends, courses_for, decision_reads, fill,
};

const USAGE: &str = "usage: cargo bench -p dcb-core [--features postgres] --bench stores -- --store memory|embedded|postgres [--quick] [--workload NAME]... [--dir DIR] [--keep] [--stored N] [--reads N] [--kill-after N] [--append-batches N] [--subscriber] [--metadata N] [--cache-mib N]\n\
    (--store postgres needs `--features postgres` and takes the server from DCB_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)";

/// The sizes of one run, and which workloads it runs.
struct Plan {
    /// Decisions per variant in the `decide` workload.
    decisions: u64,
    /// The workloads to run; empty means all.
    workloads: Vec<String>,
    appends: u64,
    reads: u64,
    stored: u64,
    clients: u64,
}

/// The command line.
struct Args {
    store: Option<String>,
    quick: bool,
    workloads: Vec<String>,
    dir: Option<std::path::PathBuf>,
    stored: Option<u64>,
    append_batches: Option<usize>,
    subscriber: bool,
    /// Keep the embedded large store in `DIR/store-N` for later runs.
    keep: bool,
    /// Decision reads on the large store.
    reads: Option<u64>,
    /// `open_after_kill`: events appended before the kill.
    kill_after: Option<u64>,
    /// A child process's part (see `child`): its flag, directory and count.
    child: Option<(String, std::path::PathBuf, u64)>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut parsed = Args {
            store: None,
            quick: false,
            workloads: Vec::new(),
            dir: None,
            stored: None,
            append_batches: None,
            subscriber: false,
            keep: false,
            reads: None,
            kill_after: None,
            child: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--store" => parsed.store = args.next(),
                "--quick" => parsed.quick = true,
                "--subscriber" => parsed.subscriber = true,
                "--metadata" => {
                    let entries: usize = number(args.next(), "--metadata")?;
                    workloads::set_metadata(entries);
                }
                "--cache-mib" => embedded::set_cache_mib(number(args.next(), "--cache-mib")?),
                "--workload" => parsed.workloads.extend(args.next()),
                "--dir" => parsed.dir = args.next().map(std::path::PathBuf::from),
                "--stored" => parsed.stored = Some(number(args.next(), "--stored")?),
                "--append-batches" => {
                    parsed.append_batches = Some(number(args.next(), "--append-batches")?);
                }
                "--keep" => parsed.keep = true,
                "--reads" => parsed.reads = Some(number(args.next(), "--reads")?),
                "--kill-after" => parsed.kill_after = Some(number(args.next(), "--kill-after")?),
                flag @ (child::FILL | child::APPEND) => {
                    let dir = args
                        .next()
                        .ok_or_else(|| format!("{flag} needs a directory"))?;
                    let n = number(args.next(), flag)?;
                    parsed.child = Some((flag.to_owned(), dir.into(), n));
                }
                // `cargo bench` passes `--bench` to every benchmark binary.
                "--bench" => {}
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let embedded = parsed.store.as_deref() == Some("embedded");
        if (parsed.keep || parsed.kill_after.is_some()) && !embedded {
            return Err("--keep and --kill-after apply to --store embedded only".to_owned());
        }
        Ok(parsed)
    }
}

fn number<T: std::str::FromStr>(value: Option<String>, flag: &str) -> Result<T, String> {
    value
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

fn main() -> ExitCode {
    let Args {
        store,
        quick,
        workloads,
        dir,
        stored,
        append_batches,
        subscriber,
        keep,
        reads,
        kill_after,
        child,
    } = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some((flag, dir, n)) = child {
        return run_child(&flag, &dir, n);
    }
    // Only the PostgreSQL store appends in batches; refused elsewhere rather
    // than ignored, so a run measures what its command line says.
    if append_batches.is_some() && store.as_deref() != Some("postgres") {
        eprintln!("--append-batches applies to --store postgres only\n{USAGE}");
        return ExitCode::from(2);
    }
    let plan = if quick {
        Plan {
            workloads,
            decisions: 20_000,
            appends: 300_000,
            reads: reads.unwrap_or(50_000),
            stored: stored.unwrap_or(1_000_000),
            clients: 2,
        }
    } else {
        Plan {
            workloads,
            decisions: 100_000,
            appends: 2_000_000,
            reads: reads.unwrap_or(300_000),
            stored: stored.unwrap_or(1_000_000),
            clients: 2,
        }
    };
    if subscriber && !install_subscriber() {
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match store.as_deref() {
        Some("memory") => runtime.block_on(memory(&plan)),
        Some("embedded") => {
            let dir = dir.unwrap_or_else(|| {
                option_env!("CARGO_TARGET_TMPDIR")
                    .map_or_else(std::env::temp_dir, std::path::PathBuf::from)
            });
            if let Err(err) = std::fs::create_dir_all(&dir) {
                eprintln!("cannot use {}: {err}", dir.display());
                return ExitCode::from(2);
            }
            let durations = embedded::Durations::new(quick, stored, reads, keep, kill_after);
            eprintln!("machine: {}", machine());
            print_header();
            runtime.block_on(embedded::run(&dir, &durations, |w| plan.runs(w)));
        }
        #[cfg(feature = "postgres")]
        Some("postgres") => {
            let url = std::env::var("DCB_POSTGRES_URL")
                .unwrap_or_else(|_| postgres::DEFAULT_URL.to_owned());
            let durations = postgres::Durations {
                baseline: std::time::Duration::from_secs(if quick { 2 } else { 5 }),
                workload: std::time::Duration::from_secs(if quick { 3 } else { 10 }),
                reads: reads.unwrap_or(if quick { 4_000 } else { 20_000 }),
                stored: stored.unwrap_or(if quick { 200_000 } else { 1_000_000 }),
                append_batches,
            };
            eprintln!("machine: {}", machine());
            print_header();
            if let Err(err) = runtime.block_on(postgres::run(&url, &durations, |w| plan.runs(w))) {
                eprintln!("the PostgreSQL benchmark failed: {err}");
                return ExitCode::from(1);
            }
        }
        Some(other) => {
            eprintln!(
                "unknown store {other:?}: this build benchmarks `memory` and `embedded` \
                 (`postgres` with `--features postgres`)\n{USAGE}"
            );
            return ExitCode::from(2);
        }
        None => {
            eprintln!("missing --store\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Runs a child process's part of the embedded benchmark.
fn run_child(flag: &str, dir: &std::path::Path, n: u64) -> ExitCode {
    child::exit_with_parent();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let done = if flag == child::FILL {
        runtime.block_on(child::fill(dir, n))
    } else {
        runtime.block_on(child::append(dir, n))
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{flag} {}: {err}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// Installs what an application with logging pays for: every span of dcb
/// enabled and formatted, the output thrown away. False if it cannot.
fn install_subscriber() -> bool {
    let installed = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("dcb_core=debug"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::sink)
        .try_init();
    if installed.is_err() {
        eprintln!("cannot install the tracing subscriber");
        return false;
    }
    eprintln!("(with a tracing subscriber: dcb_core=debug, spans formatted into a sink)");
    true
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cpu}, {cores} cores")
}

impl Plan {
    fn runs(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload)
    }
}

/// In-memory appends slower than this are, nearly all, the one append in
/// 256 that indexes the tags of the appends before it (tags wait in runs
/// while no read comes; see `docs/decisions/0006-tags-indexed-in-runs.md`), plus table growth and
/// preemption.
const SLOW_APPEND: std::time::Duration = std::time::Duration::from_micros(10);

async fn memory(plan: &Plan) {
    eprintln!("machine: {}", machine());
    print_header();

    if plan.runs("decide") {
        decide_workload(plan).await;
    }
    if plan.runs("invoices") {
        invoices_workload().await;
    }
    if plan.runs("conditional_append") {
        let empty = InMemoryStore::new();
        let (mut lat, total) =
            conditional_appends(&empty, plan.appends, 0, courses_for(plan.appends), 1).await;
        measurement(
            "conditional_append",
            1,
            0,
            plan.appends,
            total.as_secs_f64(),
            &mut lat,
        )
        .print();
        lat.print_slow_share(SLOW_APPEND);
    }
    if !plan.runs("read") && !plan.runs("conditional_append") && !plan.runs("decide_like_append") {
        return;
    }

    let store = InMemoryStore::new();
    let start = Instant::now();
    fill(&store, plan.stored, |_| {}).await;
    eprintln!(
        "(filled {} events in {:.2} s)",
        plan.stored,
        start.elapsed().as_secs_f64()
    );

    if plan.runs("read") {
        let (mut lat, total, mean) = decision_reads(&store, plan.reads, plan.stored, 2).await;
        eprintln!("(a decision read returns {mean:.1} events on average)");
        measurement(
            "read",
            1,
            plan.stored,
            plan.reads,
            total.as_secs_f64(),
            &mut lat,
        )
        .print();
    }
    if plan.runs("conditional_append") {
        let (mut lat, total) = conditional_appends(
            &store,
            plan.appends,
            plan.stored,
            courses_for(plan.stored),
            3,
        )
        .await;
        let stored = plan.stored;
        measurement(
            "conditional_append",
            1,
            stored,
            plan.appends,
            total.as_secs_f64(),
            &mut lat,
        )
        .print();
        lat.print_slow_share(SLOW_APPEND);
    }
    if !plan.runs("decide_like_append") {
        return;
    }

    let stored = store.len() as u64;
    let store = Arc::new(store);
    let per_client = plan.appends / plan.clients / 4;
    let (mut lat, wall) =
        concurrent_conditional_appends(store, plan.clients, per_client, courses_for(stored)).await;
    let clients = usize::try_from(plan.clients).unwrap_or(0);
    measurement(
        "decide_like_append",
        clients,
        stored,
        per_client * plan.clients,
        wall.as_secs_f64(),
        &mut lat,
    )
    .print();
}

/// The decide runner against a hand-written decision doing the same work.
/// Ten thousand sequential invoices, with a latest-event decision and with
/// one that folds every invoice: the last thousand measured against the
/// first thousand of the same run (the ratio is last/first throughput; the
/// cost ratio is its inverse).
async fn invoices_workload() {
    const INVOICES: u64 = 10_000;
    const WINDOW: u64 = 1_000;
    let window = usize::try_from(WINDOW).expect("small");
    let all = usize::try_from(INVOICES).expect("small");
    for (latest, first_name, last_name) in [
        (true, "invoice_latest_first", "invoice_latest_last"),
        (false, "invoice_fold_first", "invoice_fold_last"),
    ] {
        let latencies = invoices::create(INVOICES, latest).await;
        let mut first = latencies.window(0..window);
        let mut last = latencies.window(all - window..all);
        let first = measurement(
            first_name,
            1,
            0,
            WINDOW,
            first.total().as_secs_f64(),
            &mut first,
        );
        first.print();
        let mut last = measurement(
            last_name,
            1,
            INVOICES - WINDOW,
            WINDOW,
            last.total().as_secs_f64(),
            &mut last,
        );
        last.baseline = Some((first_name, first.ops_per_sec));
        last.print();
        eprintln!(
            "    (the last {WINDOW} invoices cost {:.2}x the first {WINDOW})",
            first.ops_per_sec / last.ops_per_sec
        );
    }
}

async fn decide_workload(plan: &Plan) {
    const COURSES: usize = 10_000;
    const JOINS: u32 = 10;
    let courses: Vec<decide::CourseId> = (0..COURSES).map(|_| decide::CourseId::new()).collect();
    let (runner_store, hand_store) = (InMemoryStore::new(), InMemoryStore::new());
    decide::fill(&runner_store, &courses, JOINS).await;
    decide::fill(&hand_store, &courses, JOINS).await;
    let stored = runner_store.len() as u64;
    let ((mut runner, runner_time), (mut hand, hand_time)) =
        decide::compare(&runner_store, &hand_store, &courses, plan.decisions).await;
    let ops = plan.decisions;
    let hand = measurement(
        "decide_by_hand",
        1,
        stored,
        ops,
        hand_time.as_secs_f64(),
        &mut hand,
    );
    hand.print();
    let mut runner = measurement(
        "decide",
        1,
        stored,
        ops,
        runner_time.as_secs_f64(),
        &mut runner,
    );
    runner.baseline = Some(("decide_by_hand", hand.ops_per_sec));
    runner.print();
}

#[allow(clippy::cast_precision_loss)]
fn measurement(
    workload: &'static str,
    clients: usize,
    stored_events: u64,
    ops: u64,
    seconds: f64,
    latencies: &mut report::Latencies,
) -> Measurement {
    Measurement {
        store: "memory",
        workload,
        clients,
        events_per_append: 1,
        stored_events,
        ops_per_sec: ops as f64 / seconds,
        p50_us: latencies.percentile_us(50.0),
        p99_us: latencies.percentile_us(99.0),
        baseline: None,
    }
}
