//! Expansion snapshots: each test expands a fixture through a macro's
//! internal function, pretty-prints the result and compares it with the
//! committed file `tests/snapshots/<test name>.rs`.
//!
//! After a change to a macro, regenerate the files with
//! `DCB_SNAPSHOTS=overwrite cargo test -p dcb-macros` and review them in the
//! diff: they are what users see with `cargo expand`.

mod decision;
mod event;
mod id;
mod into_events;
mod read_model;
mod versioning;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

use proc_macro2::TokenStream;

/// The variable that switches from comparing to rewriting snapshots.
const MODE_VAR: &str = "DCB_SNAPSHOTS";

/// How to regenerate the snapshots, for the files and the failure message.
const REGENERATE: &str = "DCB_SNAPSHOTS=overwrite cargo test -p dcb-macros";

/// Lines of unchanged text shown around each change in a failure's diff.
const CONTEXT: usize = 3;

/// Compares the expansion of `input` by `macro_name` with the snapshot
/// `name`, or rewrites the snapshot when `DCB_SNAPSHOTS=overwrite`.
#[track_caller]
fn assert_snapshot(name: &str, macro_name: &str, input: &TokenStream, expansion: TokenStream) {
    let actual = render(name, macro_name, input, expansion);
    let path = snapshot_path(name);
    match env::var(MODE_VAR).as_deref() {
        Ok("overwrite") => {
            fs::create_dir_all(path.parent().expect("a snapshot has a directory"))
                .and_then(|()| fs::write(&path, &actual))
                .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
            return;
        }
        Ok(other) => panic!("{MODE_VAR}={other:?}: the only mode is `overwrite`"),
        Err(_) => {}
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read the snapshot {}: {err}; create it with `{REGENERATE}`",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "the expansion of `{name}` differs from {} (- snapshot, + expansion):\n{}\n\
         If the change is intended, regenerate with `{REGENERATE}` and review the diff.",
        path.display(),
        render_diff(&expected, &actual),
    );
}

fn snapshot_path(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "snapshots",
        &format!("{name}.rs"),
    ]
    .iter()
    .collect()
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

/// One line of a line diff.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The shortest line diff from `old` to `new` (longest common subsequence).
fn diff_lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // common[i][j]: the length of the longest common subsequence of
    // old[i..] and new[j..].
    let mut common = vec![vec![0_usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut lines = Vec::with_capacity(old.len().max(new.len()));
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push(Line::Same(old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(Line::Removed(old[i]));
            i += 1;
        } else {
            lines.push(Line::Added(new[j]));
            j += 1;
        }
    }
    lines
}

/// The changes from `old` to `new` with a few lines of context each, the
/// way a reviewer reads them.
fn render_diff(old: &str, new: &str) -> String {
    let lines = diff_lines(old, new);
    let changed: Vec<usize> = (0..lines.len())
        .filter(|&k| !matches!(lines[k], Line::Same(_)))
        .collect();
    if changed.is_empty() {
        return "(the lines are equal: the texts differ in line endings or the final newline)"
            .to_owned();
    }
    let near_change = |k: usize| {
        changed
            .iter()
            .any(|&c| c.saturating_sub(CONTEXT) <= k && k <= c + CONTEXT)
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, line) in lines.iter().enumerate() {
        if !near_change(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("   ...\n");
            skipped = false;
        }
        let _ = match line {
            Line::Same(text) => writeln!(out, "   {text}"),
            Line::Removed(text) => writeln!(out, " - {text}"),
            Line::Added(text) => writeln!(out, " + {text}"),
        };
    }
    out
}

#[test]
fn diff_shows_changed_lines_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
    let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
    assert_eq!(
        diff_lines("x\ny\n", "x\nz\n"),
        [Line::Same("x"), Line::Removed("y"), Line::Added("z")]
    );
    assert_eq!(
        render_diff(old, new),
        "   ...\n   b\n   c\n   d\n - e\n + E\n   f\n   g\n   h\n   i\n + j\n"
    );
    assert!(render_diff("a\n", "a").contains("final newline"));
}
