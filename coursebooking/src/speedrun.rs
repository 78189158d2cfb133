//! `coursebooking speedrun`: docs/spec.md §4. Each iteration registers 10 courses
//! (10 places) and 10 students (10 courses each), then every student joins
//! every course: 120 operations, each a full decision.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use coursebooking::Enrolment;
use coursebooking::decisions::DcbEnrolment;
use dcb_core::embedded::EmbeddedStore;
#[cfg(feature = "postgres")]
use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{EventStore, InMemoryStore, Metadata};
use indicatif::{ProgressBar, ProgressStyle};

use super::StoreKind;
use crate::fill::{Room, fill};
use crate::out::{self, Stop, say};

/// What a run measured.
struct Outcome {
    operations: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    stored_events: u64,
}

/// What the speedrun is compared with: a rate measured on the same disk or
/// server (`None` when it could not be measured).
#[derive(Clone, Copy)]
struct Baseline {
    name: &'static str,
    rate: Option<f64>,
}

/// The server `--store postgres` uses when neither `--postgres-url` nor
/// `DCB_POSTGRES_URL` names one.
#[cfg(feature = "postgres")]
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub async fn run(
    kind: StoreKind,
    duration: Duration,
    json: bool,
    prefill: u64,
    postgres_url: Option<String>,
) -> ExitCode {
    match kind {
        StoreKind::Memory => {
            let app = DcbEnrolment::new(InMemoryStore::new());
            if let Err(err) = prefill_store(app.store(), prefill).await {
                return super::fail(&err);
            }
            match speedrun(&app, duration).await {
                Ok(mut outcome) => {
                    outcome.stored_events = app.store().len() as u64;
                    print(&report("memory", &mut outcome, None, json))
                }
                Err(err) => super::fail(&err),
            }
        }
        StoreKind::Embedded => {
            let dir = match tempfile::tempdir() {
                Ok(dir) => dir,
                Err(err) => {
                    return super::fail(&format!("cannot make a temporary directory: {err}"));
                }
            };
            let store = match EmbeddedStore::open(dir.path()) {
                Ok(store) => store,
                Err(err) => return super::fail(&err.to_string()),
            };
            if let Err(err) = prefill_store(&store, prefill).await {
                return super::fail(&err);
            }
            let before = raw_sync_rate(dir.path(), Duration::from_secs(2));
            let app = DcbEnrolment::new(store);
            let result = speedrun(&app, duration).await;
            let after = raw_sync_rate(dir.path(), Duration::from_secs(2));
            match result {
                Ok(mut outcome) => {
                    outcome.stored_events = app.store().len() as u64;
                    // F before and after the run, so that a drifting disk
                    // shows in neither direction alone.
                    let baseline = Baseline {
                        name: "F",
                        rate: before.zip(after).map(|(b, a)| f64::midpoint(b, a)),
                    };
                    print(&report("embedded", &mut outcome, Some(baseline), json))
                }
                Err(err) => super::fail(&err),
            }
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let url = postgres_url.unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
            match postgres(&url, duration, json, prefill).await {
                Ok(text) => print(&text),
                Err(err) => super::fail(&err),
            }
        }
        #[cfg(not(feature = "postgres"))]
        StoreKind::Postgres => {
            let _ = postgres_url;
            super::usage(
                "this coursebooking was built without PostgreSQL; build it with \
                 `cargo run --release -p coursebooking --features postgres -- speedrun --store postgres`",
            )
        }
    }
}

/// Fills `store` with `events` events of the speedrun's own shape first.
async fn prefill_store<S: EventStore>(store: &S, events: u64) -> Result<(), String> {
    fill(store, events, Room::FULL, &Metadata::new())
        .await
        .map(drop)
}

/// Prints a report; a reader that closed stdout ends the run quietly.
fn print(text: &str) -> ExitCode {
    out::exit_status(say!("{text}").map_err(Stop::from))
}

/// The speedrun on a fresh schema of the PostgreSQL store at `url`, against
/// `I_1` (single-row INSERT transactions per second from one client on the
/// same server) measured before and after it; returns the report. The
/// schema is dropped at the end.
#[cfg(feature = "postgres")]
async fn postgres(
    url: &str,
    duration: Duration,
    json: bool,
    prefill: u64,
) -> Result<String, String> {
    let schema = format!(
        "dcb_speedrun_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let options = PostgresOptions::new(url).schema(schema.clone());
    let store = match tokio::time::timeout(
        Duration::from_secs(15),
        PostgresStore::connect_with(options),
    )
    .await
    {
        Ok(Ok(store)) => store,
        Ok(Err(err)) => {
            return Err(format!(
                "{err} (server {url}; set --postgres-url or DCB_POSTGRES_URL)"
            ));
        }
        Err(_) => {
            return Err(format!(
                "cannot connect to PostgreSQL at {url} within 15 s \
                 (set --postgres-url or DCB_POSTGRES_URL)"
            ));
        }
    };
    let result = async {
        batch(
            &store,
            &format!(
                "CREATE TABLE \"{schema}\".baseline (id bigserial PRIMARY KEY, data bytea NOT NULL)"
            ),
        )
        .await?;
        prefill_store(&store, prefill).await?;
        let before = insert_rate(&store, Duration::from_secs(2)).await?;
        let app = DcbEnrolment::new(store.clone());
        let mut outcome = speedrun(&app, duration).await?;
        let after = insert_rate(&store, Duration::from_secs(2)).await?;
        outcome.stored_events = stored_events(&store).await?;
        // I_1 before and after the run, so that a drifting server shows in
        // neither direction alone.
        let baseline = Baseline {
            name: "I_1",
            rate: before.zip(after).map(|(b, a)| f64::midpoint(b, a)),
        };
        Ok(report("postgres", &mut outcome, Some(baseline), json))
    }
    .await;
    let dropped = batch(&store, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    result.and_then(|text| dropped.map(|()| text))
}

/// A server error with its cause (the server's message, when it sent one).
#[cfg(feature = "postgres")]
fn pg_error(error: &dyn std::error::Error) -> String {
    let mut message = format!("PostgreSQL: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

/// Runs `statements` on one pooled connection.
#[cfg(feature = "postgres")]
async fn batch(store: &PostgresStore, statements: &str) -> Result<(), String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    client
        .batch_execute(statements)
        .await
        .map_err(|e| pg_error(&e))
}

/// The events stored in the store's schema.
#[cfg(feature = "postgres")]
async fn stored_events(store: &PostgresStore) -> Result<u64, String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".events", store.schema()),
            &[],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// `I_1`: single-row INSERT transactions (autocommit, prepared) per second
/// into the plain table `baseline`, from one connection.
#[cfg(feature = "postgres")]
async fn insert_rate(store: &PostgresStore, duration: Duration) -> Result<Option<f64>, String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO \"{}\".baseline (data) VALUES ($1)",
            store.schema()
        ))
        .await
        .map_err(|e| pg_error(&e))?;
    let data: &[u8] = br#"{"student_id":"0b9f1c52-0f4e-4a9a-9f64-4f1e6f0f3a11"}"#;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        client
            .execute(&statement, &[&data])
            .await
            .map_err(|e| pg_error(&e))?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

async fn speedrun<S: EventStore>(
    app: &DcbEnrolment<S>,
    duration: Duration,
) -> Result<Outcome, String> {
    let progress = ProgressBar::new(duration.as_secs().max(1));
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut operations = 0u64;
    let mut iteration = 0u64;
    while start.elapsed() < duration {
        let mut timed = |t: Instant| {
            latencies.push(t.elapsed());
            operations += 1;
        };
        let mut courses = Vec::with_capacity(10);
        for c in 0..10 {
            let t = Instant::now();
            courses.push(
                app.register_course(&format!("Course {iteration}-{c}"), 10)
                    .await
                    .map_err(|e| e.to_string())?,
            );
            timed(t);
        }
        let mut students = Vec::with_capacity(10);
        for s in 0..10 {
            let t = Instant::now();
            students.push(
                app.register_student(&format!("Student {iteration}-{s}"), 10)
                    .await
                    .map_err(|e| e.to_string())?,
            );
            timed(t);
        }
        for &student in &students {
            for &course in &courses {
                let t = Instant::now();
                app.join_course(student, course)
                    .await
                    .map_err(|e| e.to_string())?;
                timed(t);
            }
        }
        iteration += 1;
        let elapsed = start.elapsed();
        progress.set_position(elapsed.as_secs());
        progress.set_message(format!(
            "{operations} ops, {} ops/s",
            figure(per_second(operations, elapsed), 0, "?")
        ));
    }
    progress.finish_and_clear();
    Ok(Outcome {
        operations,
        elapsed: start.elapsed(),
        latencies,
        stored_events: 0,
    })
}

/// `count` per `elapsed` second; `None` when there is no time to divide
/// by, so that no figure is infinite or NaN.
#[allow(clippy::cast_precision_loss)]
fn per_second(count: u64, elapsed: Duration) -> Option<f64> {
    let seconds = elapsed.as_secs_f64();
    Some(count as f64 / seconds).filter(|rate| seconds > 0.0 && rate.is_finite())
}

/// `value` with `decimals` decimals, or `missing` when it was not measured.
fn figure(value: Option<f64>, decimals: usize, missing: &str) -> String {
    value.map_or_else(|| missing.to_owned(), |v| format!("{v:.decimals$}"))
}

/// The run's figures, as one JSON object (docs/spec.md §5) or as a summary of one
/// or two lines. A figure that cannot be computed — a rate over no time,
/// the time per operation of none, a baseline that could not be measured —
/// is `null` in JSON and `n/a` in the summary, never `inf` or `NaN`.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn report(store: &str, outcome: &mut Outcome, baseline: Option<Baseline>, json: bool) -> String {
    outcome.latencies.sort_unstable();
    let latencies = &outcome.latencies;
    let percentile = |p: f64| {
        let last = latencies.len().checked_sub(1)?;
        let index = (last as f64 * p / 100.0).round() as usize;
        Some(latencies[index].as_secs_f64() * 1e6)
    };
    let ops_per_sec = per_second(outcome.operations, outcome.elapsed);
    let us_per_op = ops_per_sec
        .filter(|&rate| rate > 0.0)
        .map(|rate| 1e6 / rate);
    let (p50, p99) = (percentile(50.0), percentile(99.0));
    let ratio = |base: Option<f64>| {
        ops_per_sec
            .zip(base.filter(|&rate| rate > 0.0))
            .map(|(ops, base)| ops / base)
    };
    if json {
        let round = |value: Option<f64>, decimals: i32| {
            let scale = 10_f64.powi(decimals);
            value.map(|v| (v * scale).round() / scale)
        };
        let line = serde_json::json!({
            "store": store,
            "workload": "speedrun",
            "clients": 1,
            "events_per_append": 1,
            "stored_events": outcome.stored_events,
            "ops_per_sec": round(ops_per_sec, 1),
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "baseline": baseline.map_or("none", |b| b.name),
            "baseline_ops_per_sec": round(baseline.and_then(|b| b.rate), 1),
            "ratio": round(baseline.and_then(|b| ratio(b.rate)), 3),
        });
        return line.to_string();
    }
    let mut text = format!(
        "{store}: {} operations in {:.1} s: {} ops/s, {} µs/op (p50 {} µs, p99 {} µs)",
        outcome.operations,
        outcome.elapsed.as_secs_f64(),
        figure(ops_per_sec, 0, "n/a"),
        figure(us_per_op, 1, "n/a"),
        figure(p50, 1, "n/a"),
        figure(p99, 1, "n/a"),
    );
    if let Some(Baseline { name, rate }) = baseline {
        let what = if name == "F" {
            "F (4 KiB append + fdatasync) on the same disk".to_owned()
        } else {
            format!("{name} (single-row INSERT transactions from one client on the same server)")
        };
        let _ = match (rate, ratio(rate)) {
            (Some(rate), Some(ratio)) => write!(
                text,
                "\n{what}: {rate:.0}/s; the speedrun runs at {ratio:.2}x {name}"
            ),
            (Some(rate), None) => write!(text, "\n{what}: {rate:.0}/s"),
            (None, _) => write!(text, "\n{what}: could not be measured"),
        };
    }
    text
}

/// `F`: 4 KiB appends, each followed by `fdatasync`, per second, in `dir`;
/// `None` if the file cannot be written.
fn raw_sync_rate(dir: &Path, duration: Duration) -> Option<f64> {
    let path = dir.join("baseline.bin");
    let Ok(mut file) = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
    else {
        return None;
    };
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_data())
            .is_err()
        {
            break;
        }
        n += 1;
    }
    let rate = per_second(n, start.elapsed()).filter(|_| n > 0);
    let _ = std::fs::remove_file(path);
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(operations: u64, elapsed: Duration) -> Outcome {
        Outcome {
            operations,
            elapsed,
            latencies: (0..operations).map(Duration::from_micros).collect(),
            stored_events: operations,
        }
    }

    fn no_inf_or_nan(text: &str) {
        let lower = text.to_lowercase();
        assert!(!lower.contains("inf") && !lower.contains("nan"), "{text}");
    }

    // Issue 21: `speedrun --seconds 0` printed "inf µs/op", and a baseline
    // that could not be measured came out as NaN, which is not even JSON.
    // Every figure is now computed only when there is something to divide
    // by, and is `n/a` (`null` in JSON) otherwise.
    #[test]
    fn figures_that_cannot_be_computed_are_never_inf_or_nan() {
        let unmeasured = Baseline {
            name: "F",
            rate: None,
        };
        let zero = Baseline {
            name: "I_1",
            rate: Some(0.0),
        };
        for (mut outcome, baseline) in [
            (outcome(0, Duration::from_secs(1)), Some(unmeasured)),
            (outcome(0, Duration::ZERO), Some(zero)),
            (outcome(120, Duration::ZERO), None),
            (outcome(120, Duration::from_secs(1)), Some(zero)),
        ] {
            let text = report("memory", &mut outcome, baseline, false);
            no_inf_or_nan(&text);
            let json = report("memory", &mut outcome, baseline, true);
            no_inf_or_nan(&json);
            let json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(json["workload"], "speedrun");
        }

        let mut idle = outcome(0, Duration::from_secs(1));
        assert_eq!(
            report("memory", &mut idle, None, false),
            "memory: 0 operations in 1.0 s: 0 ops/s, n/a µs/op (p50 n/a µs, p99 n/a µs)"
        );
        let mut instant = outcome(0, Duration::ZERO);
        let json: serde_json::Value =
            serde_json::from_str(&report("memory", &mut instant, None, true)).unwrap();
        assert!(json["ops_per_sec"].is_null() && json["p50_us"].is_null());
    }

    #[test]
    fn measured_figures_are_printed() {
        let mut run = outcome(200, Duration::from_secs(2));
        let baseline = Baseline {
            name: "F",
            rate: Some(50.0),
        };
        let text = report("embedded", &mut run, Some(baseline), false);
        let mut unmeasured = outcome(200, Duration::from_secs(2));
        let none = Baseline {
            name: "I_1",
            rate: None,
        };
        assert!(
            report("postgres", &mut unmeasured, Some(none), false)
                .ends_with("on the same server): could not be measured")
        );
        assert!(text.starts_with("embedded: 200 operations in 2.0 s: 100 ops/s, 10000.0 µs/op"));
        assert!(text.ends_with("the speedrun runs at 2.00x F"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&report("embedded", &mut run, Some(baseline), true)).unwrap();
        assert_eq!(json["ratio"], 2.0);
        assert_eq!(json["baseline_ops_per_sec"], 50.0);
    }
}
