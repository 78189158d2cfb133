//! Helpers shared by the modules of this test binary.

use std::io::Write;
use std::process::Output;

/// A command's standard error, trimmed.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

/// The PostgreSQL server of the tests: `DCB_POSTGRES_URL`, by default
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("DCB_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Fails the running test when the PostgreSQL server is required
/// (`DCB_REQUIRE_POSTGRES=1`, as `.ci/run` sets); otherwise reports it as
/// skipped for `reason`, which the test then returns on. The report is
/// one line, `dcb: skipped <test> (<reason>)`, written straight to stderr
/// past the harness's output capture (so every run shows it, and `.ci/run`
/// refuses it). The test is named by its thread, which the harness names
/// after it. The same rule as the PostgreSQL tests of
/// `dcb-tests` (`tests/tests/postgres_support`).
pub fn skip(reason: &str) {
    assert!(
        std::env::var("DCB_REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "{reason}, and DCB_REQUIRE_POSTGRES=1"
    );
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_owned();
    let _ = std::io::stderr().write_all(format!("dcb: skipped {test} ({reason})\n").as_bytes());
}
