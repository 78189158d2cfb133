//! One process at a time: an exclusive lock on the directory's `LOCK` file.
//!
//! An advisory lock protects the store only while the locked file is the
//! one at the path: if `LOCK` is deleted or replaced, a second process can
//! lock the new file and write. So [`acquire`] checks, after locking, that
//! the path still names the locked file (and starts over if not), and the
//! writer asks [`Lock::check`] before every batch, stopping when the file
//! is gone.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::OpenError;

/// The held lock: released when dropped, or by the operating system if the
/// process dies.
pub(super) struct Lock {
    /// Holds the lock while open.
    _file: File,
    path: PathBuf,
    /// The locked file's device and inode.
    identity: (u64, u64),
}

impl Lock {
    /// Whether `LOCK` at the path is still the locked file; if not, why,
    /// in words for the error an append returns.
    pub(super) fn check(&self) -> Result<(), String> {
        match std::fs::metadata(&self.path) {
            Ok(found) if identity(&found) == self.identity => Ok(()),
            Ok(_) => Err(format!(
                "the lock file {} was replaced while the store was open, so another process \
                 may be writing to it",
                self.path.display()
            )),
            Err(err) => Err(format!(
                "the lock file {} is gone ({err}) while the store was open, so another process \
                 may be writing to it",
                self.path.display()
            )),
        }
    }
}

fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    (metadata.dev(), metadata.ino())
}

/// Takes the store's lock, waiting up to `timeout` for another process to
/// release it.
pub(super) fn acquire(dir: &Path, timeout: Duration) -> Result<Lock, OpenError> {
    let path = dir.join("LOCK");
    let start = Instant::now();
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| OpenError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                let held = identity(&file.metadata().map_err(|e| OpenError::io(&path, e))?);
                let lock = Lock {
                    _file: file,
                    path: path.clone(),
                    identity: held,
                };
                // The file may have been deleted (and made anew) between
                // opening and locking it: a lock on it protects nothing.
                if lock.check().is_ok() {
                    return Ok(lock);
                }
            }
            Err(TryLockError::WouldBlock) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    dir: dir.to_owned(),
                    waited: start.elapsed(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(OpenError::io(&path, e)),
        }
    }
}
