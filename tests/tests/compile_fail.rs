//! The macros' compile-time checks: every file in `ui/` is one misuse that
//! must fail to compile with the error committed beside it (`.stderr`), and
//! every file in `ui-pass/` must compile and run.
//!
//! When rustc's wording changes (or a macro's diagnostics do), regenerate the
//! expected output with `TRYBUILD=overwrite cargo test -p dcb-tests --test
//! compile_fail` and review the diff: each error must point at the offending
//! token and say what to do.

#[test]
fn ui() {
    if std::env::var_os("TRYBUILD").is_none() {
        // The harness captures this and shows it only if the test fails.
        eprintln!(
            "if a .stderr differs only in rustc's wording, regenerate them with \
             `TRYBUILD=overwrite cargo test -p dcb-tests --test compile_fail` \
             and review the diff"
        );
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui-pass/*.rs");
}
