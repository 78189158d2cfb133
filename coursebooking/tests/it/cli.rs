//! The `coursebooking` binary as a user runs it: outputs, exit statuses,
//! and many processes on one data directory.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::stderr;

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

/// Every event in the store in `data`.
fn stored_events(data: &Path) -> Vec<dcb_core::SequencedEvent> {
    use dcb_core::embedded::EmbeddedStore;
    use dcb_core::{EventStore, Query, ReadOptions};

    let store = EmbeddedStore::open_read_only(data).unwrap();
    let events = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
        .unwrap()
        .events;
    store.close();
    events
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

/// Each command's events record the command and a correlation id of its
/// own invocation, beside the time the store recorded them.
#[test]
fn events_record_their_command_and_invocation() {
    let data = tempfile::tempdir().unwrap();
    let course = stdout(&coursebooking(
        data.path(),
        &["register-course", "Maths", "--places", "3"],
    ));
    let ada = stdout(&coursebooking(
        data.path(),
        &["register-student", "Ada", "--max-courses", "2"],
    ));
    let joined = coursebooking(data.path(), &["join", &ada, &course]);
    assert!(joined.status.success(), "{}", stderr(&joined));
    let events = stored_events(data.path());
    let commands: Vec<Option<&str>> = events.iter().map(|e| e.metadata().get("command")).collect();
    assert_eq!(
        commands,
        [
            Some("register-course"),
            Some("register-student"),
            Some("join")
        ]
    );
    let correlations: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e.metadata().correlation().expect("a correlation id"))
        .collect();
    assert_eq!(correlations.len(), 3, "one correlation id per invocation");
    assert!(events.iter().all(|e| e.recorded_at.is_some()));
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
    // An unreachable server is not a usage error: status 3, saying so. A
    // build without PostgreSQL says how to get it, with status 2.
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
    let (status, says) = if cfg!(feature = "postgres") {
        (3, "cannot connect")
    } else {
        (2, "--features postgres")
    };
    assert_eq!(
        unreachable.status.code(),
        Some(status),
        "{}",
        stderr(&unreachable)
    );
    assert!(
        stderr(&unreachable).contains(says),
        "{}",
        stderr(&unreachable)
    );
    let registered = coursebooking(data.path(), &["register-course", "Maths", "--places", "1"]);
    assert!(registered.status.success(), "{}", stderr(&registered));
    let unknown_course = coursebooking(
        data.path(),
        &["students", "00000000-0000-0000-0000-000000000000"],
    );
    assert!(
        unknown_course.status.success(),
        "an unknown course has no students: {}",
        stderr(&unknown_course)
    );
}

// Issue 21: `students` and `courses` on a mistyped `--data` created an
// empty store there (and the read model's directory) and printed nothing,
// with exit status 0, as if the course had no students. They only read, so
// they now open the store read-only, which creates nothing, and a path
// without a store is a bad argument.
#[test]
fn listing_a_directory_without_a_store_is_a_bad_argument_and_creates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let id = "00000000-0000-0000-0000-000000000000";
    let typo = data.path().join("shcool");
    let missing = coursebooking(&typo, &["students", id]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("there is no dcb store in")
            && stderr(&missing).contains("--data"),
        "{}",
        stderr(&missing)
    );
    assert!(!typo.exists(), "no store and no read model were created");

    let empty = coursebooking(data.path(), &["courses", id]);
    assert_eq!(empty.status.code(), Some(2), "{}", stderr(&empty));
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "the directory is left empty"
    );

    let not_a_directory = coursebooking(Path::new("/dev/null"), &["students", id]);
    assert_eq!(not_a_directory.status.code(), Some(2));
    assert!(
        stderr(&not_a_directory).contains("not a directory"),
        "{}",
        stderr(&not_a_directory)
    );
}

// Issue 21: names with a right-to-left override or a zero-width space were
// registered, so a listing could be spoofed, and a blank name exited with
// status 1 although it is a bad argument. The command line now checks names
// with the domain's rule while parsing: exit status 2, the character named
// as U+XXXX with its position (never echoed raw), and no store opened.
#[test]
fn invalid_names_are_bad_arguments() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let spoof = coursebooking(
        &store,
        &["register-course", "Ada\u{202E}sdrawkcab", "--places", "1"],
    );
    assert_eq!(spoof.status.code(), Some(2), "{}", stderr(&spoof));
    let message = stderr(&spoof);
    assert!(
        message.contains("character 4 is U+202E, a bidirectional formatting character"),
        "{message}"
    );
    assert!(
        !message.contains('\u{202E}'),
        "the override is escaped: {message}"
    );
    assert!(message.contains("Usage:"), "{message}");

    let zero_width = coursebooking(
        &store,
        &["register-student", "A\u{200B}da", "--max-courses", "1"],
    );
    assert_eq!(zero_width.status.code(), Some(2), "{}", stderr(&zero_width));
    assert!(
        stderr(&zero_width).contains("character 2 is U+200B, a zero-width character"),
        "{}",
        stderr(&zero_width)
    );

    let blank = coursebooking(&store, &["register-course", "  ", "--places", "1"]);
    assert_eq!(blank.status.code(), Some(2), "{}", stderr(&blank));
    assert!(
        stderr(&blank).contains("a name cannot be empty or only whitespace"),
        "{}",
        stderr(&blank)
    );
    assert!(!store.exists(), "refused before the store was opened");
}

// Issue 21: `speedrun --seconds 0` ran no iteration and printed
// "inf µs/op". Zero seconds is now refused by the parser.
#[test]
fn the_speedrun_refuses_zero_seconds() {
    let data = tempfile::tempdir().unwrap();
    let zero = coursebooking(
        data.path(),
        &["speedrun", "--store", "memory", "--seconds", "0"],
    );
    assert_eq!(zero.status.code(), Some(2), "{}", stdout(&zero));
    assert!(stderr(&zero).contains("--seconds"), "{}", stderr(&zero));
    assert!(!stdout(&zero).contains("inf"), "{}", stdout(&zero));
}

// Issue 28: `--clients 0` is a bad argument that says what to pass, not a
// run of no clients.
#[test]
fn the_speedrun_refuses_zero_clients() {
    let data = tempfile::tempdir().unwrap();
    for (clients, says) in [
        ("0", "at least one client"),
        ("none", "a whole number"),
        ("100000", "or fewer"),
    ] {
        let refused = coursebooking(
            data.path(),
            &[
                "speedrun",
                "--store",
                "memory",
                "--seconds",
                "1",
                "--clients",
                clients,
            ],
        );
        assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
        assert!(stdout(&refused).is_empty(), "{}", stdout(&refused));
    }
}

// Issue 28: `--variant both` prints one JSON line per variant, with the
// clients, the variant, the conflicts and retries, and for the contended
// run the invariants read back from the store.
#[test]
fn the_speedrun_with_clients_reports_each_variant() {
    let data = tempfile::tempdir().unwrap();
    let run = coursebooking(
        data.path(),
        &[
            "speedrun",
            "--store",
            "memory",
            "--seconds",
            "1",
            "--clients",
            "3",
            "--variant",
            "both",
            "--json",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let lines: Vec<serde_json::Value> = stdout(&run)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&run));
    for (line, variant) in lines.iter().zip(["disjoint", "contended"]) {
        assert_eq!(line["variant"], variant);
        assert_eq!(line["clients"], 3);
        assert_eq!(line["workload"], "speedrun");
        assert!(line["ops_per_sec"].as_f64().unwrap() > 0.0, "{line}");
        let (conflicts, retries) = (&line["conflicts"], &line["retries"]);
        assert!(
            conflicts.as_u64().unwrap() >= retries.as_u64().unwrap(),
            "{line}"
        );
    }
    assert!(lines[0]["violations"].is_null());
    assert_eq!(lines[1]["violations"], 0, "{}", lines[1]);
    assert_eq!(lines[1]["invariants"]["courses_over_places"], 0);
}

/// Runs the binary with stdout a pipe that is closed after `lines` lines
/// were read, as `coursebooking … | head -n LINES` does.
fn with_stdout_closed_after(lines: usize, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coursebooking"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
    }
    drop(reader);
    child.wait_with_output().unwrap()
}

// Issue 21: `coursebooking demo | head -1` panicked ("failed printing to
// stdout: Broken pipe", exit status 101), since `println!` panics when the
// reader is gone. Every print to stdout now returns its error, and a
// closed pipe stops the command quietly with exit status 0.
#[test]
fn a_closed_stdout_stops_the_command_quietly() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    for (lines, args) in [
        (1, &["demo"][..]),
        (
            0,
            &["--data", data, "register-course", "Maths", "--places", "1"][..],
        ),
        (
            0,
            &["speedrun", "--store", "memory", "--seconds", "1", "--json"][..],
        ),
    ] {
        let output = with_stdout_closed_after(lines, args);
        assert!(
            !stderr(&output).contains("panicked"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

// Issue 21: under `ulimit -f` a registration that would grow the log past
// the limit killed the process with SIGXFSZ and no message. The command
// line now handles SIGXFSZ, so the write fails with EFBIG, which the store
// reports and which exits with status 1; the store stays usable.
#[cfg(unix)]
#[test]
fn a_file_size_limit_is_reported_not_a_silent_death() {
    let data = tempfile::tempdir().unwrap();
    let log_bytes = || -> u64 {
        std::fs::read_dir(data.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .map(|path| std::fs::metadata(path).unwrap().len())
            .sum()
    };
    // `ulimit -f 1` is 512 bytes in a POSIX shell and 1024 in bash outside
    // POSIX mode: a log of 1 KiB or more is past the limit either way, so
    // the next append fails while opening the store writes nothing.
    while log_bytes() < 1024 {
        let course = coursebooking(data.path(), &["register-course", "Filler", "--places", "1"]);
        assert!(course.status.success(), "{}", stderr(&course));
    }
    let limited = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -f 1 && exec "$0" --data "$1" register-course Maths --places 1"#,
            env!("CARGO_BIN_EXE_coursebooking"),
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(
        limited.status.code(),
        Some(3),
        "{:?}: {}",
        limited.status,
        stderr(&limited)
    );
    assert!(
        stderr(&limited).contains("File too large"),
        "{}",
        stderr(&limited)
    );
    let after = coursebooking(data.path(), &["register-course", "Maths", "--places", "1"]);
    assert!(after.status.success(), "{}", stderr(&after));
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
                .stderr(Stdio::piped())
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
    assert!(text.contains("Every step went as docs/spec.md §3 says."));
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

/// A damaged last record is cut off when a command opens the store, and
/// the command says so on stderr — what was cut, and where the bytes are
/// kept — instead of cutting in silence. (The store is closed cleanly, so
/// its index holds every event and an open would not read the log: the
/// index is deleted, as for a store written before it existed, so that
/// the open reads the whole log, as it does the tail after a crash.)
#[test]
fn a_damaged_end_of_the_log_is_reported_and_kept() {
    let data = tempfile::tempdir().unwrap();
    for name in ["Maths", "French"] {
        let made = coursebooking(data.path(), &["register-course", name, "--places", "1"]);
        assert!(made.status.success(), "{}", stderr(&made));
    }
    let segment = data.path().join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    std::fs::remove_dir_all(data.path().join("index")).unwrap();

    let made = coursebooking(
        data.path(),
        &["register-course", "Biology", "--places", "1"],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let warning = stderr(&made);
    let kept = data.path().join("damaged");
    assert!(
        warning.starts_with("warning: cut ")
            && warning.contains("checksum")
            && warning.contains(&kept.display().to_string()),
        "{warning}"
    );
    assert_eq!(
        std::fs::read_dir(&kept).unwrap().count(),
        1,
        "the cut bytes are kept"
    );
}

/// `--data` naming a file is a bad argument (exit status 2), said plainly.
#[test]
fn data_that_is_a_file_is_a_bad_argument() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("school");
    std::fs::write(&file, "").unwrap();
    let made = coursebooking(&file, &["register-course", "Maths", "--places", "1"]);
    assert_eq!(made.status.code(), Some(2), "{}", stderr(&made));
    assert!(
        stderr(&made).contains("is not a directory"),
        "{}",
        stderr(&made)
    );
}

/// `fill` appends the events asked for, stamped with its command, and the
/// students and courses it prints have room: a later `join` of one to the
/// other is accepted and listed.
#[test]
fn filled_students_join_filled_courses() {
    let data = tempfile::tempdir().unwrap();
    // Three appends, the last one short and cut inside a group.
    let filled = coursebooking(data.path(), &["fill", "--events", "2500"]);
    assert!(filled.status.success(), "{}", stderr(&filled));
    let printed = stdout(&filled);
    assert!(printed.starts_with("appended 2500 events"), "{printed}");
    let ids = |kind: &str| -> Vec<String> {
        printed
            .lines()
            .filter_map(|line| line.strip_prefix(kind))
            .map(str::to_owned)
            .collect()
    };
    let (students, courses) = (ids("student "), ids("course "));
    assert_eq!((students.len(), courses.len()), (10, 10), "{printed}");

    let events = stored_events(data.path());
    assert_eq!(events.len(), 2500);
    assert!(
        events
            .iter()
            .all(|e| e.metadata().get("command") == Some("fill"))
    );

    for (student, course) in students.iter().zip(&courses) {
        let joined = coursebooking(data.path(), &["join", student, course]);
        assert!(joined.status.success(), "{}", stderr(&joined));
    }
    let listed = stdout(&coursebooking(data.path(), &["students", &courses[0]]));
    assert_eq!(listed.lines().count(), 11, "its group's 10 and the new one");
    assert_eq!(listed.lines().last(), Some("Student 0"));
}
