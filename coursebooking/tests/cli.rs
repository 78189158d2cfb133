//! The `coursebooking` binary as a user runs it: outputs, exit statuses,
//! and many processes on one data directory.

use std::path::Path;
use std::process::{Command, Output};

fn coursebooking(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coursebooking"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn commands_print_ids_and_names_and_refusals_exit_with_one() {
    let data = tempfile::tempdir().unwrap();
    let course = coursebooking(data.path(), &["register-course", "Maths", "--places", "1"]);
    assert!(course.status.success(), "{}", stderr(&course));
    let course = stdout(&course);
    let ada = stdout(&coursebooking(
        data.path(),
        &["register-student", "Ada", "--max-courses", "2"],
    ));
    let bob = stdout(&coursebooking(
        data.path(),
        &["register-student", "Bob", "--max-courses", "2"],
    ));
    assert_eq!(course.len(), 36, "a UUID: {course}");

    assert!(
        coursebooking(data.path(), &["join", &ada, &course])
            .status
            .success()
    );
    let again = coursebooking(data.path(), &["join", &ada, &course]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr(&again), "student has already joined this course");
    let full = coursebooking(data.path(), &["join", &bob, &course]);
    assert_eq!(full.status.code(), Some(1));
    assert_eq!(stderr(&full), "course is fully booked");

    assert_eq!(
        stdout(&coursebooking(data.path(), &["students", &course])),
        "Ada"
    );
    assert_eq!(
        stdout(&coursebooking(data.path(), &["courses", &ada])),
        "Maths"
    );
    assert!(
        coursebooking(data.path(), &["leave", &ada, &course])
            .status
            .success()
    );
    let not_joined = coursebooking(data.path(), &["leave", &ada, &course]);
    assert_eq!(not_joined.status.code(), Some(1));
    assert_eq!(stderr(&not_joined), "student has not joined this course");
    assert_eq!(
        stdout(&coursebooking(data.path(), &["students", &course])),
        ""
    );
}

#[test]
fn bad_arguments_and_ids_exit_with_two() {
    let data = tempfile::tempdir().unwrap();
    let bad_id = coursebooking(data.path(), &["join", "not-an-id", "also-not"]);
    assert_eq!(bad_id.status.code(), Some(2));
    assert!(
        stderr(&bad_id).contains("invalid value 'not-an-id'"),
        "{}",
        stderr(&bad_id)
    );
    let missing = coursebooking(data.path(), &["register-course", "Maths"]);
    assert_eq!(missing.status.code(), Some(2));
    let unknown = coursebooking(data.path(), &["enrol"]);
    assert_eq!(unknown.status.code(), Some(2));
    let bad_store = coursebooking(data.path(), &["speedrun", "--store", "oracle"]);
    assert_eq!(bad_store.status.code(), Some(2));
    // An unreachable server is not a usage error: status 1, saying so.
    let unreachable = coursebooking(
        data.path(),
        &[
            "speedrun",
            "--store",
            "postgres",
            "--seconds",
            "1",
            "--postgres-url",
            "postgres://nobody@127.0.0.1:1/none",
        ],
    );
    assert_eq!(
        unreachable.status.code(),
        Some(1),
        "{}",
        stderr(&unreachable)
    );
    assert!(!stderr(&unreachable).is_empty());
    let unknown_course = coursebooking(
        data.path(),
        &["students", "00000000-0000-0000-0000-000000000000"],
    );
    assert!(
        unknown_course.status.success(),
        "an unknown course has no students"
    );
}

#[test]
fn twenty_processes_race_for_five_places() {
    let data = tempfile::tempdir().unwrap();
    let course = stdout(&coursebooking(
        data.path(),
        &["register-course", "Popular", "--places", "5"],
    ));
    let students: Vec<String> = (0..20)
        .map(|i| {
            stdout(&coursebooking(
                data.path(),
                &[
                    "register-student",
                    &format!("Student {i}"),
                    "--max-courses",
                    "3",
                ],
            ))
        })
        .collect();
    let children: Vec<_> = students
        .iter()
        .map(|student| {
            Command::new(env!("CARGO_BIN_EXE_coursebooking"))
                .arg("--data")
                .arg(data.path())
                .args(["join", student, &course])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut joined = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        match output.status.code() {
            Some(0) => joined += 1,
            Some(1) => assert_eq!(stderr(&output), "course is fully booked"),
            other => panic!("unexpected exit {other:?}: {}", stderr(&output)),
        }
    }
    assert_eq!(joined, 5);
    let listed = stdout(&coursebooking(data.path(), &["students", &course]));
    assert_eq!(listed.lines().count(), 5);
}

#[test]
fn the_demo_runs_the_scenario() {
    let output = Command::new(env!("CARGO_BIN_EXE_coursebooking"))
        .arg("demo")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Greg joins Dynamic Consistency Boundaries: refused, course is fully booked")
    );
    assert!(text.contains("students of French: Greg, Katherine, Bastian"));
    assert!(text.contains("Every step went as SPEC §3 says."));
}

#[test]
fn the_speedrun_prints_one_json_line() {
    let data = tempfile::tempdir().unwrap();
    let output = coursebooking(
        data.path(),
        &["speedrun", "--store", "memory", "--seconds", "1", "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let line = stdout(&output);
    let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    assert_eq!(json["store"], "memory");
    assert_eq!(json["workload"], "speedrun");
    assert!(json["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(json["stored_events"].as_u64().unwrap() >= 120);
}
