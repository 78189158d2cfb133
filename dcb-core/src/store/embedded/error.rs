//! [`OpenError`]: why a store could not be opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::budget;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process has the store open and did not close it in time.
    #[error(
        "the store in {} is in use by another process (waited {waited:?}); \
         close it or raise the lock timeout",
        dir.display()
    )]
    Locked {
        /// The store's directory.
        dir: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The log is damaged before its end: acknowledged data is unreadable.
    #[error(
        "the store's log is damaged in {} at byte {offset}: {reason}; \
         restore the file from a backup (the log was not changed)",
        file.display()
    )]
    Corrupt {
        /// The damaged segment file.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment the store's manifest records is missing: the log would
    /// open shorter than it is.
    #[error(
        "the segment {} is missing, although the store's manifest says the log continues \
         there; restore it from a backup (the log was not changed)",
        file.display()
    )]
    MissingSegment {
        /// The missing segment file.
        file: PathBuf,
    },
    /// The store's index would not fit in the memory at hand.
    #[error(
        "opening the store in {} needs about {} of memory for its index, over {} \
         available under {limited_by}; free memory or raise that limit",
        dir.display(),
        budget::mib(*needed),
        budget::mib(*available)
    )]
    OutOfMemory {
        /// The store's directory.
        dir: PathBuf,
        /// The memory the open would take, estimated.
        needed: u64,
        /// The memory at hand.
        available: u64,
        /// What limits it.
        limited_by: &'static str,
    },
    /// The path given is not a directory.
    #[error("{} is not a directory; give the directory that holds (or will hold) the store", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file in the directory is not a file of a dcb store: a segment
    /// of no format this version reads, or a `MANIFEST` in a directory
    /// that holds no segment.
    #[error(
        "{} is not a file of a dcb store; is this the right directory? (a new store needs a \
         directory that is empty or holds no file named like the store's)",
        file.display()
    )]
    NotAStore {
        /// The file.
        file: PathBuf,
    },
    /// The path given is empty.
    #[error("the store's path is empty; give the directory that holds (or will hold) the store")]
    EmptyPath,
    /// The directory holds an `index/` folder the store did not make: the
    /// store keeps its index there, and would write among those files and
    /// set them aside with the index should it ever be rebuilt.
    #[error(
        "{} holds {}, which is not a file of a dcb index: the store keeps its index in \
         that folder; move it elsewhere, or open the store in a directory of its own",
        folder.display(),
        entry.display()
    )]
    ForeignIndex {
        /// The `index/` folder.
        folder: PathBuf,
        /// A file or folder in it that the store did not make.
        entry: PathBuf,
    },
    /// A read-only open found no store to read.
    #[error("there is no dcb store in {}: {reason}", dir.display())]
    NoStore {
        /// The directory given.
        dir: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The index does not match the log: it reaches a point the log does
    /// not have (the log was restored from an older backup, say). Opening
    /// rebuilds such an index from the log, so this is seen only where it
    /// cannot.
    #[error(
        "the index in {} does not match the store's log: {reason}; \
         delete the index/ directory there and it is rebuilt from the log on open",
        dir.display()
    )]
    IndexMismatch {
        /// The store's directory.
        dir: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The index could not be opened, read or written.
    #[error(
        "the index in {} failed: {message}; if it persists, delete the index/ directory \
         there and it is rebuilt from the log on open",
        dir.display()
    )]
    Index {
        /// The store's directory.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
    /// An I/O error on a file of the store.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl OpenError {
    pub(super) fn io(path: &Path, source: std::io::Error) -> OpenError {
        OpenError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
