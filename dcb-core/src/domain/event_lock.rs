//! The lock of stored event names: a committed file that lists the stored
//! name and version of every registered event type, and a test that checks
//! the [registry](crate::registry) against it.
//!
//! A stored event is found again by its type's name. Renaming a
//! `#[derive(Event)]` struct renames its stored type too (unless
//! `#[event(name = "…")]` pins it), and every event stored under the old
//! name silently stops decoding. The lock makes that a failing test: one
//! line in a test of the crate that defines the events,
//!
//! ```no_run
//! #[test]
//! fn stored_event_names_are_locked() {
//!     dcb_core::assert_event_lock!(); // checks `events.lock` beside Cargo.toml
//! }
//! ```
//!
//! fails when a locked name is no longer registered, or its version
//! changed, and says how to pin the old name. The file is plain text, one
//! line per event type, sorted by name, so a change shows in review:
//!
//! ```text
//! # The stored event types of this crate and their versions; see dcb_core::event_lock.
//! # Regenerate with `DCB_EVENT_LOCK=overwrite cargo test` and review the diff.
//! CourseRegistered 1
//! StudentJoinedCourse 2
//! ```
//!
//! Blank lines and lines starting with `#` are comments. A name that could
//! be misread (one starting with `#`, `"` or white space, or ending with
//! white space) is written as a JSON string.
//!
//! Run the test with `DCB_EVENT_LOCK=overwrite` to write the lock from the
//! registry: the first time, when an event type is added, when a version is
//! raised (with its upcaster), and when a type is removed on purpose
//! because no store holds its events any more. A *new* type fails the
//! check until the lock is rewritten, although adding a name is harmless:
//! the check never writes files unless told to, so a run in CI checks the
//! lock as committed, and a new stored name enters the lock in the commit
//! that introduces it, where a reviewer sees it.
//!
//! The lock covers every event type registered in the test binary, that is
//! every `#[derive(Event)]` type linked into it: put the test in a test
//! binary that defines no event types of its own (or they are locked too).
//! The check runs [`registry::validate`](crate::registry::validate) first,
//! so two types claiming one name, or a missing upcaster, fail it as well.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::{fs, io};

use crate::EventType;
use crate::domain::registry::{self, RegistryError};

/// The environment variable that switches the check to rewriting the lock:
/// `DCB_EVENT_LOCK=overwrite`.
pub const MODE_VAR: &str = "DCB_EVENT_LOCK";

/// The lock's file name that [`assert_event_lock!`](crate::assert_event_lock)
/// uses when given none, beside the crate's `Cargo.toml`.
pub const DEFAULT_FILE: &str = "events.lock";

/// How to regenerate a lock, as failures say it.
const REGENERATE: &str = "DCB_EVENT_LOCK=overwrite cargo test";

/// The stored name and version of each event type, as a lock file lists
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventLock {
    versions: BTreeMap<String, u32>,
}

impl EventLock {
    /// The lock of the event types registered in this binary.
    ///
    /// Fails if the registry is inconsistent ([`registry::validate`]).
    pub fn registered() -> Result<EventLock, RegistryError> {
        registry::validate()?;
        Ok(registry::registrations()
            .map(|r| (r.event_type, r.version))
            .collect())
    }

    /// Reads a lock from the text of a lock file.
    pub fn parse(text: &str) -> Result<EventLock, ParseError> {
        let mut versions = BTreeMap::new();
        let mut first_line = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |problem: String| ParseError {
                line: number,
                problem,
            };
            let (name, version) = split_entry(line).map_err(fail)?;
            if let Err(err) = EventType::new(name.as_str()) {
                return Err(fail(err.to_string()));
            }
            if let Some(first) = first_line.insert(name.clone(), number) {
                return Err(fail(format!(
                    "{name:?} is locked twice, first on line {first}; keep one line"
                )));
            }
            versions.insert(name, version);
        }
        Ok(EventLock { versions })
    }

    /// The locked version of `event_type`, if it is locked.
    #[must_use]
    pub fn version(&self, event_type: &str) -> Option<u32> {
        self.versions.get(event_type).copied()
    }

    /// Every locked stored name with its version, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.versions.iter().map(|(name, v)| (name.as_str(), *v))
    }

    /// How `registered` differs from this lock; empty when they agree.
    #[must_use]
    pub fn drift(&self, registered: &EventLock) -> Drift {
        let mut drift = Drift::default();
        for (name, &locked) in &self.versions {
            match registered.versions.get(name) {
                None => drift.missing.push((name.clone(), locked)),
                Some(&now) if now != locked => drift.changed.push(Changed {
                    event_type: name.clone(),
                    locked,
                    registered: now,
                }),
                Some(_) => {}
            }
        }
        for (name, &version) in &registered.versions {
            if !self.versions.contains_key(name) {
                drift.added.push((name.clone(), version));
            }
        }
        drift
    }
}

impl<S: Into<String>> FromIterator<(S, u32)> for EventLock {
    fn from_iter<I: IntoIterator<Item = (S, u32)>>(iter: I) -> EventLock {
        EventLock {
            versions: iter.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        }
    }
}

/// The text of the lock file: a header, then one line per event type,
/// sorted by name.
impl fmt::Display for EventLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# The stored event types of this crate and their versions; see dcb_core::event_lock."
        )?;
        writeln!(f, "# Regenerate with `{REGENERATE}` and review the diff.")?;
        for (name, version) in self.iter() {
            writeln!(f, "{} {version}", quoted_if_needed(name))?;
        }
        Ok(())
    }
}

/// `name` as a lock line writes it: as it is, or as a JSON string if a
/// reader could take it for a comment or miss white space at its ends.
fn quoted_if_needed(name: &str) -> String {
    let misread = name.starts_with(['#', '"'])
        || name.starts_with(char::is_whitespace)
        || name.ends_with(char::is_whitespace);
    if misread {
        serde_json::Value::from(name).to_string()
    } else {
        name.to_owned()
    }
}

/// The name and version of one entry line.
fn split_entry(line: &str) -> Result<(String, u32), String> {
    let (name, version) = if line.starts_with('"') {
        let mut strings = serde_json::Deserializer::from_str(line).into_iter::<String>();
        let Some(Ok(name)) = strings.next() else {
            return Err(format!("{line:?} starts with `\"` but no JSON string"));
        };
        match line[strings.byte_offset()..].strip_prefix(' ') {
            Some(version) => (name, version),
            None => {
                return Err(format!(
                    "{line:?} has no space between the name and the version"
                ));
            }
        }
    } else if line.starts_with(char::is_whitespace) {
        return Err(format!(
            "{line:?} starts with white space; a name with white space at its ends is \
             written as a JSON string"
        ));
    } else {
        match line.rsplit_once(' ') {
            Some((name, version)) => (name.to_owned(), version),
            None => return Err(format!("{line:?} has no version: write `{line} 1`")),
        }
    };
    match version.parse::<u32>() {
        Ok(v) if v >= 1 => Ok((name, v)),
        _ => Err(format!(
            "the version of {name:?} is {version:?}, not a whole number of 1 or more; \
             a line is `<stored name> <version>`"
        )),
    }
}

/// A lock file line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// A locked event type whose version is not the registered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The stored name.
    pub event_type: String,
    /// The version in the lock.
    pub locked: u32,
    /// The version of the registered type.
    pub registered: u32,
}

/// How the registered event types differ from a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Locked names that no registered type has, with their locked
    /// versions: renamed or removed types.
    pub missing: Vec<(String, u32)>,
    /// Registered names that are not locked, with their versions.
    pub added: Vec<(String, u32)>,
    /// Names whose version changed.
    pub changed: Vec<Changed>,
}

impl Drift {
    /// Whether the registry and the lock agree.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.added.is_empty() && self.changed.is_empty()
    }
}

/// What to do, for each kind of difference.
impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        if !self.missing.is_empty() {
            text.push_str(
                "\nlocked, but no registered event type has the name \
                 (its stored events would no longer decode):",
            );
            for (name, version) in &self.missing {
                let _ = write!(text, "\n  {name} version {version}");
            }
            text.push_str("\n  → if the type was renamed, pin its stored name on it: ");
            match (&self.missing[..], &self.added[..]) {
                ([(old, _)], [(new, version)]) => {
                    let _ = write!(
                        text,
                        "#[event(name = {})] on {}",
                        serde_json::Value::from(old.as_str()),
                        described(new, *version)
                    );
                }
                _ => text.push_str("#[event(name = \"<the old name>\")]"),
            }
            let _ = write!(
                text,
                "\n  → if it was removed on purpose (no store holds events of it), \
                 update the lock: {REGENERATE}"
            );
        }
        if !self.changed.is_empty() {
            text.push_str("\nregistered with another version than locked:");
            for changed in &self.changed {
                let (name, locked, now) = (&changed.event_type, changed.locked, changed.registered);
                if now < locked {
                    let _ = write!(
                        text,
                        "\n  {name}: locked {locked}, registered {now} → a version never goes \
                         down: stored events of version {locked} would not decode; restore \
                         #[event(version = {locked})]"
                    );
                } else {
                    let _ = write!(
                        text,
                        "\n  {name}: locked {locked}, registered {now} → with an upcaster from \
                         each older version, update the lock: {REGENERATE}"
                    );
                }
            }
        }
        if !self.added.is_empty() {
            text.push_str("\nregistered, not yet locked:");
            for (name, version) in &self.added {
                let _ = write!(text, "\n  {}", described(name, *version));
            }
            let _ = write!(
                text,
                "\n  → if the type is new, add it to the lock: {REGENERATE}"
            );
        }
        f.write_str(text.trim_start_matches('\n'))
    }
}

/// A stored name and version with the Rust type registered for it, where
/// there is one.
fn described(event_type: &str, version: u32) -> String {
    match registry::find(event_type) {
        Some(r) => format!(
            "{event_type} version {version} ({}, {})",
            r.rust_type, r.declared_at
        ),
        None => format!("{event_type} version {version}"),
    }
}

/// Whether [`check`] compares the registry with the lock or rewrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fail on any difference; write nothing.
    Check,
    /// Write the lock from the registry.
    Overwrite,
}

impl Mode {
    /// `Overwrite` if [`MODE_VAR`] is `overwrite`, `Check` if it is unset.
    pub fn from_env() -> Result<Mode, LockError> {
        match std::env::var(MODE_VAR) {
            Ok(value) if value == "overwrite" => Ok(Mode::Overwrite),
            Err(std::env::VarError::NotPresent) => Ok(Mode::Check),
            Ok(value) => Err(LockError::Mode { value }),
            Err(std::env::VarError::NotUnicode(value)) => Err(LockError::Mode {
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }
}

/// Checks the event types registered in this binary against the lock file
/// at `path`, or rewrites it from them with [`Mode::Overwrite`].
///
/// [`assert_event_lock!`](crate::assert_event_lock) calls it from a test.
pub fn check(path: impl AsRef<Path>, mode: Mode) -> Result<(), LockError> {
    let registered = EventLock::registered().map_err(LockError::Registry)?;
    check_against(path.as_ref(), mode, &registered)
}

/// [`check`] against a given registration.
fn check_against(path: &Path, mode: Mode, registered: &EventLock) -> Result<(), LockError> {
    let path_buf = || path.to_path_buf();
    if mode == Mode::Overwrite {
        return fs::write(path, registered.to_string()).map_err(|source| LockError::Write {
            path: path_buf(),
            source,
        });
    }
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(LockError::Missing { path: path_buf() });
        }
        Err(source) => {
            return Err(LockError::Read {
                path: path_buf(),
                source,
            });
        }
    };
    let locked = EventLock::parse(&text).map_err(|error| LockError::Malformed {
        path: path_buf(),
        error,
    })?;
    let drift = locked.drift(registered);
    if drift.is_empty() {
        Ok(())
    } else {
        Err(LockError::Drift {
            path: path_buf(),
            drift,
        })
    }
}

/// Why the registered event types do not match their lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The registry is inconsistent: names claimed twice, or missing or
    /// duplicate upcasters.
    #[error("{0}")]
    Registry(RegistryError),
    /// [`MODE_VAR`] holds something other than `overwrite`.
    #[error("{MODE_VAR}={value:?}: the only mode is `overwrite` (unset it to check the lock)")]
    Mode {
        /// The variable's value.
        value: String,
    },
    /// There is no lock file yet.
    #[error("no event lock at {}: create it with `{REGENERATE}` and commit it", path.display())]
    Missing {
        /// Where the lock was looked for.
        path: PathBuf,
    },
    /// The lock file could not be read.
    #[error("cannot read the event lock {}: {source}", path.display())]
    Read {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A line of the lock file is not `<stored name> <version>`.
    #[error(
        "the event lock {} is malformed: {error}; fix the line, or regenerate the lock \
         with `{REGENERATE}`",
        path.display()
    )]
    Malformed {
        /// The lock file.
        path: PathBuf,
        /// Which line, and what is wrong with it.
        error: ParseError,
    },
    /// The registered event types differ from the lock.
    #[error("the registered event types differ from the event lock {}:\n{drift}", path.display())]
    Drift {
        /// The lock file.
        path: PathBuf,
        /// How they differ.
        drift: Drift,
    },
    /// The lock file could not be written.
    #[error("cannot write the event lock {}: {source}", path.display())]
    Write {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Checks the event types registered in the test binary against the lock
/// file, failing the test with what to do on any difference; see
/// [`event_lock`](crate::event_lock).
///
/// The path is relative to the calling crate's directory (its
/// `CARGO_MANIFEST_DIR`) and defaults to [`events.lock`](crate::event_lock::DEFAULT_FILE).
/// With `DCB_EVENT_LOCK=overwrite` it writes the lock instead.
///
/// ```no_run
/// #[test]
/// fn stored_event_names_are_locked() {
///     dcb_core::assert_event_lock!();
/// }
/// ```
#[macro_export]
macro_rules! assert_event_lock {
    () => {
        $crate::assert_event_lock!($crate::event_lock::DEFAULT_FILE)
    };
    ($path:expr $(,)?) => {{
        let path = ::std::path::Path::new(::core::env!("CARGO_MANIFEST_DIR")).join($path);
        if let ::core::result::Result::Err(err) = $crate::event_lock::Mode::from_env()
            .and_then(|mode| $crate::event_lock::check(&path, mode))
        {
            ::core::panic!("{err}");
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(entries: &[(&str, u32)]) -> EventLock {
        entries.iter().map(|&(n, v)| (n, v)).collect()
    }

    #[test]
    fn a_lock_reads_back_what_it_writes() {
        let original = lock(&[
            ("StudentJoinedCourse", 2),
            ("CourseRegistered", 1),
            ("# not a comment", 1),
            ("with space ", 3),
            ("two words", 1),
        ]);
        let text = original.to_string();
        assert_eq!(
            text.lines().skip(2).collect::<Vec<_>>(),
            [
                "\"# not a comment\" 1",
                "CourseRegistered 1",
                "StudentJoinedCourse 2",
                "two words 1",
                "\"with space \" 3",
            ]
        );
        assert_eq!(EventLock::parse(&text), Ok(original));
    }

    #[test]
    fn a_malformed_line_is_named_with_what_is_wrong() {
        let cases = [
            ("A 1\nB\n", 2, "\"B\" has no version: write `B 1`"),
            ("A x\n", 1, "the version of \"A\" is \"x\""),
            ("A 0\n", 1, "the version of \"A\" is \"0\""),
            (
                "# c\nA 1\n\nA 2\n",
                4,
                "\"A\" is locked twice, first on line 2",
            ),
            ("\"A 1\n", 1, "starts with `\"` but no JSON string"),
            ("\"A\"1\n", 1, "no space between the name and the version"),
            ("  A 1\n", 1, "starts with white space"),
        ];
        for (text, line, problem) in cases {
            let err = EventLock::parse(text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.problem.contains(problem), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_rename_is_missing_with_advice_to_pin_the_old_name() {
        let locked = lock(&[("CourseRegistered", 1), ("StudentJoinedCourse", 2)]);
        let registered = lock(&[("CourseCreated", 1), ("StudentJoinedCourse", 2)]);
        let drift = locked.drift(&registered);
        assert_eq!(drift.missing, [("CourseRegistered".to_owned(), 1)]);
        assert_eq!(drift.added, [("CourseCreated".to_owned(), 1)]);
        assert!(drift.changed.is_empty());
        let message = drift.to_string();
        assert!(
            message.contains("#[event(name = \"CourseRegistered\")] on CourseCreated"),
            "{message}"
        );
        assert!(message.contains(REGENERATE), "{message}");
    }

    #[test]
    fn a_changed_version_is_drift_and_a_lower_one_says_so() {
        let locked = lock(&[("A", 2), ("B", 1)]);
        let drift = locked.drift(&lock(&[("A", 1), ("B", 2)]));
        assert_eq!(drift.changed.len(), 2);
        let message = drift.to_string();
        assert!(message.contains("A: locked 2, registered 1 → a version never goes down"));
        assert!(message.contains("B: locked 1, registered 2 → with an upcaster"));
        assert!(locked.drift(&locked.clone()).is_empty());
    }

    #[test]
    fn the_check_fails_on_drift_and_overwrite_writes_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.lock");
        let registered = lock(&[("CourseRegistered", 1)]);
        let missing = check_against(&path, Mode::Check, &registered).unwrap_err();
        assert!(matches!(missing, LockError::Missing { .. }), "{missing}");
        assert!(missing.to_string().contains(REGENERATE), "{missing}");

        check_against(&path, Mode::Overwrite, &registered).unwrap();
        check_against(&path, Mode::Check, &registered).unwrap();

        let renamed = lock(&[("CourseCreated", 1)]);
        let drift = check_against(&path, Mode::Check, &renamed).unwrap_err();
        assert!(matches!(drift, LockError::Drift { .. }), "{drift}");
        assert!(
            drift
                .to_string()
                .contains("#[event(name = \"CourseRegistered\")]"),
            "{drift}"
        );

        fs::write(&path, "CourseRegistered one\n").unwrap();
        let malformed = check_against(&path, Mode::Check, &registered).unwrap_err();
        assert!(
            malformed.to_string().contains("line 1: the version"),
            "{malformed}"
        );
    }
}
