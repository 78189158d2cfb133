//! The macros' compile-time checks: every file in `ui/` is one misuse that
//! must fail to compile with the error committed beside it (`.stderr`), and
//! every file in `ui-pass/` must compile and run.
//!
//! After changing a macro's diagnostics, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p dcb-tests --test compile_fail` and
//! review the diff: each error must point at the offending token and say
//! what to do.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui-pass/*.rs");
}
