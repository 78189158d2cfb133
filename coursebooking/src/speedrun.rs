//! `coursebooking speedrun`: SPEC §4. Each iteration registers 10 courses
//! (10 places) and 10 students (10 courses each), then every student joins
//! every course: 120 operations, each a full decision.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use coursebooking::decisions::{
    CourseRegistered, DcbEnrolment, StudentJoinedCourse, StudentRegistered,
};
use coursebooking::{CourseId, Enrolment, StudentId};
use dcb_core::embedded::EmbeddedStore;
use dcb_core::{DomainEvent, EventStore, InMemoryStore};
use indicatif::{ProgressBar, ProgressStyle};

use super::StoreKind;

/// What a run measured.
struct Outcome {
    operations: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    stored_events: u64,
}

pub async fn run(kind: StoreKind, duration: Duration, json: bool, prefill: u64) -> ExitCode {
    match kind {
        StoreKind::Memory => {
            let app = DcbEnrolment::new(InMemoryStore::new());
            if let Err(err) = fill(app.store(), prefill).await {
                return super::fail(&err);
            }
            match speedrun(&app, duration).await {
                Ok(mut outcome) => {
                    outcome.stored_events = app.store().len() as u64;
                    report("memory", &mut outcome, None, json);
                    ExitCode::SUCCESS
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
            if let Err(err) = fill(&store, prefill).await {
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
                    report(
                        "embedded",
                        &mut outcome,
                        Some(f64::midpoint(before, after)),
                        json,
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => super::fail(&err),
            }
        }
        StoreKind::Postgres => super::usage(
            "the PostgreSQL store is not part of this build yet; use --store memory or --store embedded",
        ),
    }
}

/// Appends `events` events shaped like the speedrun's — iterations of 10
/// courses, 10 students and their 100 joins — in large unconditional
/// batches, with a progress bar.
async fn fill<S: EventStore>(store: &S, events: u64) -> Result<(), String> {
    if events == 0 {
        return Ok(());
    }
    let progress = ProgressBar::new(events);
    progress.set_style(
        ProgressStyle::with_template("filling {bar} {pos}/{len} events")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut written = 0;
    while written < events {
        let mut batch = Vec::with_capacity(1_200);
        for _ in 0..10 {
            let courses: Vec<CourseId> = (0..10).map(|_| CourseId::new()).collect();
            let students: Vec<StudentId> = (0..10).map(|_| StudentId::new()).collect();
            for (i, &course_id) in courses.iter().enumerate() {
                let name = format!("Course {i}");
                batch.push(
                    CourseRegistered {
                        course_id,
                        name,
                        places: 10,
                    }
                    .to_event(),
                );
            }
            for (i, &student_id) in students.iter().enumerate() {
                let name = format!("Student {i}");
                batch.push(
                    StudentRegistered {
                        student_id,
                        name,
                        max_courses: 10,
                    }
                    .to_event(),
                );
            }
            for &student_id in &students {
                for &course_id in &courses {
                    batch.push(
                        StudentJoinedCourse {
                            student_id,
                            course_id,
                        }
                        .to_event(),
                    );
                }
            }
        }
        let batch: Vec<_> = batch
            .into_iter()
            .take(usize::try_from(events - written).unwrap_or(usize::MAX))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        written += batch.len() as u64;
        store.append(batch, None).await.map_err(|e| e.to_string())?;
        progress.set_position(written);
    }
    progress.finish_and_clear();
    Ok(())
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
        #[allow(clippy::cast_precision_loss)]
        progress.set_message(format!(
            "{} ops, {:.0} ops/s",
            operations,
            operations as f64 / elapsed.as_secs_f64()
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

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn report(store: &str, outcome: &mut Outcome, baseline: Option<f64>, json: bool) {
    outcome.latencies.sort_unstable();
    let percentile = |p: f64| {
        let n = outcome.latencies.len();
        if n == 0 {
            return 0.0;
        }
        let index = ((n - 1) as f64 * p / 100.0).round() as usize;
        outcome.latencies[index].as_secs_f64() * 1e6
    };
    let ops_per_sec = outcome.operations as f64 / outcome.elapsed.as_secs_f64();
    let us_per_op = 1e6 / ops_per_sec;
    let (p50, p99) = (percentile(50.0), percentile(99.0));
    if json {
        let (name, rate, ratio) = match baseline {
            Some(f) => ("F", format!("{f:.1}"), format!("{:.3}", ops_per_sec / f)),
            None => ("none", "null".to_owned(), "null".to_owned()),
        };
        println!(
            "{{\"store\": \"{store}\", \"workload\": \"speedrun\", \"clients\": 1, \"events_per_append\": 1, \
             \"stored_events\": {}, \"ops_per_sec\": {ops_per_sec:.1}, \"p50_us\": {p50:.1}, \"p99_us\": {p99:.1}, \
             \"baseline\": \"{name}\", \"baseline_ops_per_sec\": {rate}, \"ratio\": {ratio}}}",
            outcome.stored_events
        );
    } else {
        println!(
            "{store}: {} operations in {:.1} s: {ops_per_sec:.0} ops/s, {us_per_op:.1} µs/op (p50 {p50:.1} µs, p99 {p99:.1} µs)",
            outcome.operations,
            outcome.elapsed.as_secs_f64()
        );
        if let Some(f) = baseline {
            println!(
                "F (4 KiB append + fdatasync) on the same disk: {f:.0}/s; the speedrun runs at {:.2}x F",
                ops_per_sec / f
            );
        }
    }
}

/// `F`: 4 KiB appends, each followed by `fdatasync`, per second, in `dir`.
fn raw_sync_rate(dir: &Path, duration: Duration) -> f64 {
    let path = dir.join("baseline.bin");
    let Ok(mut file) = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
    else {
        return f64::NAN;
    };
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    let mut n = 0u32;
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
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}
