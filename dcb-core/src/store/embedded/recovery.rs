//! [`Recovery`]: what opening the store found and repaired.

use std::path::PathBuf;

#[cfg(doc)]
use super::OpenError;

/// What opening the store found and repaired.
///
/// ```
/// use dcb_core::embedded::EmbeddedStore;
///
/// # let dir = tempfile::tempdir()?;
/// let store = EmbeddedStore::open(dir.path())?;
/// if let Some(cut) = &store.recovery().truncated {
///     eprintln!("warning: {cut}"); // tell the operator what was cut, and where it was kept
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The number of events in the store.
    pub events: u64,
    /// The number of segment files.
    pub segments: usize,
    /// The events read from the log by this open: those after the index's
    /// reach (none after a clean close; at most about one
    /// [index interval](super::EmbeddedOptions::index_interval) of log
    /// after a crash; all of them when the index is rebuilt). The others
    /// are served from the index.
    pub replayed: u64,
    /// The damaged end of the log that opening cut off, if any. Zeros
    /// after the last record hold nothing — a writer writes them ahead of
    /// its records, and a crash leaves them — so they are cut without a
    /// report.
    pub truncated: Option<Truncation>,
    /// For a [read-only](super::EmbeddedStore::open_read_only) open, which changes
    /// no file: a damaged end of the log it left in place and did not read.
    /// A writer may be in the middle of writing it; if not, the next
    /// writable open cuts it off and keeps it.
    pub skipped: Option<Truncation>,
    /// An index that could not be opened, moved into the store's
    /// `damaged/` folder before the index was rebuilt from the log. The
    /// log is the source of truth, so no event was lost; the folder is
    /// kept only because the store does not delete what it cannot read,
    /// and may be deleted.
    pub index_set_aside: Option<PathBuf>,
}

impl Recovery {
    /// The damaged ends the open cut off or left unread: what an operator
    /// should be told of (each displays as one line).
    pub fn damage(&self) -> impl Iterator<Item = &Truncation> {
        self.truncated.iter().chain(&self.skipped)
    }
}

/// A damaged end of the log, cut off when the store was opened.
///
/// Where a write can tear — at the very end of the last segment — a
/// damaged record is most likely an append that never completed, and such
/// an append was never acknowledged: an append is acknowledged only once
/// it is durable. But a bit flipped in the last record looks the same, so
/// the bytes cut are kept in [`kept`](Self::kept) (unless they were all
/// zeros): if the last append was acknowledged, it can be recovered from
/// there. Damage anywhere else is refused as [`OpenError::Corrupt`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// The segment file cut.
    pub file: PathBuf,
    /// The offset its valid data ends at, and where it was cut.
    pub offset: u64,
    /// The number of bytes cut.
    pub bytes: u64,
    /// What was wrong with them.
    pub reason: String,
    /// The file holding the bytes cut (in the store's `damaged/` folder),
    /// or `None` when there was nothing to keep: zeros, or a segment whose
    /// creation was cut short.
    pub kept: Option<PathBuf>,
    /// Whether the bytes were left in the file ([`Recovery::skipped`]).
    left_in_place: bool,
}

impl Truncation {
    /// A damaged end that opening cut off.
    pub(super) fn cut(
        file: PathBuf,
        offset: u64,
        bytes: u64,
        reason: &str,
        kept: Option<PathBuf>,
    ) -> Truncation {
        Truncation {
            file,
            offset,
            bytes,
            reason: reason.to_owned(),
            kept,
            left_in_place: false,
        }
    }

    /// A damaged end that a read-only open left in place.
    pub(super) fn left_in_place(
        file: PathBuf,
        offset: u64,
        bytes: u64,
        reason: &str,
    ) -> Truncation {
        Truncation {
            left_in_place: true,
            ..Truncation::cut(file, offset, bytes, reason, None)
        }
    }
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.left_in_place {
            return write!(
                f,
                "did not read the last {} bytes of {} from byte {} ({}): a writer may be in the \
                 middle of writing them; if none is, the next writable open cuts them off and \
                 keeps them",
                self.bytes,
                self.file.display(),
                self.offset,
                self.reason
            );
        }
        write!(
            f,
            "cut {} bytes off the end of {} at byte {} ({}), most likely a write that was never \
             acknowledged",
            self.bytes,
            self.file.display(),
            self.offset,
            self.reason
        )?;
        match &self.kept {
            Some(kept) => write!(f, "; the bytes cut are kept in {}", kept.display()),
            None => write!(f, "; they held no data"),
        }
    }
}
