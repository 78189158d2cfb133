//! Expansion snapshots: each test expands a fixture through a macro's
//! internal function, pretty-prints the result and compares it with the
//! committed file `tests/snapshots/<test name>.rs`.
//!
//! After a change to a macro, regenerate the files with
//! `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review them in the diff:
//! they are what users see with `cargo expand`.

mod decision;
mod event;
mod id;
mod into_events;
mod read_model;
mod versioning;

use proc_macro2::TokenStream;

/// How to regenerate the snapshots, for the files' header.
const REGENERATE: &str = "UPDATE_EXPECT=1 cargo test -p dcb-macros";

/// Compares the expansion of `input` by `macro_name` with the snapshot
/// `name`, `tests/snapshots/<name>.rs`, through `expect-test`: a
/// difference fails with a diff, and `UPDATE_EXPECT=1` rewrites the file.
#[track_caller]
fn assert_snapshot(name: &str, macro_name: &str, input: &TokenStream, expansion: TokenStream) {
    let actual = render(name, macro_name, input, expansion);
    expect_test::expect_file![format!("../../tests/snapshots/{name}.rs")].assert_eq(&actual);
}

/// The snapshot file: a header naming the fixture, its input as a comment,
/// then the expansion.
fn render(name: &str, macro_name: &str, input: &TokenStream, expansion: TokenStream) -> String {
    let mut text = format!(
        "// The expansion of {macro_name} on the fixture `{name}` (dcb-macros/src/tests/).\n\
         // Regenerate with `{REGENERATE}` and review the diff.\n\
         //\n"
    );
    for line in pretty(name, input.clone()).lines() {
        text.push_str(if line.is_empty() { "//" } else { "// " });
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&pretty(name, expansion));
    text
}

fn pretty(name: &str, tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens)
        .unwrap_or_else(|err| panic!("the tokens of `{name}` are not a Rust file: {err}"));
    prettyplease::unparse(&file)
}
